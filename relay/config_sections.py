"""Reading ``relay.yaml``'s sections into :mod:`relay.config_schema` values.

Each reader takes the located YAML node, records every problem (``Problems``, one
``line: message`` each) instead of raising, and returns what it could read; defaults are
:mod:`relay.core.defaults`. :func:`relay.config.load_config` puts the sections together.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

from relay.config_schema import (
    AdminConfig,
    AuditConfig,
    DeliveryConfig,
    LoggingConfig,
    PartnerLink,
    PinnedKeyConfig,
)
from relay.core.ids import is_kid, is_ori
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = [
    "admin_section",
    "audit_section",
    "delivery_section",
    "hours_of",
    "key_section",
    "logging_section",
    "mapping",
    "partner_section",
    "seconds_of",
    "value",
]

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_B64URL: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _seconds(delta: dt.timedelta) -> int:
    return int(delta.total_seconds())


def _hours(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 3600)


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
    if kid and not is_kid(kid):
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
    m = _mapping(
        loc, "partner", {"ori", "url", "tls_sha256", "keys", "icon_url"}, problems, loc.line
    )
    ori = _value(m, "ori", str, problems, loc.line, "")
    if ori and not is_ori(ori):
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
    icon = _value(m, "icon_url", str, problems, loc.line, "") or None
    if icon and not icon.startswith("https://"):
        problems.add(m["icon_url"].line, "partner icon_url must be an https:// URL")
    return PartnerLink(
        ori=ori, url=url, tls_sha256=frozenset(pins), keys=tuple(keys), icon_url=icon
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
            hours=float(_value(m, "max_age_hours", number, problems, loc.line, _hours(d.max_age)))
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
    every = float(
        _value(
            m,
            "checkpoint_interval_seconds",
            (int, float),
            problems,
            loc.line,
            d.checkpoint_interval,
        )
    )
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


mapping = _mapping
seconds_of = _seconds
hours_of = _hours
value = _value
partner_section = _partner
key_section = _key
delivery_section = _delivery
admin_section = _admin
audit_section = _audit
logging_section = _logging
