"""Shared by the ops tests: metric names RelayMetrics exports, and the names a PromQL
expression uses (the alert rules and the Grafana dashboard must use only exported names)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Final

import pytest

from relay.metrics import RelayMetrics
from relay.slack.review_metrics import ReviewMetrics

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy"

# Series Prometheus itself adds to every scrape target.
SCRAPE_SERIES: Final = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
)
_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}
_KEYWORDS: Final = frozenset(
    {
        "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
        "group_left", "group_right", "inf", "nan", "atan2",
    }
)  # fmt: skip
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING: Final = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENT: Final = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def exported_names() -> frozenset[str]:
    """Every sample name a RelayMetrics can export (``_total``, ``_bucket``, ``_info``...),
    whether or not a labelled child exists yet."""
    names: set[str] = set()
    metrics = RelayMetrics()
    ReviewMetrics(metrics.registry)  # registered when slack.review is configured
    for family in metrics.registry.collect():
        for suffix in _SUFFIXES[family.type]:
            names.add(family.name + suffix)
    return frozenset(names)


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression (Grafana ``$variables`` allowed)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "0", text)  # Grafana variables
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = _GROUPING.sub("", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]?\b", "0", text)  # numbers
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def unknown_names(exprs: dict[str, str]) -> dict[str, set[str]]:
    """``{where: names not exported}`` for the expressions that use any."""
    known = exported_names() | SCRAPE_SERIES
    out: dict[str, set[str]] = {}
    for where, expr in exprs.items():
        names = metric_names(expr)
        if not names:
            out[where] = {"<no metric name found>"}
        elif names - known:
            out[where] = names - known
    return out


def require_binary(name: str) -> str:
    """The path of a Prometheus tool; a clear failure (never a skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` not found on PATH. CI installs it: .ci/run runs `apt-get install "
            "prometheus` (Debian's package brings prometheus and promtool). Locally: "
            "`sudo apt-get install --no-install-recommends prometheus`.",
            pytrace=False,
        )
    return path
