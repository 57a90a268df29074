"""deploy/grafana/relay-dashboard.json: valid JSON, unique panel ids, a data source and
PromQL targets on every panel, and only metric names RelayMetrics exports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ops.promql import DEPLOY, metric_names, unknown_names

DASHBOARD = DEPLOY / "grafana" / "relay-dashboard.json"
DS = "${DS_PROMETHEUS}"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included, rows themselves excluded."""
    out = []
    for panel in dashboard["panels"]:
        out.extend(panel.get("panels", []))
        if panel["type"] != "row":
            out.append(panel)
    return out


def _exprs(dashboard: dict[str, Any]) -> dict[str, str]:
    return {
        f"panel {p['id']} {p['title']!r} {t['refId']}": t["expr"]
        for p in _panels(dashboard)
        for t in p["targets"]
    }


def test_dashboard_shape(dashboard: dict[str, Any]) -> None:
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("instance", "partner"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == DS


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]] + [
        nested["id"] for p in dashboard["panels"] for nested in p.get("panels", [])
    ]
    assert len(ids) == len(set(ids))


def test_every_panel_has_a_datasource_and_promql_targets(dashboard: dict[str, Any]) -> None:
    panels = _panels(dashboard)
    assert len(panels) >= 15
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": DS}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target.get("datasource", panel["datasource"])["uid"] == DS


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{panel['title']!r} overlaps another panel"
        cells |= mine


def test_expressions_use_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    assert unknown_names(_exprs(dashboard)) == {}


def test_dashboard_covers_the_issue(dashboard: dict[str, Any]) -> None:
    """The panels issue #6 asks for, by the metrics they show."""
    used = set().union(*(metric_names(e) for e in _exprs(dashboard).values()))
    assert {
        "relay_envelopes_sent_total",
        "relay_envelopes_received_total",
        "relay_decisions_total",
        "relay_rule_hits_total",
        "relay_delivery_latency_seconds_bucket",
        "relay_queue_depth",
        "relay_queue_oldest_age_seconds",
        "relay_dead_letters_total",
        "relay_envelopes_refused_total",
        "relay_slack_api_calls_total",
        "relay_slack_rate_limit_waits_total",
        "relay_audit_chain_head",
        "relay_audit_writable",
        "relay_audit_last_checkpoint_timestamp_seconds",
        "relay_key_expiry_timestamp_seconds",
    } <= used
    quantiles = [e for e in _exprs(dashboard).values() if "histogram_quantile" in e]
    assert any("0.5," in e for e in quantiles)
    assert any("0.95," in e for e in quantiles)
    assert all("by (le, stage)" in e for e in quantiles)
