"""The 20 reference examples (domain brief §7) against the baseline policy, in both directions.

Each example says what must go (``must_strip``: absent from the whole JSON decision) and what
must stay (``must_keep``: present in what the partner reads). Outbound is what a partner
receives from us; inbound is our own rules over what a partner sent. Every example runs with
the Hyperscan prefilter on and with plain ``re`` only, and both must decide alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay.commands.policy import run_case, simple_case_to_event
from tests.conftest import Decide

DIRECTIONS = ["outbound", "inbound"]
PATHS = [pytest.param(True, id="fast"), pytest.param(False, id="re_only")]


def _decide(decide: Decide, case: dict[str, Any], direction: str, fast: bool) -> dict[str, Any]:
    topic = case["channel"].lstrip("#")
    return decide(
        simple_case_to_event(case), topic=topic, inbound=direction == "inbound", fast=fast
    )


def test_there_are_twenty_examples_covering_every_action(examples):
    assert len(examples) == 20
    actions = {case["expected"]["action"] for _, case in examples}
    assert actions == {"forward", "redact", "block"}


@pytest.mark.parametrize("fast", PATHS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_example_action_matches(example, direction, fast, decide):
    _, case = example
    wire = _decide(decide, case, direction, fast)
    assert wire["action"] == case["expected"]["action"]


@pytest.mark.parametrize("fast", PATHS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_example_must_strip_absent_from_whole_decision(example, direction, fast, decide, readable):
    _, case = example
    wire = _decide(decide, case, direction, fast)
    everything = json.dumps(wire, ensure_ascii=False) + "\n" + readable(wire)
    leaked = [i for i, s in enumerate(case["expected"]["must_strip"]) if s in everything]
    assert leaked == [], f"must_strip indexes leaked: {leaked}"


@pytest.mark.parametrize("fast", PATHS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_example_must_keep_present_in_what_partner_reads(
    example, direction, fast, decide, readable
):
    _, case = example
    wire = _decide(decide, case, direction, fast)
    seen = readable(wire)
    missing = [s for s in case["expected"]["must_keep"] if s not in seen]
    assert missing == []


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_example_fast_path_and_re_path_decide_alike(example, direction, decide):
    _, case = example
    assert _decide(decide, case, direction, True) == _decide(decide, case, direction, False)


def test_blocked_examples_carry_no_message_and_only_rule_ids(examples, decide):
    for _, case in examples:
        if case["expected"]["action"] != "block":
            continue
        wire = _decide(decide, case, "outbound", True)
        assert wire["message"] is None
        assert wire["reasons"], "a block always names its rule"


def test_run_case_agrees_with_the_examples(examples, baseline, now):
    """The helper behind ``relay policy test`` reports no failures on the reference set."""
    for name, case in examples:
        action, failures = run_case(case, baseline, None, None, now)
        assert (name, action, failures) == (name, case["expected"]["action"], [])


def test_run_case_reports_a_wrong_expectation_by_index_not_text(examples, baseline, now):
    _, case = next(e for e in examples if e[0].startswith("04"))
    wrong = {**case, "expected": {**case["expected"], "action": "forward", "must_keep": ["x-y"]}}
    action, failures = run_case(wrong, baseline, None, None, now)
    assert action == "redact"
    assert failures == ["action redact (expected forward)", "must_keep[0] missing"]
