"""Values left over from ``relay.example.yaml`` (the all-zero fingerprint, the all-``A`` key,
``*.example`` hosts, the example Slack ids and key path), found anywhere in relay.yaml."""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Final
from urllib.parse import urlsplit

from relay.commands.config.report import Report
from relay.core.policy.yamlnodes import Loc

__all__ = ["EXAMPLE_HINT", "PLACEHOLDERS", "scan_placeholders"]

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
    "C0DDBURG01": "an example Slack channel id",
    "keys/CT9990100-2026-k1.key.pem": "the example signing key path",
}
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_B64URL43: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _example_host(value: str) -> str | None:
    if "://" not in value:
        return None
    with suppress(ValueError):
        host = (urlsplit(value).hostname or "").lower().rstrip(".")
        if host == "example" or host.endswith(".example"):
            return host
    return None


def scan_placeholders(node: Loc, source: str, report: Report, where: str = "") -> None:
    """Every value (and mapping key) of the document compared with relay.example.yaml's."""
    value = node.value
    if isinstance(value, dict):
        for key, child in value.items():
            if key in PLACEHOLDERS:
                report.error(source, child.line, f"{key} is {PLACEHOLDERS[key]} ({EXAMPLE_HINT})")
            scan_placeholders(child, source, report, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for child in value:
            scan_placeholders(child, source, report, where)
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
