"""Loading policies: every problem is named by file and line, and all are reported at once.

Also ``extends``/``disable``, and the partner/topic/agreement decisions a loaded policy makes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from relay.commands.policy import read_policy
from relay.core.model import SlackMessage
from relay.core.policy.engine import evaluate_inbound, evaluate_outbound
from relay.core.policy.load import PolicyLoadError, load_policy
from relay.core.slack_parse import parse_event

TODAY = dt.date(2026, 11, 26)
BASELINE_DIR = Path(__file__).resolve().parents[2] / "policies"

SMALL = """\
version: "1"
agency:
  ori: CT9990100
  name: Havenport PD
  state: CT
topics: [bolo, narcotics]
partners:
  - ori: MA9990200
    name: Millbrook PD
    kind: law_enforcement
    agreement: {id: IEA-1, expires: 2028-06-30}
    share: [bolo]
    accept: [bolo]
patterns:
  source:
    regex: ['\\bCI-\\d+\\b']
detectors:
  - id: informant.source
    action: strip
    when: [source]
"""


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} found on lines {hits}"
    return hits[0]


def problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(PolicyLoadError) as info:
        load_policy(text, source="agency.yaml", today=TODAY)
    return info.value.problems


def test_small_policy_loads():
    policy = load_policy(SMALL, source="agency.yaml", today=TODAY)
    assert set(policy.partners) == {"MA9990200"}
    assert [d.id for d in policy.detectors] == ["informant.source"]


def test_baseline_policy_loads(baseline):
    assert baseline.ori == "CT9990100"
    assert {"MA9990200", "NY9990300", "RI9990400"} <= set(baseline.partners)
    assert len(baseline.detectors) >= 10


CASES = {
    "unknown_key": (
        ("  state: CT\n", "  state: CT\n  colour: blue\n"),
        "colour: blue",
        "unknown key 'colour'",
    ),
    "unknown_detector_key": (
        ("    action: strip\n", "    action: strip\n    severity: high\n"),
        "severity: high",
        "unknown key 'severity'",
    ),
    "duplicate_key": (
        ("  state: CT\n", "  state: CT\n  name: Other PD\n"),
        "name: Other PD",
        "duplicate key 'name'",
    ),
    "bad_regex": (
        ("['\\bCI-\\d+\\b']", "['(CI-\\d+']"),
        "(CI-",
        "bad regex in pattern set 'source'",
    ),
    "bad_partner_ori": (("  - ori: MA9990200", "  - ori: ma-99902"), "ma-99902", "ori"),
    "bad_agency_ori": (("  ori: CT9990100", "  ori: CT99901"), "CT99901", "ori"),
    "expired_agreement": (("2028-06-30", "2025-01-31"), "2025-01-31", "expired"),
    "share_topic_not_in_topics": (
        ("share: [bolo]", "share: [bolo, homicide]"),
        "homicide",
        "topic 'homicide'",
    ),
    "accept_topic_not_in_topics": (
        ("accept: [bolo]", "accept: [gangs]"),
        "gangs",
        "topic 'gangs'",
    ),
    "detector_unknown_pattern_set": (
        ("when: [source]", "when: [source_words]"),
        "source_words",
        "unknown pattern set 'source_words'",
    ),
    "yaml_syntax_error": (
        ("  name: Havenport PD", "  name: Havenport PD: Main St"),
        "Havenport PD: Main St",
        "YAML syntax error",
    ),
    "bad_detector_action": (("action: strip", "action: shred"), "shred", "action"),
    "unknown_partner_kind": (
        ("kind: law_enforcement", "kind: private_eye"),
        "private_eye",
        "partner kind",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_error_names_the_right_line(case):
    (old, new), needle, words = CASES[case]
    assert old in SMALL
    text = SMALL.replace(old, new, 1)
    found = problems(text)
    assert (line_of(text, needle), words) in [(line, words) for line, msg in found if words in msg]


def test_empty_file_is_a_problem_on_line_1():
    assert problems("") == [(1, "empty document")]
    assert problems("\n# only a comment\n") == [(1, "empty document")]


def test_policy_without_detectors_is_refused():
    found = problems(SMALL.split("patterns:")[0])
    assert any("no detectors" in msg for _, msg in found)


def test_every_problem_is_reported_at_once():
    text = (
        SMALL.replace("  state: CT\n", "  state: CT\n  colour: blue\n")
        .replace("2028-06-30", "2025-01-31")
        .replace("when: [source]", "when: [nosuch]")
        .replace("share: [bolo]", "share: [homicide]")
    )
    found = problems(text)
    assert [line for line, _ in found] == sorted(
        [
            line_of(text, "colour"),
            line_of(text, "2025-01-31"),
            line_of(text, "homicide"),
            line_of(text, "nosuch"),
        ]
    )


def test_load_error_lines_are_file_colon_line_colon_message():
    text = SMALL.replace("2028-06-30", "2025-01-31").replace("when: [source]", "when: [nosuch]")
    with pytest.raises(PolicyLoadError) as info:
        load_policy(text, source="policies/agency.yaml", today=TODAY)
    assert info.value.lines() == [
        f"policies/agency.yaml:{line_of(text, '2025-01-31')}: "
        "agreement IEA-1 expired on 2025-01-31",
        f"policies/agency.yaml:{line_of(text, 'nosuch')}: unknown pattern set 'nosuch'",
    ]
    assert str(info.value) == "\n".join(info.value.lines())


def test_load_error_never_quotes_the_bad_value_beyond_the_key():
    """Problems name keys and lines; a secret-looking value is not echoed back."""
    text = SMALL.replace("  state: CT\n", "  state: CT\n  colour: hunter2-secret\n")
    assert all("hunter2-secret" not in msg for _, msg in problems(text))


# --- extends and disable ------------------------------------------------------------------

CHILD = """\
version: "child-1"
extends: baseline.yaml
agency: {ori: NY9990300, name: Eastfield PD, state: NY}
topics: [bolo]
partners:
  - ori: CT9990100
    name: Havenport PD
    kind: law_enforcement
    agreement: {id: IEA-NY-CT-9, expires: 2028-01-01}
    share: [bolo]
    accept: [bolo]
