"""``relay.yaml`` -> a frozen :class:`RelayConfig`, with ``file:line`` problems.

The sharing policy (who may receive what) lives in the policy file; this file holds the
technical side: the agency's signing key, listeners, TLS material, the store, and per partner
the relay URL, the pinned TLS client certificate fingerprints and the pinned signing keys.
Relative paths are resolved against the directory of ``relay.yaml``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from relay.core.policy.load import ORI_PATTERN
from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml
from relay.errors import ConfigLoadError

__all__ = [
    "AdminConfig",
    "AuditConfig",
    "ConfigLoadError",
    "FederationConfig",
    "LoggingConfig",
    "PartnerLink",
    "PinnedKeyConfig",
    "RelayConfig",
    "load_config",
    "read_config",
]

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_KID: Final = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}#[A-Za-z0-9._-]{1,64}$")
_B64URL: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class PinnedKeyConfig:
    kid: str
    public_key: str  # base64url, 32 bytes
    not_before: dt.datetime
    not_after: dt.datetime
    revoked: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerLink:
    ori: str
    url: str
    tls_sha256: frozenset[str]  # pinned client/server certificate fingerprints (hex)
    keys: tuple[PinnedKeyConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FederationConfig:
    host: str
    port: int
    tls_cert: Path
    tls_key: Path
    tls_ca: Path
    hop_limit: int
    clock_skew: dt.timedelta
    max_body_bytes: int
    read_timeout: float
    rate_per_second: float
    rate_burst: int
    envelope_ttl: dt.timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfig:
    """The durable queues (``delivery:``): retries, dead letters, leases, shutdown."""

    max_age: dt.timedelta = dt.timedelta(hours=24)
    retry_base: float = 0.5
    retry_cap: float = 300.0
    lease: float = 30.0
    batch: int = 64
    poll: float = 1.0
    stop_timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminConfig:
    """The admin listener (``admin:``): ``/metrics``, ``/healthz``, ``/readyz``, ``/status``.
    Plain HTTP, separate from the federation and Slack listeners: bind it to loopback or a
    management network only."""

    host: str = "127.0.0.1"
    port: int = 9469


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditConfig:
    """The dissemination ledger (``audit:``)."""

    retention_days: int = 365  # never less: CJIS AU-11 and 28 CFR 23 keep a year at least
    checkpoint_interval: float = 300.0  # seconds between signed checkpoints sent to partners
    # This agency's earlier signing keys (public keys only, ``kid`` ``OURORI#...``), each with
    # the window it signed in: ``relay audit verify`` checks the checkpoints signed before a
    # rotation against them.
    previous_keys: tuple[PinnedKeyConfig, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    """Logs (``logging:``): ``json`` for production, ``console`` for a terminal, ``auto``
    picks ``console`` when stderr is a terminal."""

    format: str = "auto"
    level: str = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    """Where a secret comes from: an environment variable or a file, never the YAML."""

    env: str | None = None
    file: Path | None = None

    def read(self) -> str | None:
        if self.env:
            value = os.environ.get(self.env)
            return value.strip() if value else None
        if self.file:
            try:
                return self.file.read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackConfig:
    team_id: str
    mode: str  # "events" (HTTP) or "socket"
    api_url: str
    bot_token: Secret
    signing_secret: Secret
    app_token: Secret
    host: str
    port: int
    channels: dict[str, str]  # channel id -> topic
    icon_url: str | None
    pacing: bool = True  # false: no client-side pacing (an emulator without rate limits)
    catch_up_seconds: float = 60.0  # look for events Slack gave up delivering this often


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayConfig:
    source: str
    agency: str
    policy: Path
    signing_key: Path
    signing_kid: str
    store: str
    federation: FederationConfig
    partners: dict[str, PartnerLink]
    slack: SlackConfig | None = None
    delivery: DeliveryConfig = DeliveryConfig()
    admin: AdminConfig | None = None  # no ``admin:`` section: no admin listener
    audit: AuditConfig = AuditConfig()
    logging: LoggingConfig = LoggingConfig()


def _mapping(
    loc: Loc | None, what: str, allowed: set[str], problems: Problems, line: int
) -> dict[str, Loc]:
    if loc is None:
        problems.add(line, f"missing '{what}'")
        return {}
    if not isinstance(loc.value, dict):
        problems.add(loc.line, f"'{what}' must be a mapping")
        return {}
    for key, value in loc.value.items():
        if key not in allowed:
            problems.add(value.line, f"unknown key '{key}' in {what}")
    return loc.value


def _value(
    m: dict[str, Loc],
    key: str,
    kind: type | tuple[type, ...],
    problems: Problems,
    line: int,
    default: Any = None,
) -> Any:
    loc = m.get(key)
    if loc is None or loc.value is None:
        if default is None:
            problems.add(line, f"missing key '{key}'")
        return default
    if isinstance(loc.value, bool) and kind is not bool:
        problems.add(loc.line, f"'{key}' has the wrong type")
        return default
    if not isinstance(loc.value, kind):
        problems.add(loc.line, f"'{key}' has the wrong type")
        return default
    return loc.value


def _time(value: Any, loc: Loc | None, problems: Problems, key: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    problems.add(loc.line if loc else 1, f"'{key}' must be an RFC 3339 time")
    return dt.datetime.min.replace(tzinfo=dt.UTC)


def _key(loc: Loc, problems: Problems) -> PinnedKeyConfig | None:
    m = _mapping(
        loc, "key", {"kid", "public_key", "not_before", "not_after", "revoked"}, problems, loc.line
    )
    kid = _value(m, "kid", str, problems, loc.line, "")
    if kid and not _KID.match(kid):
        problems.add(m["kid"].line, "kid must look like ORI#suffix (e.g. CT9990100#2026-k1)")
    x = _value(m, "public_key", str, problems, loc.line, "")
    if x and not _B64URL.match(x):
        problems.add(
            m["public_key"].line,
            "public_key must be the 43-character base64url 'x' of an Ed25519 JWK",
        )
    nb = _time(
        _value(m, "not_before", (str, dt.date), problems, loc.line, ""),
        m.get("not_before"),
        problems,
        "not_before",
    )
    na = _time(
        _value(m, "not_after", (str, dt.date), problems, loc.line, ""),
        m.get("not_after"),
        problems,
        "not_after",
    )
    if nb >= na:
        problems.add(loc.line, "not_before must be before not_after")
    if not kid or not x:
        return None
    return PinnedKeyConfig(
        kid=kid,
        public_key=x,
        not_before=nb,
        not_after=na,
        revoked=bool(_value(m, "revoked", bool, problems, loc.line, False)),
    )


def _partner(loc: Loc, problems: Problems) -> PartnerLink | None:
    m = _mapping(loc, "partner", {"ori", "url", "tls_sha256", "keys"}, problems, loc.line)
    ori = _value(m, "ori", str, problems, loc.line, "")
    if ori and not ORI_PATTERN.match(ori):
        problems.add(m["ori"].line, "partner ori must match ^[A-Z]{2}[A-Z0-9]{7}$")
    url = _value(m, "url", str, problems, loc.line, "")
    if url and not url.startswith("https://"):
        problems.add(m["url"].line, "partner url must be https:// (relays talk TLS only)")
    pins: set[str] = set()
    pins_loc = m.get("tls_sha256")
    for item in pins_loc.value if pins_loc and isinstance(pins_loc.value, list) else []:
        value = str(item.value).lower().replace(":", "")
        if not _HEX64.match(value):
            problems.add(item.line, "tls_sha256 entries are SHA-256 fingerprints (64 hex)")
        pins.add(value)
    if not pins:
        problems.add(
            pins_loc.line if pins_loc else loc.line,
            "partner needs at least one pinned tls_sha256 certificate fingerprint",
        )
    keys_loc = m.get("keys")
    keys = [
        k
        for k in (
            _key(item, problems)
            for item in (keys_loc.value if keys_loc and isinstance(keys_loc.value, list) else [])
        )
        if k
    ]
    if not keys:
        problems.add(
            keys_loc.line if keys_loc else loc.line,
            "partner needs at least one pinned signing key",
        )
    for key in keys:
        if ori and not key.kid.startswith(f"{ori}#"):
            problems.add(loc.line, f"key {key.kid} is not a key of {ori}")
    if not ori:
        return None
    return PartnerLink(ori=ori, url=url, tls_sha256=frozenset(pins), keys=tuple(keys))


_FEDERATION_KEYS: Final = {
    "listen",
    "tls",
    "hop_limit",
    "clock_skew_seconds",
    "max_body_bytes",
    "read_timeout_seconds",
    "rate_limit",
    "envelope_ttl_days",
}


def _federation(loc: Loc | None, base: Path, problems: Problems, line: int) -> FederationConfig:
    m = _mapping(loc, "federation", _FEDERATION_KEYS, problems, line)
    fline = loc.line if loc else line
    listen = _mapping(m.get("listen"), "listen", {"host", "port"}, problems, fline)
    tls = _mapping(m.get("tls"), "tls", {"cert", "key", "ca"}, problems, fline)
    rate = _mapping(
        m.get("rate_limit") or Loc({}, fline),
        "rate_limit",
        {"per_second", "burst"},
        problems,
        fline,
    )
    port = _value(listen, "port", int, problems, fline, 8443)
    if not 0 <= port <= 65535:
        problems.add(listen["port"].line, "port must be 0-65535")
    return FederationConfig(
        host=_value(listen, "host", str, problems, fline, "127.0.0.1"),
        port=port,
        tls_cert=base / _value(tls, "cert", str, problems, fline, ""),
        tls_key=base / _value(tls, "key", str, problems, fline, ""),
        tls_ca=base / _value(tls, "ca", str, problems, fline, ""),
        hop_limit=_value(m, "hop_limit", int, problems, fline, 4),
        clock_skew=dt.timedelta(
            seconds=_value(m, "clock_skew_seconds", int, problems, fline, 120)
        ),
        max_body_bytes=_value(m, "max_body_bytes", int, problems, fline, 1 << 20),
        read_timeout=float(_value(m, "read_timeout_seconds", (int, float), problems, fline, 10)),
        rate_per_second=float(_value(rate, "per_second", (int, float), problems, fline, 20)),
        rate_burst=_value(rate, "burst", int, problems, fline, 100),
        envelope_ttl=dt.timedelta(days=_value(m, "envelope_ttl_days", int, problems, fline, 30)),
    )


_DELIVERY_KEYS: Final = {
    "max_age_hours",
    "retry_base_seconds",
    "retry_cap_seconds",
    "lease_seconds",
    "batch",
    "poll_seconds",
    "stop_timeout_seconds",
}


def _delivery(loc: Loc | None, problems: Problems, line: int) -> DeliveryConfig:
    if loc is None:
        return DeliveryConfig()
    m = _mapping(loc, "delivery", _DELIVERY_KEYS, problems, line)
    d = DeliveryConfig()
    number = (int, float)
    config = DeliveryConfig(
        max_age=dt.timedelta(
            hours=float(_value(m, "max_age_hours", number, problems, loc.line, 24))
        ),
        retry_base=float(
            _value(m, "retry_base_seconds", number, problems, loc.line, d.retry_base)
        ),
        retry_cap=float(_value(m, "retry_cap_seconds", number, problems, loc.line, d.retry_cap)),
        lease=float(_value(m, "lease_seconds", number, problems, loc.line, d.lease)),
        batch=_value(m, "batch", int, problems, loc.line, d.batch),
        poll=float(_value(m, "poll_seconds", number, problems, loc.line, d.poll)),
        stop_timeout=float(
            _value(m, "stop_timeout_seconds", number, problems, loc.line, d.stop_timeout)
        ),
    )
    for key, value in (
        ("max_age_hours", config.max_age.total_seconds()),
        ("retry_base_seconds", config.retry_base),
        ("retry_cap_seconds", config.retry_cap),
        ("lease_seconds", config.lease),
        ("batch", config.batch),
        ("poll_seconds", config.poll),
        ("stop_timeout_seconds", config.stop_timeout),
    ):
        if value <= 0:
            problems.add(m[key].line if key in m else loc.line, f"delivery.{key} must be > 0")
    return config


_LEVELS: Final = ("debug", "info", "warning", "error")


def _admin(loc: Loc | None, problems: Problems, line: int) -> AdminConfig | None:
    if loc is None:
        return None
    m = _mapping(loc, "admin", {"listen"}, problems, line)
    listen = _mapping(m.get("listen"), "admin listen", {"host", "port"}, problems, loc.line)
    d = AdminConfig()
    port = _value(listen, "port", int, problems, loc.line, d.port)
    if not 0 <= port <= 65535:
        problems.add(listen["port"].line, "admin port must be 0-65535")
    return AdminConfig(host=_value(listen, "host", str, problems, loc.line, d.host), port=port)


def _audit(
    loc: Loc | None, problems: Problems, line: int, agency: str, signing_kid: str
) -> AuditConfig:
    if loc is None:
        return AuditConfig()
    m = _mapping(
        loc,
        "audit",
        {"retention_days", "checkpoint_interval_seconds", "previous_keys"},
        problems,
        line,
    )
    d = AuditConfig()
    days = _value(m, "retention_days", int, problems, loc.line, d.retention_days)
    if days < 365:
        problems.add(
            m["retention_days"].line if "retention_days" in m else loc.line,
            "audit.retention_days must be at least 365 (CJIS AU-11)",
        )
    every = float(_value(m, "checkpoint_interval_seconds", (int, float), problems, loc.line, 300))
    if every <= 0:
        problems.add(m["checkpoint_interval_seconds"].line, "checkpoint interval must be > 0")
    return AuditConfig(
        retention_days=days,
        checkpoint_interval=every,
        previous_keys=_previous_keys(m.get("previous_keys"), problems, agency, signing_kid),
    )


def _previous_keys(
    loc: Loc | None, problems: Problems, agency: str, signing_kid: str
) -> tuple[PinnedKeyConfig, ...]:
    """``audit.previous_keys``: this agency's earlier signing keys, as a partner pins keys."""
    if loc is None or loc.value is None:
        return ()
    if not isinstance(loc.value, list):
        problems.add(loc.line, "audit.previous_keys must be a list of keys")
        return ()
    keys: list[PinnedKeyConfig] = []
    seen: set[str] = set()
    for item in loc.value:
        key = _key(item, problems)
        if key is None:
            continue
        if agency and not key.kid.startswith(f"{agency}#"):
            problems.add(item.line, f"previous key {key.kid} is not a key of {agency}")
        if key.kid == signing_kid:
            problems.add(item.line, f"previous key {key.kid} is the current signing_kid")
        elif key.kid in seen:
            problems.add(item.line, f"previous key {key.kid} is listed twice")
        seen.add(key.kid)
        keys.append(key)
    return tuple(keys)


