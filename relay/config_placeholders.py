"""Values left over from ``relay.example.yaml`` (the all-zero fingerprint, the all-``A`` key,
``*.example`` hosts, the example Slack ids and key path), found anywhere in relay.yaml.

One check for both commands that read it: ``relay config check`` reports each as an error,
``relay run`` refuses to start on any (exit 2, ``FILE:LINE: message``): a relay must not start
with sample pins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import suppress
from typing import Final
from urllib.parse import urlsplit

from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml

__all__ = ["EXAMPLE_HINT", "PLACEHOLDERS", "find_placeholders", "placeholder_problems"]

EXAMPLE_HINT: Final = "left over from relay.example.yaml"

# Values of relay.example.yaml that must never reach production (kept in step with that file
# by tests/cli/test_config_check.py).
PLACEHOLDERS: Final[dict[str, str]] = {
    "0" * 64: "the all-zero certificate fingerprint",
    "A" * 43: "the all-'A' placeholder public key",
    "T0EXAMPLE01": "the example Slack team id",
    "C0BOLO0001": "an example Slack channel id",
    "C0INTEL001": "an example Slack channel id",
    "C0NARCO001": "an example Slack channel id",
    "C0PATTRN01": "an example Slack channel id",
    "C0DDBURG01": "an example Slack channel id",
    "keys/CT9990100-2026-k1.key.pem": "the example signing key path",
}
# What ``relay run`` does not refuse: the example's key path is the name ``relay keygen`` gives
# Havenport's 2026 key, so a real key may well be there (``relay config check`` reports it,
# and checks the key itself; ``relay run`` fails on a key that does not load anyway).
_PATHS: Final = frozenset({"keys/CT9990100-2026-k1.key.pem"})
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


def find_placeholders(
    node: Loc, where: str = "", *, paths: bool = True
) -> Iterator[tuple[int, str]]:
    """(line, message) for every value (and mapping key) of the document that is one of
    relay.example.yaml's; ``paths=False`` leaves out the example's file paths."""
    value = node.value
    if isinstance(value, dict):
        for key, child in value.items():
            if key in PLACEHOLDERS:
                yield child.line, f"{key} is {PLACEHOLDERS[key]} ({EXAMPLE_HINT})"
            yield from find_placeholders(child, f"{where}.{key}" if where else key, paths=paths)
    elif isinstance(value, list):
        for child in value:
            yield from find_placeholders(child, where, paths=paths)
    elif isinstance(value, str):
        text = value.strip()
        pin = text.lower().replace(":", "")
        if text in _PATHS and not paths:
            return
        if text in PLACEHOLDERS:
            yield node.line, f"{where} is {PLACEHOLDERS[text]} ({EXAMPLE_HINT})"
        elif _HEX64.match(pin) and len(set(pin)) == 1:
            yield node.line, f"{where} is a placeholder fingerprint ({pin[:8]}...)"
        elif _B64URL43.match(text) and len(set(text)) == 1:
            yield node.line, f"{where} is a placeholder public key"
        elif (host := _example_host(text)) is not None:
            yield node.line, f"{where} names {host}, a reserved .example host ({EXAMPLE_HINT})"


def placeholder_problems(text: str) -> list[tuple[int, str]]:
    """What ``relay run`` refuses in a relay.yaml's text, as (line, message): the example's
    pins, keys, hosts and Slack ids (not its key path)."""
    doc = parse_yaml(text, Problems())
    return [] if doc is None else list(find_placeholders(doc, paths=False))