disable: [medical.detail]
"""

SOURCE_LINE = "CI-8812 says the buyer meets sellers behind the Orchard Ln laundromat."
MEDICAL_LINE = "Subject was prescribed medication for a heart condition."
SAFE_LINE = "Suspect vehicle: tan 2011 Toyota Sienna, NY reg HJK-2210, heading east."


@pytest.fixture(scope="module")
def child(tmp_path_factory, now):
    """CHILD read from a directory next to a copy of the baseline, as ``relay`` reads it."""
    where = tmp_path_factory.mktemp("policies")
    (where / "baseline.yaml").write_text(
        (BASELINE_DIR / "baseline.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (where / "child.yaml").write_text(CHILD, encoding="utf-8")
    return read_policy(str(where / "child.yaml"), now.date())


def _event(*lines: str) -> SlackMessage:
    return parse_event({"type": "message", "user": "U0X", "ts": "1.1", "text": "\n".join(lines)})


def test_extends_inherits_the_base_rules_but_not_its_partners(child, now, baseline):
    assert child.ori == "NY9990300"
    assert set(child.partners) == {"CT9990100"}
    assert {d.id for d in child.detectors} == {d.id for d in baseline.detectors} - {
        "medical.detail"
    }
    decision = evaluate_outbound(
        _event(SAFE_LINE, SOURCE_LINE), child, "CT9990100", "bolo", now=now
    )
    assert decision.action == "redact"
    assert [r.rule for r in decision.reasons] == ["informant.source"]
    assert decision.message is not None
    assert "Orchard" not in decision.message.text


def test_disable_removes_a_detector(child, now, baseline):
    message = _event(SAFE_LINE, MEDICAL_LINE)
    base = evaluate_outbound(message, baseline, "NY9990300", "bolo", now=now)
    assert base.action == "redact"
    assert [r.rule for r in base.reasons] == ["medical.detail"]
    mine = evaluate_outbound(message, child, "CT9990100", "bolo", now=now)
    assert mine.action == "forward"
    assert mine.message is not None
    assert MEDICAL_LINE in mine.message.text


def test_extends_with_an_injected_resolver(now):
    """``load_policy`` itself reads nothing: ``extends`` goes through ``resolve``."""
    asked: list[str] = []

    def resolve(name: str) -> tuple[str, str]:
        asked.append(name)
        return SMALL, name

    text = CHILD.replace("disable: [medical.detail]\n", "")
    policy = load_policy(text, source="child.yaml", today=now.date(), resolve=resolve)
    assert asked == ["baseline.yaml"]
    assert [d.id for d in policy.detectors] == ["informant.source"]
    assert set(policy.partners) == {"CT9990100"}


def test_extends_without_a_resolver_is_a_problem(now):
    with pytest.raises(PolicyLoadError) as info:
        load_policy(CHILD, source="child.yaml", today=now.date())
    assert line_of(CHILD, "extends:") in [line for line, _ in info.value.problems]


def test_extends_a_missing_base_names_the_extends_line(now):
    def missing(name: str) -> tuple[str, str]:
        raise OSError(name)

    with pytest.raises(PolicyLoadError) as info:
        load_policy(CHILD, source="child.yaml", today=now.date(), resolve=missing)
    assert (line_of(CHILD, "extends:"), "base policy 'baseline.yaml' not found") in (
        info.value.problems
    )


def test_extends_a_broken_base_names_the_extends_line(now):
    def broken(name: str) -> tuple[str, str]:
        return SMALL.replace("when: [source]", "when: [nosuch]"), name

    with pytest.raises(PolicyLoadError) as info:
        load_policy(CHILD, source="child.yaml", today=now.date(), resolve=broken)
    lines = [line for line, msg in info.value.problems if "does not load" in msg]
    assert lines == [line_of(CHILD, "extends:")]


# --- partner, topic and agreement decisions -----------------------------------------------


def test_unknown_partner_is_blocked(baseline, now):
    decision = evaluate_outbound(_event(SAFE_LINE), baseline, "VT9990500", "bolo", now=now)
    assert decision.action == "block"
    assert decision.message is None
    assert [(r.rule, r.count) for r in decision.reasons] == [("partner_unknown", 1)]


@pytest.mark.parametrize("topic", ["homicide", "", "BOLO"])
def test_topic_not_shared_is_blocked(topic, baseline, now):
    decision = evaluate_outbound(_event(SAFE_LINE), baseline, "MA9990200", topic, now=now)
    assert decision.action == "block"
    assert [r.rule for r in decision.reasons] == ["topic_not_shared"]


def test_topic_outside_the_partners_share_list_is_blocked(now):
    policy = load_policy(SMALL, source="agency.yaml", today=TODAY)
    decision = evaluate_outbound(_event(SAFE_LINE), policy, "MA9990200", "narcotics", now=now)
    assert [r.rule for r in decision.reasons] == ["topic_not_shared"]
    inbound = evaluate_inbound(_event(SAFE_LINE), policy, "MA9990200", "narcotics", now=now)
    assert [r.rule for r in inbound.reasons] == ["topic_not_accepted"]


def test_inbound_unknown_partner_is_blocked(baseline, now):
    decision = evaluate_inbound(_event(SAFE_LINE), baseline, "VT9990500", "bolo", now=now)
    assert [r.rule for r in decision.reasons] == ["partner_unknown"]


def test_agreement_that_expires_after_loading_blocks(now):
    """Loaded while valid, evaluated after its expiry date: nothing leaves."""
    text = SMALL.replace("2028-06-30", "2026-12-31")
    policy = load_policy(text, source="agency.yaml", today=now.date())
    valid = evaluate_outbound(_event(SAFE_LINE), policy, "MA9990200", "bolo", now=now)
    assert valid.action == "forward"
    later = now + dt.timedelta(days=36)
    for evaluate in (evaluate_outbound, evaluate_inbound):
        decision = evaluate(_event(SAFE_LINE), policy, "MA9990200", "bolo", now=later)
        assert decision.action == "block"
        assert [r.rule for r in decision.reasons] == ["agreement_expired"]


def test_agreement_is_valid_through_its_expiry_day(now):
    text = SMALL.replace("2028-06-30", "2026-12-31")
    policy = load_policy(text, source="agency.yaml", today=now.date())
    last_day = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)
    decision = evaluate_outbound(_event(SAFE_LINE), policy, "MA9990200", "bolo", now=last_day)
    assert decision.action == "forward"