def _logging(loc: Loc | None, problems: Problems, line: int) -> LoggingConfig:
    if loc is None:
        return LoggingConfig()
    m = _mapping(loc, "logging", {"format", "level"}, problems, line)
    fmt = _value(m, "format", str, problems, loc.line, "auto")
    if fmt not in ("auto", "json", "console"):
        problems.add(m["format"].line, "logging.format must be auto, json or console")
    level = _value(m, "level", str, problems, loc.line, "info")
    if level not in _LEVELS:
        problems.add(m["level"].line, f"logging.level must be one of {', '.join(_LEVELS)}")
    return LoggingConfig(format=fmt, level=level)


_TOP: Final = {
    "admin",
    "audit",
    "logging",
    "delivery",
    "agency",
    "policy",
    "signing_key",
    "signing_kid",
    "store",
    "federation",
    "partners",
    "slack",
}
_SLACK: Final = {
    "team_id",
    "mode",
    "api_url",
    "bot_token_env",
    "bot_token_file",
    "signing_secret_env",
    "signing_secret_file",
    "app_token_env",
    "app_token_file",
    "listen",
    "channels",
    "icon_url",
    "pacing",
    "catch_up_seconds",
}
_FORBIDDEN_SECRETS: Final = {"bot_token", "signing_secret", "app_token", "token"}


