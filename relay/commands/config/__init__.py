"""`relay config check FILE [--connect]`: the whole configuration, checked before going live.

Checked: ``relay.yaml`` itself (every ``file:line`` problem of the loader); the policy file
and the candidate policy (``policy_candidate``, when named) load (their own ``file:line``
problems) and are this agency's; the signing key loads, is Ed25519
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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay.commands.config.keys import check_partners, check_previous_keys, check_signing_key
from relay.commands.config.policy_file import check_candidate, check_policy
from relay.commands.config.report import Lines, Report, guard
from relay.commands.config.services import check_listeners, check_slack, check_store
from relay.commands.config.tls import check_tls
from relay.config import ConfigLoadError, RelayConfig, load_config
from relay.config_placeholders import PLACEHOLDERS, find_placeholders
from relay.core.policy.model import Policy
from relay.core.policy.yamlnodes import Problems, parse_yaml

__all__ = ["PLACEHOLDERS", "add_parser", "check_config"]


def check_config(
    path: str, *, connect: bool = False, now: dt.datetime | None = None
) -> tuple[list[str], str, int]:
    """(problem lines, summary line, exit code) for the configuration at ``path``."""
    now = now or dt.datetime.now(dt.UTC)
    report = Report()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.error(str(p), 1, f"cannot read file ({type(exc).__name__})")
        return report.lines(), f"config invalid: {report.errors} errors", 2
    doc = parse_yaml(text, Problems())
    lines = Lines(doc)
    config: RelayConfig | None = None
    try:
        config = load_config(text, source=str(p), base_dir=p.parent)
    except ConfigLoadError as exc:
        for line, message in exc.problems:
            report.error(str(p), line, message)
    if doc is not None:
        for line, message in find_placeholders(doc):
            report.error(str(p), line, message)
    policy: Policy | None = None
    if config is not None:
        src = config.source
        checks: list[tuple[str, str, Callable[[], Any]]] = [
            ("policy", "policy", lambda: check_policy(config, lines, report, now.date())),
            (
                "policy_candidate",
                "policy_candidate",
                lambda: check_candidate(config, lines, report, now.date()),
            ),
            ("signing_key", "signing_key", lambda: check_signing_key(config, lines, report)),
            ("audit", "audit", lambda: check_previous_keys(config, lines, report)),
            ("federation", "TLS", lambda: check_tls(config, lines, report, now)),
            ("partners", "partners", lambda: check_partners(config, lines, report, now)),
            ("store", "store", lambda: check_store(config, lines, report, connect)),
            ("slack", "slack", lambda: check_slack(config, lines, report)),
            ("federation", "listeners", lambda: check_listeners(config, lines, report)),
        ]
        for key, what, check in checks:
            with guard(report, src, lines.at(key), what):
                result = check()
                if key == "policy":
                    policy = result
    report.items.sort(key=lambda item: (item[0] != str(p), item[0], item[1]))
    if report.errors or config is None or policy is None:
        return report.lines(), f"config invalid: {max(report.errors, 1)} errors", 2
    digest = policy.digest[:12]
    n = len(config.partners)
    return report.lines(), f"config ok: {config.agency}, {n} partners, policy {digest}", 0


def run_check(args: argparse.Namespace) -> int:
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
    check.set_defaults(func=run_check)
