"""`relay config check FILE [--connect]`: the whole configuration, checked before going live.

Checked: ``relay.yaml`` itself (every ``file:line`` problem of the loader); the policy file
loads (its own ``file:line`` problems) and is this agency's; the signing key loads, is Ed25519
and is no placeholder; the TLS certificate, key and CA bundle exist, parse, the certificate
matches its key and is not expired (a warning under 30 days left); every partner: an https
URL, certificate pins of 64 hex digits, pinned keys that decode to valid 32-byte Ed25519 keys,
``not_after`` in the future (a warning within 14 days), at least one unrevoked key usable now;
``audit.previous_keys`` (this agency's rotated-out signing keys) decode to valid Ed25519 keys,
none of them the current signing key (a warning); the store URL parses (``--connect`` also
opens and pings the store); the Slack token and secret environment variables or files exist
(their values are never printed); listener ports are in range and no two listeners share a
host:port. Values left over from ``relay.example.yaml`` (the all-zero fingerprint, the
all-``A`` key, ``*.example`` hosts, the example Slack team and channel ids, the example key
path) are errors.

Output (a contract): one line per problem on stderr,
``FILE:LINE: error: MESSAGE`` or ``FILE:LINE: warning: MESSAGE`` (FILE is ``relay.yaml`` or
the policy file), then one summary line on stdout: ``config ok: AGENCY, N partners, policy
DIGEST12`` (exit 0; warnings allowed) or ``config invalid: N errors`` (exit 2; also when
``--connect`` cannot reach the store). Never a traceback, never a secret value, never the
store URL (it may hold a password).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import re
import ssl
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from relay.config import ConfigLoadError, RelayConfig, Secret, load_config
from relay.core.policy.load import PolicyLoadError
from relay.core.policy.model import Policy
from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml

__all__ = ["PLACEHOLDERS", "add_parser", "check_config"]

CERT_WARN_DAYS: Final = 30
KEY_WARN_DAYS: Final = 14
EXAMPLE_HINT: Final = "left over from relay.example.yaml"

# Values of relay.example.yaml that must never reach production (kept in step with that file
# by tests/cli/test_config_check.py).
PLACEHOLDERS: Final[dict[str, str]] = {
    "0" * 64: "the all-zero certificate fingerprint",
    "A" * 43: "the all-'A' placeholder public key",
    "T0HAVENPT1": "the example Slack team id",
    "C0BOLO0001": "an example Slack channel id",
    "C0INTEL001": "an example Slack channel id",
    "C0NARCO001": "an example Slack channel id",
    "C0PATTRN01": "an example Slack channel id",
    "keys/CT9990100-2026-k1.key.pem": "the example signing key path",
}
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_B64URL43: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")


# -- the report ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Report:
    items: list[tuple[str, int, str, str]] = field(default_factory=list)

    def error(self, source: str, line: int, message: str) -> None:
        self.items.append((source, line, "error", message))

    def warning(self, source: str, line: int, message: str) -> None:
        self.items.append((source, line, "warning", message))

    @property
    def errors(self) -> int:
        return sum(1 for item in self.items if item[2] == "error")

    def lines(self) -> list[str]:
        return [f"{src}:{line}: {sev}: {msg}" for src, line, sev, msg in self.items]


class _Lines:
    """Line numbers in relay.yaml, from the located YAML (relay/core/policy/yamlnodes.py)."""

    def __init__(self, doc: Loc | None) -> None:
        self.doc = doc

    def at(self, *path: str | int, base: Loc | None = None) -> int:
        """The line of the deepest node of ``path`` that exists (1 without a document)."""
        node = base or self.doc
        if node is None:
            return 1
        line = node.line
        for step in path:
            if isinstance(step, str) and isinstance(node.value, dict) and step in node.value:
                node = node.value[step]
            elif isinstance(step, int) and isinstance(node.value, list):
                if not 0 <= step < len(node.value):
                    return line
                node = node.value[step]
            else:
                return line
            line = node.line
        return line

    def _find(self, items: Loc | None, key: str, value: str) -> Loc | None:
        if items is None or not isinstance(items.value, list):
            return None
        for item in items.value:
            if isinstance(item.value, dict):
                got = item.value.get(key)
                if got is not None and got.value == value:
                    found: Loc = item
                    return found
        return None

    def partner(self, ori: str) -> Loc | None:
        root: dict[str, Loc] = (
            self.doc.value if self.doc and isinstance(self.doc.value, dict) else {}
        )
        return self._find(root.get("partners"), "ori", ori)

    def partner_at(self, ori: str, *path: str | int) -> int:
        loc = self.partner(ori)
        return self.at(*path, base=loc) if loc else self.at("partners")

    def key_at(self, ori: str, kid: str, *path: str) -> int:
        partner = self.partner(ori)
        if partner is None or not isinstance(partner.value, dict):
            return self.at("partners")
        key = self._find(partner.value.get("keys"), "kid", kid)
        return self.at(*path, base=key) if key else int(partner.line)


@contextmanager
def _guard(report: _Report, source: str, line: int, what: str) -> Iterator[None]:
    """A check that fails unexpectedly is one error line, never a traceback."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (or a secret in it)
        report.error(source, line, f"{what}: cannot be checked ({type(exc).__name__})")