def _secret(
    m: dict[str, Loc], name: str, base: Path, problems: Problems, line: int, required: bool
) -> Secret:
    env = _value(m, f"{name}_env", str, problems, line, "")
    file = _value(m, f"{name}_file", str, problems, line, "")
    if env and file:
        problems.add(line, f"give {name}_env or {name}_file, not both")
    if required and not env and not file:
        problems.add(line, f"missing {name}_env or {name}_file (secrets never go in the YAML)")
    return Secret(env=env or None, file=(base / file) if file else None)


def _slack(loc: Loc, base: Path, problems: Problems) -> SlackConfig:
    if isinstance(loc.value, dict):
        for key, value in loc.value.items():
            if key in _FORBIDDEN_SECRETS:
                problems.add(
                    value.line,
                    f"'{key}' must not be written in the YAML: name an "
                    f"environment variable ({key}_env) or a file "
                    f"({key}_file)",
                )
    m = _mapping(loc, "slack", _SLACK | _FORBIDDEN_SECRETS, problems, loc.line)
    mode = _value(m, "mode", str, problems, loc.line, "events")
    if mode not in ("events", "socket"):
        problems.add(m["mode"].line, "slack mode must be 'events' or 'socket'")
    listen = _mapping(
        m.get("listen") or Loc({}, loc.line), "listen", {"host", "port"}, problems, loc.line
    )
    channels: dict[str, str] = {}
    ch = m.get("channels")
    if ch is None or not isinstance(ch.value, dict) or not ch.value:
        problems.add(ch.line if ch else loc.line, "slack channels must map channel ids to topics")
    else:
        for cid, topic in ch.value.items():
            if not re.match(r"^[CG][A-Z0-9]{2,}$", cid) or not isinstance(topic.value, str):
                problems.add(topic.line, f"channel '{cid}': a Slack channel id mapped to a topic")
            else:
                channels[cid] = topic.value
    every = m.get("catch_up_seconds")
    if every is not None and (not isinstance(every.value, int | float) or every.value < 1):
        problems.add(every.line, "slack.catch_up_seconds must be a number of seconds >= 1")
    return SlackConfig(
        team_id=_value(m, "team_id", str, problems, loc.line, ""),
        mode=mode,
        api_url=_value(m, "api_url", str, problems, loc.line, "https://slack.com/api/"),
        bot_token=_secret(m, "bot_token", base, problems, loc.line, True),
        signing_secret=_secret(m, "signing_secret", base, problems, loc.line, mode == "events"),
        app_token=_secret(m, "app_token", base, problems, loc.line, mode == "socket"),
        host=_value(listen, "host", str, problems, loc.line, "127.0.0.1"),
        port=_value(listen, "port", int, problems, loc.line, 3000),
        channels=channels,
        icon_url=_value(m, "icon_url", str, problems, loc.line, "") or None,
        pacing=_value(m, "pacing", bool, problems, loc.line, True),
        catch_up_seconds=float(
            _value(m, "catch_up_seconds", (int, float), problems, loc.line, 60.0)
        ),
    )


