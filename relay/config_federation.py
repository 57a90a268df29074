"""Reading ``relay.yaml``'s ``federation:`` section: the listener, TLS, limits, envelope
bounds, refusal windows and pushed files (defaults in :mod:`relay.core.defaults`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

from relay.config_files import files_section
from relay.config_refusals import refusals_section
from relay.config_schema import FederationConfig
from relay.config_sections import hours_of as _hours
from relay.config_sections import mapping, value
from relay.config_sections import seconds_of as _seconds
from relay.core import defaults
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["federation_section"]

_AGE, _LIFETIME = defaults.ENVELOPE_MAX_AGE, defaults.ENVELOPE_MAX_LIFETIME


_FEDERATION_KEYS: Final = {
    "listen",
    "tls",
    "hop_limit",
    "clock_skew_seconds",
    "max_body_bytes",
    "read_timeout_seconds",
    "rate_limit",
    "envelope_ttl_days",
    "refusals",
    "files",
    "envelope_max_age_hours",
    "envelope_max_lifetime_days",
}


def federation_section(
    loc: Loc | None, base: Path, problems: Problems, line: int
) -> FederationConfig:
    m = mapping(loc, "federation", _FEDERATION_KEYS, problems, line)
    fline = loc.line if loc else line
    listen = mapping(m.get("listen"), "listen", {"host", "port"}, problems, fline)
    tls = mapping(m.get("tls"), "tls", {"cert", "key", "ca"}, problems, fline)
    rate = mapping(
        m.get("rate_limit") or Loc({}, fline),
        "rate_limit",
        {"per_second", "burst"},
        problems,
        fline,
    )
    port = value(listen, "port", int, problems, fline, defaults.FEDERATION_PORT)
    if not 0 <= port <= 65535:
        problems.add(listen["port"].line, "port must be 0-65535")
    return FederationConfig(
        host=value(listen, "host", str, problems, fline, defaults.FEDERATION_HOST),
        port=port,
        tls_cert=base / value(tls, "cert", str, problems, fline, ""),
        tls_key=base / value(tls, "key", str, problems, fline, ""),
        tls_ca=base / value(tls, "ca", str, problems, fline, ""),
        hop_limit=value(m, "hop_limit", int, problems, fline, defaults.HOP_LIMIT),
        clock_skew=dt.timedelta(
            seconds=value(
                m, "clock_skew_seconds", int, problems, fline, _seconds(defaults.CLOCK_SKEW)
            )
        ),
        max_body_bytes=value(m, "max_body_bytes", int, problems, fline, defaults.MAX_BODY_BYTES),
        read_timeout=float(
            value(m, "read_timeout_seconds", (int, float), problems, fline, defaults.READ_TIMEOUT)
        ),
        rate_per_second=float(
            value(rate, "per_second", (int, float), problems, fline, defaults.RATE_PER_SECOND)
        ),
        rate_burst=value(rate, "burst", int, problems, fline, defaults.RATE_BURST),
        envelope_ttl=dt.timedelta(
            days=value(m, "envelope_ttl_days", int, problems, fline, defaults.ENVELOPE_TTL.days)
        ),
        **refusals_section(m.get("refusals"), problems, fline),
        files=files_section(m.get("files"), problems, fline),
        envelope_max_age=dt.timedelta(
            hours=value(m, "envelope_max_age_hours", int, problems, fline, _hours(_AGE))
        ),
        envelope_max_lifetime=dt.timedelta(
            days=value(m, "envelope_max_lifetime_days", int, problems, fline, _LIFETIME.days)
        ),
    )
