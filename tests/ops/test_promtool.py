"""deploy/prometheus: promtool checks the config and the rules and runs the rule unit tests;
every metric an alert uses is one RelayMetrics exports."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.ops.promql import DEPLOY, exported_names, metric_names, require_binary, unknown_names

PROM = DEPLOY / "prometheus"
ALERTS = {
    "RelayDown",
    "RelayTopicNotMapped",
    "RelayBacklogAging",
    "RelayDeadLetters",
    "RelayRefusalsSpike",
    "RelayAuditWriteFailing",
    "RelayKeyExpiringSoon",
    "RelaySlackAuthFailing",
    "RelayAuditCheckpointStale",
    "RelaySlackEventsRefused",
    "RelayReviewCardWaiting",
}


def _promtool(*args: str) -> str:
    result = subprocess.run(
        [require_binary("promtool"), *args],
        cwd=PROM,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    assert f"SUCCESS: {len(ALERTS)} rules found" in _promtool("check", "rules", "alerts.yml")


def test_promtool_check_config() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")


def test_promtool_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml")


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {rule["alert"] for rule in _rules()}
    assert names == ALERTS
    assert names - fired == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown not firing"


def test_alerts_have_runbook_annotations_and_a_severity() -> None:
    for rule in _rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook"} <= annotations.keys(), rule["alert"]
        anchor = annotations["runbook"].split("#", 1)[1]
        assert anchor == rule["alert"].lower()
        readme = (PROM / "README.md").read_text(encoding="utf-8")
        assert f"### {rule['alert']}" in readme, f"README.md has no runbook for {rule['alert']}"


def test_audit_failure_alert_is_critical_and_says_forwarding_stopped() -> None:
    (rule,) = [r for r in _rules() if r["alert"] == "RelayAuditWriteFailing"]
    assert rule["labels"]["severity"] == "critical"
    assert "forwarding is stopped" in rule["annotations"]["summary"]


def test_alert_expressions_use_only_exported_metrics() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in _rules()}
    assert unknown_names(exprs) == {}


def test_alert_unit_test_series_are_exported_metrics() -> None:
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    series = {
        s["series"]: s["series"].split("{", 1)[0]
        for test in tests
        for s in test.get("input_series", [])
    }
    known = exported_names() | {"up"}
    assert {name for name in series.values() if name not in known} == set()


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="relay"} == 0', {"up"}),
        (
            "sum by (instance, partner) (rate(relay_envelopes_sent_total[$__rate_interval]))",
            {"relay_envelopes_sent_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, stage) "
            '(rate(relay_delivery_latency_seconds_bucket{partner=~"$partner"}[5m])))',
            {"relay_delivery_latency_seconds_bucket"},
        ),
        (
            "(max by (agency) (relay_key_expiry_timestamp_seconds) - time()) / 86400 < 14",
            {"relay_key_expiry_timestamp_seconds"},
        ),
        ("a_metric offset 5m and on (instance) b_metric", {"a_metric", "b_metric"}),
        (
            'topk(10, sum by (rule) (increase(relay_rule_hits_total{x="a (b)"}[1h])))',
            {"relay_rule_hits_total"},
        ),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exported_names_include_suffix_forms() -> None:
    names = exported_names()
    assert {
        "relay_envelopes_sent_total",
        "relay_delivery_latency_seconds_bucket",
        "relay_delivery_latency_seconds_count",
        "relay_build_info",
        "relay_queue_depth",
    } <= names
    assert "relay_envelopes_sent" not in names