def load_config(text: str, *, source: str, base_dir: Path) -> RelayConfig:
    """Parse ``relay.yaml`` text; raises :class:`ConfigLoadError` listing every problem."""
    problems = Problems()
    doc = parse_yaml(text, problems)
    if doc is None:
        raise ConfigLoadError(source, problems.items)
    root = _mapping(doc, "relay config", _TOP, problems, doc.line)
    agency = _value(root, "agency", str, problems, doc.line, "")
    if agency and not ORI_PATTERN.match(agency):
        problems.add(root["agency"].line, "agency must be an ORI (^[A-Z]{2}[A-Z0-9]{7}$)")
    kid = _value(root, "signing_kid", str, problems, doc.line, "")
    if kid and (not _KID.match(kid) or not kid.startswith(f"{agency}#")):
        problems.add(root["signing_kid"].line, "signing_kid must be ORI#suffix of this agency")
    partners: dict[str, PartnerLink] = {}
    pinned: dict[str, str] = {}
    plist = root.get("partners")
    for loc in plist.value if plist and isinstance(plist.value, list) else []:
        link = _partner(loc, problems)
        if link is not None:
            if link.ori in partners:
                problems.add(loc.line, f"duplicate partner '{link.ori}'")
            for fp in link.tls_sha256:
                if pinned.setdefault(fp, link.ori) != link.ori:
                    problems.add(
                        loc.line,
                        f"certificate {fp[:16]}... is pinned to both {pinned[fp]} and {link.ori}",
                    )
            partners[link.ori] = link
    slack_loc = root.get("slack")
    slack = _slack(slack_loc, base_dir, problems) if slack_loc is not None else None
    config = RelayConfig(
        slack=slack,
        source=source,
        agency=agency,
        policy=base_dir / _value(root, "policy", str, problems, doc.line, ""),
        signing_key=base_dir / _value(root, "signing_key", str, problems, doc.line, ""),
        signing_kid=kid,
        store=_value(root, "store", str, problems, doc.line, "sqlite:///relay.db"),
        federation=_federation(root.get("federation"), base_dir, problems, doc.line),
        partners=partners,
        delivery=_delivery(root.get("delivery"), problems, doc.line),
        admin=_admin(root.get("admin"), problems, doc.line),
        audit=_audit(root.get("audit"), problems, doc.line, agency, kid),
        logging=_logging(root.get("logging"), problems, doc.line),
    )
    if problems.items:
        raise ConfigLoadError(source, problems.items)
    return config


def read_config(path: str | Path) -> RelayConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigLoadError(str(p), [(1, f"cannot read file ({type(exc).__name__})")]) from None
    return load_config(text, source=str(p), base_dir=p.parent)