# -- placeholders ----------------------------------------------------------------------------
def _example_host(value: str) -> str | None:
    if "://" not in value:
        return None
    with suppress(ValueError):
        host = (urlsplit(value).hostname or "").lower().rstrip(".")
        if host == "example" or host.endswith(".example"):
            return host
    return None


def _scan_placeholders(node: Loc, source: str, report: _Report, where: str = "") -> None:
    """Every value (and mapping key) of the document compared with relay.example.yaml's."""
    value = node.value
    if isinstance(value, dict):
        for key, child in value.items():
            if key in PLACEHOLDERS:
                report.error(source, child.line, f"{key} is {PLACEHOLDERS[key]} ({EXAMPLE_HINT})")
            _scan_placeholders(child, source, report, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for child in value:
            _scan_placeholders(child, source, report, where)
    elif isinstance(value, str):
        text = value.strip()
        pin = text.lower().replace(":", "")
        if text in PLACEHOLDERS:
            report.error(source, node.line, f"{where} is {PLACEHOLDERS[text]} ({EXAMPLE_HINT})")
        elif _HEX64.match(pin) and len(set(pin)) == 1:
            report.error(source, node.line, f"{where} is a placeholder fingerprint ({pin[:8]}...)")
        elif _B64URL43.match(text) and len(set(text)) == 1:
            report.error(source, node.line, f"{where} is a placeholder public key")
        elif (host := _example_host(text)) is not None:
            report.error(
                source,
                node.line,
                f"{where} names {host}, a reserved .example host ({EXAMPLE_HINT})",
            )


# -- the parts -------------------------------------------------------------------------------
def _mode_warning(path: Path, what: str, source: str, line: int, report: _Report) -> None:
    with suppress(OSError):
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            report.warning(source, line, f"{what} {path} is readable by others (chmod 600)")


def _check_policy(
    config: RelayConfig, lines: _Lines, report: _Report, today: dt.date
) -> Policy | None:
    from relay.commands.policy import read_policy

    src, at = config.source, lines.at("policy")
    if not config.policy.is_file():
        report.error(src, at, f"policy {config.policy}: file not found")
        return None
    try:
        policy = read_policy(str(config.policy), today)
    except PolicyLoadError as exc:
        for line, message in exc.problems:
            report.error(exc.source or str(config.policy), line, message)
        return None
    if policy.ori != config.agency:
        report.error(src, at, f"policy {config.policy} is for {policy.ori}, not {config.agency}")
    for ori in sorted(set(policy.partners) - set(config.partners)):
        report.warning(
            src, lines.at("partners"), f"policy partner {ori} has no entry under partners:"
        )
    for ori in sorted(set(config.partners) - set(policy.partners)):
        report.warning(
            src, lines.partner_at(ori, "ori"), f"partner {ori} is not a partner in the policy"
        )
    if config.slack is not None:
        for cid, topic in sorted(config.slack.channels.items()):
            if topic not in policy.topics:
                report.warning(
                    src,
                    lines.at("slack", "channels", cid),
                    f"channel {cid}: topic '{topic}' is not a topic of the policy",
                )
    return policy


def _check_signing_key(config: RelayConfig, lines: _Lines, report: _Report) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from relay.core.signing import b64url_encode, public_key_bytes

    src, at, path = config.source, lines.at("signing_key"), config.signing_key
    if not path.is_file():
        report.error(src, at, f"signing_key {path}: file not found")
        return
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        report.error(src, at, f"signing_key {path}: cannot load ({type(exc).__name__})")
        return
    if not isinstance(key, Ed25519PrivateKey):
        report.error(src, at, f"signing_key {path} is not an Ed25519 key (use relay keygen)")
        return
    x = b64url_encode(public_key_bytes(key))
    if x in PLACEHOLDERS or len(set(x)) == 1:
        report.error(src, at, f"signing_key {path} is a placeholder key")
    for link in config.partners.values():
        for pinned in link.keys:
            if pinned.public_key == x:
                report.error(
                    src,
                    lines.key_at(link.ori, pinned.kid, "public_key"),
                    f"partner key {pinned.kid} is this relay's own signing key",
                )
    _mode_warning(path, "signing_key", src, at, report)


def _check_previous_keys(config: RelayConfig, lines: _Lines, report: _Report) -> None:
    """``audit.previous_keys``: valid Ed25519 public keys, none of them the current key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from relay.core.signing import b64url_decode, b64url_encode, check_public_key, public_key_bytes

    src = config.source
    current: str | None = None
    with suppress(OSError, ValueError, TypeError):
        key = load_pem_private_key(config.signing_key.read_bytes(), password=None)
        if isinstance(key, Ed25519PrivateKey):
            current = b64url_encode(public_key_bytes(key))
    for index, pinned in enumerate(config.audit.previous_keys):
        at = lines.at("audit", "previous_keys", index, "public_key")
        try:
            check_public_key(b64url_decode(pinned.public_key))
        except Exception as exc:  # noqa: BLE001 - ValueError or VerificationError
            if len(set(pinned.public_key)) > 1:  # a placeholder is reported already
                report.error(
                    src,
                    at,
                    f"audit.previous_keys: {pinned.kid}: not a valid Ed25519 public key "
                    f"({type(exc).__name__})",
                )
            continue
        if pinned.public_key == current:
            report.warning(
                src,
                at,
                f"audit.previous_keys: {pinned.kid} is the current signing key "
                "(list only keys rotated out)",
            )


def _check_tls(config: RelayConfig, lines: _Lines, report: _Report, now: dt.datetime) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    fed, src = config.federation, config.source
    ok = True
    cert: Any = None
    key: Any = None
    for name, path in (("cert", fed.tls_cert), ("key", fed.tls_key), ("ca", fed.tls_ca)):
        at = lines.at("federation", "tls", name)
        if not path.is_file():
            report.error(src, at, f"federation.tls.{name} {path}: file not found")
            ok = False
            continue
        try:
            data = path.read_bytes()
            if name == "cert":
                cert = x509.load_pem_x509_certificates(data)[0]
            elif name == "key":
                key = load_pem_private_key(data, password=None)
            elif not x509.load_pem_x509_certificates(data):
                raise ValueError("no certificate")  # pragma: no cover - the call raises first
        except (OSError, ValueError, TypeError) as exc:
            what = "certificate" if name != "key" else "private key (PEM, unencrypted)"
            report.error(
                src,
                at,
                f"federation.tls.{name} {path}: not a PEM {what} ({type(exc).__name__})",
            )
            ok = False
    if key is not None:
        _mode_warning(
            fed.tls_key, "federation.tls.key", src, lines.at("federation", "tls", "key"), report
        )
    if cert is not None:
        at = lines.at("federation", "tls", "cert")
        left = cert.not_valid_after_utc - now
        days = left.days
        if cert.not_valid_before_utc > now:
            report.error(src, at, f"federation.tls.cert {fed.tls_cert} is not valid yet")
        if left.total_seconds() <= 0:
            report.error(
                src, at, f"federation.tls.cert {fed.tls_cert} expired {(-left).days} days ago"
            )
        elif days < CERT_WARN_DAYS:
            report.warning(src, at, f"federation.tls.cert {fed.tls_cert} expires in {days} days")
        if key is not None:
            spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
                report.error(src, at, "federation.tls.cert and federation.tls.key do not match")
                ok = False
    if ok:
        from relay.federation.tls import server_context

        try:
            server_context(fed.tls_cert, fed.tls_key, fed.tls_ca)
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            report.error(src, lines.at("federation", "tls"), f"TLS material refused: {reason}")


def _check_partners(config: RelayConfig, lines: _Lines, report: _Report, now: dt.datetime) -> None:
    from relay.core.signing import b64url_decode, check_public_key

    src = config.source
    if not config.partners:
        report.warning(src, lines.at("partners"), "no partners: this relay shares with nobody")
    bad_keys = False
    for ori, link in sorted(config.partners.items()):
        if not link.url.startswith("https://"):  # pragma: no cover - the loader refuses it
            report.error(src, lines.partner_at(ori, "url"), f"partner {ori}: url must be https")
        try:
            if urlsplit(link.url).hostname is None:
                report.error(src, lines.partner_at(ori, "url"), f"partner {ori}: url has no host")
        except ValueError:
            report.error(src, lines.partner_at(ori, "url"), f"partner {ori}: url does not parse")
        usable = 0
        for pinned in link.keys:
            at = lines.key_at(ori, pinned.kid, "public_key")
            try:
                raw = b64url_decode(pinned.public_key)
                check_public_key(raw)
            except Exception as exc:  # noqa: BLE001 - ValueError or VerificationError
                if len(set(pinned.public_key)) > 1:  # a placeholder is reported already
                    report.error(
                        src,
                        at,
                        f"partner key {pinned.kid}: not a valid Ed25519 public key "
                        f"({type(exc).__name__})",
                    )
                bad_keys = True
                continue
            end_at = lines.key_at(ori, pinned.kid, "not_after")
            if pinned.revoked:
                continue
            if pinned.not_after <= now:
                report.error(src, end_at, f"partner key {pinned.kid} expired (not_after passed)")
                continue
            left = (pinned.not_after - now).days
            if left < KEY_WARN_DAYS:
                report.warning(src, end_at, f"partner key {pinned.kid} expires in {left} days")
            if pinned.not_before > now:
                report.warning(
                    src,
                    lines.key_at(ori, pinned.kid, "not_before"),
                    f"partner key {pinned.kid} is not valid yet",
                )
            else:
                usable += 1
        if not usable:
            report.error(
                src,
                lines.partner_at(ori, "keys"),
                f"partner {ori} has no unrevoked signing key valid now",
            )
    if bad_keys:
        return
    try:
        from relay.app import keyring_from_config

        keyring_from_config(config)
    except ConfigLoadError as exc:
        for _, message in exc.problems:
            report.error(src, lines.at("partners"), message)
    except ValueError as exc:
        report.error(src, lines.at("partners"), f"partner keys refused: {exc}")


def _check_store(config: RelayConfig, lines: _Lines, report: _Report, connect: bool) -> None:
    from relay.store.open import open_store

    src, at, url = config.source, lines.at("store"), config.store
    base = Path(config.source).parent
    if url.startswith("sqlite:///"):
        raw = url.removeprefix("sqlite:///")
        if not raw:
            report.error(src, at, "store sqlite:/// needs a path, as in sqlite:///relay.db")
            return
        path = Path(raw) if Path(raw).is_absolute() else base / raw
        if not path.parent.is_dir():
            hint = "" if Path(raw).is_absolute() else " (sqlite:///PATH is relative to this file; "
            hint += "" if Path(raw).is_absolute() else "sqlite:////PATH is absolute)"
            report.error(src, at, f"store directory {path.parent} does not exist{hint}")
            return
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number
            from psycopg.conninfo import conninfo_to_dict

            conninfo_to_dict(url)
        except Exception as exc:  # noqa: BLE001 - the driver's text may echo the URL
            report.error(src, at, f"store URL does not parse ({type(exc).__name__})")
            return
        if parts.password:
            report.error(
                src, at, "store URL holds a password: use PGPASSWORD or a .pgpass file instead"
            )
    else:
        scheme = url.partition("://")[0] if "://" in url else "(none)"
        report.error(
            src, at, f"store URL scheme {scheme!r} is not supported (sqlite:/// or postgresql://)"
        )
        return
    if not connect:
        return
    try:
        store = open_store(url, base_dir=base)
    except Exception as exc:  # noqa: BLE001 - driver text may echo the URL and its password
        detail = str(exc) if type(exc) in (ValueError, RuntimeError) else type(exc).__name__
        report.error(src, at, f"store: cannot open ({detail})")
        return
    try:
        store.ping()
    except Exception as exc:  # noqa: BLE001 - same
        report.error(src, at, f"store: ping failed ({type(exc).__name__})")
    finally:
        with suppress(Exception):
            store.close()


def _check_secret(
    secret: Secret, name: str, src: str, at: int, report: _Report, required: bool
) -> None:
    if secret.env:
        if not os.environ.get(secret.env, "").strip():
            report.error(
                src, at, f"slack.{name}_env: environment variable {secret.env} is not set"
            )
    elif secret.file:
        try:
            if not secret.file.read_text(encoding="utf-8").strip():
                report.error(src, at, f"slack.{name}_file {secret.file} is empty")
        except (OSError, UnicodeDecodeError) as exc:
            report.error(
                src, at, f"slack.{name}_file {secret.file}: cannot read ({type(exc).__name__})"
            )
            return
        _mode_warning(secret.file, f"slack.{name}_file", src, at, report)
    elif required:  # pragma: no cover - the loader refuses it
        report.error(src, at, f"slack: missing {name}_env or {name}_file")


def _check_slack(config: RelayConfig, lines: _Lines, report: _Report) -> None:
    slack, src = config.slack, config.source
    if slack is None:
        return

    def at(name: str) -> int:
        for key in (f"{name}_env", f"{name}_file"):
            if lines.at("slack", key) != lines.at("slack"):
                return lines.at("slack", key)
        return lines.at("slack")

    _check_secret(slack.bot_token, "bot_token", src, at("bot_token"), report, True)
    if slack.mode == "events":
        _check_secret(
            slack.signing_secret, "signing_secret", src, at("signing_secret"), report, True
        )
    else:
        _check_secret(slack.app_token, "app_token", src, at("app_token"), report, True)
    try:
        api = urlsplit(slack.api_url)
        loopback = _is_loopback(api.hostname or "")
        if api.scheme != "https" and not (api.scheme == "http" and loopback):
            report.error(
                src,
                lines.at("slack", "api_url"),
                "slack.api_url must be https (http: loopback only)",
            )
    except ValueError:
        report.error(src, lines.at("slack", "api_url"), "slack.api_url does not parse")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_listeners(config: RelayConfig, lines: _Lines, report: _Report) -> None:
    src = config.source
    listeners: list[tuple[str, str, int, int]] = [
        (
            "federation",
            config.federation.host,
            config.federation.port,
            lines.at("federation", "listen", "port"),
        ),
    ]
    if config.slack is not None and config.slack.mode == "events":
        listeners.append(
            ("slack", config.slack.host, config.slack.port, lines.at("slack", "listen", "port"))
        )
    if config.admin is not None:
        listeners.append(
            ("admin", config.admin.host, config.admin.port, lines.at("admin", "listen", "port"))
        )
    for name, _host, port, at in listeners:
        if not 0 <= port <= 65535:
            report.error(src, at, f"{name} listen port {port} is not 0-65535")
    wildcard = {"0.0.0.0", "::", ""}  # noqa: S104 - compared with, never bound
    for i, (name, host, port, at) in enumerate(listeners):
        for other, other_host, other_port, _ in listeners[:i]:
            if port == 0 or port != other_port:
                continue
            if host == other_host or host in wildcard or other_host in wildcard:
                report.error(
                    src,
                    at,
                    f"{name} and {other} listeners both use {host or '*'}:{port}",
                )


# -- the command -----------------------------------------------------------------------------
def check_config(
    path: str, *, connect: bool = False, now: dt.datetime | None = None
) -> tuple[list[str], str, int]:
    """(problem lines, summary line, exit code) for the configuration at ``path``."""
    now = now or dt.datetime.now(dt.UTC)
    report = _Report()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.error(str(p), 1, f"cannot read file ({type(exc).__name__})")
        return report.lines(), f"config invalid: {report.errors} errors", 2
    doc = parse_yaml(text, Problems())
    lines = _Lines(doc)
    config: RelayConfig | None = None
    try:
        config = load_config(text, source=str(p), base_dir=p.parent)
    except ConfigLoadError as exc:
        for line, message in exc.problems:
            report.error(str(p), line, message)
    if doc is not None:
        _scan_placeholders(doc, str(p), report)
    policy: Policy | None = None
    if config is not None:
        src = config.source
        checks: list[tuple[str, str, Callable[[], Any]]] = [
            ("policy", "policy", lambda: _check_policy(config, lines, report, now.date())),
            ("signing_key", "signing_key", lambda: _check_signing_key(config, lines, report)),
            ("audit", "audit", lambda: _check_previous_keys(config, lines, report)),
            ("federation", "TLS", lambda: _check_tls(config, lines, report, now)),
            ("partners", "partners", lambda: _check_partners(config, lines, report, now)),
            ("store", "store", lambda: _check_store(config, lines, report, connect)),
            ("slack", "slack", lambda: _check_slack(config, lines, report)),
            ("federation", "listeners", lambda: _check_listeners(config, lines, report)),
        ]
        for key, what, check in checks:
            with _guard(report, src, lines.at(key), what):
                result = check()
                if key == "policy":
                    policy = result
    report.items.sort(key=lambda item: (item[0] != str(p), item[0], item[1]))
    if report.errors or config is None or policy is None:
        return report.lines(), f"config invalid: {max(report.errors, 1)} errors", 2
    digest = policy.digest[:12]
    n = len(config.partners)
    return report.lines(), f"config ok: {config.agency}, {n} partners, policy {digest}", 0


def _check(args: argparse.Namespace) -> int:
    try:
        problems, summary, code = check_config(args.file, connect=args.connect)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"relay config check: internal error ({type(exc).__name__})", file=sys.stderr)
        return 1
    for line in problems:
        print(line, file=sys.stderr)
    sys.stderr.flush()
    print(summary)
    return code


def add_parser(subparsers: Any) -> None:
    cfg = subparsers.add_parser("config", help="check relay.yaml and everything it names")
    sub = cfg.add_subparsers(dest="config_command", required=True)
    check = sub.add_parser("check", help="validate the whole configuration before going live")
    check.add_argument("file", metavar="FILE", help="relay.yaml")
    check.add_argument("--connect", action="store_true", help="also open the store and ping it")
    check.set_defaults(func=_check)
