"""Comparing a current and a candidate decision (:mod:`relay.core.policy.compare`): by hand,
through the engine with a stricter and a looser candidate, and as properties (swapping the
two sides swaps more and less; a decision compared with itself differs in nothing)."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st

from relay.commands.policy import simple_case_to_event
from relay.core.model import MessageKind
from relay.core.policy.compare import Kind, compare, compare_all
from relay.core.policy.decision import Decision, RuleCount, block_decision
from relay.core.policy.engine import evaluate_outbound_all
from relay.core.policy.load import load_policy
from relay.core.policy.model import Action, Policy
from relay.core.policy.outbound import OutboundMessage
from relay.core.slack_parse import parse_event
from tests.conftest import BASELINE_PATH, NOW

MA = "MA9990200"
_SENT = OutboundMessage(kind=MessageKind.POST)


def _sent(
    lines: set[int],
    files: Iterable[int] = (),
    trace: Iterable[tuple[int, str]] = (),
    rules: Iterable[str] = (),
) -> Decision:
    trace = tuple(trace)
    fired = {*rules, *(rule for _, rule in trace)}
    reasons = tuple(RuleCount(rule=r, count=1) for r in sorted(fired))
    return Decision(
        action=Action.REDACT if reasons else Action.FORWARD,
        message=_SENT,
        reasons=reasons,
        kept_lines=frozenset(lines),
        kept_files=frozenset(files),
        trace=tuple(trace),
    )


_MEDICAL = (
    "  - id: medical.detail\n    action: strip\n"
    "    reviewable: true          # with review.redactions on, a supervisor may keep it\n"
    "    when: [[medical, medical_es_pt]]\n"
)


def _variant(old: str, new: str) -> Policy:
    text = BASELINE_PATH.read_text(encoding="utf-8")
    assert old in text
    return load_policy(text.replace(old, new), source="candidate.yaml", today=NOW.date())


def _judge(policy: Policy, text: str) -> Decision:
    message = parse_event(simple_case_to_event({"text": text, "channel": "#bolo"}))
    return evaluate_outbound_all(message, policy, "bolo", now=NOW)[MA]


def test_the_same_decision_differs_in_nothing() -> None:
    d = _sent({0, 1}, trace=[(2, "informant.source")], rules=["informant.source"])
    assert not compare(d, d).changed
    assert not compare(block_decision(("x", 1)), block_decision(("x", 1))).changed


def test_a_candidate_that_blocks_what_the_current_sends_blocks_more() -> None:
    diff = compare(_sent({0}), block_decision(("medical.detail", 1)))
    assert diff.kinds == (Kind.MORE_BLOCKED,)
    assert diff.rules_for(Kind.MORE_BLOCKED) == ("medical.detail",)
    assert diff.started == ("medical.detail",)
    assert compare(block_decision(("medical.detail", 1)), _sent({0})).kinds == (Kind.LESS_BLOCKED,)


def test_a_rule_turning_from_strip_to_block_names_it_though_it_fired_before() -> None:
    current = _sent({0}, trace=[(1, "medical.detail")], rules=["medical.detail"])
    diff = compare(current, block_decision(("medical.detail", 1)))
    assert diff.kinds == (Kind.MORE_BLOCKED,)
    assert diff.rules_for(Kind.MORE_BLOCKED) == ("medical.detail",)
    assert diff.started == diff.stopped == ()


def test_a_line_the_candidate_no_longer_sends_as_written_is_more_stripped() -> None:
    diff = compare(_sent({0, 1}), _sent({0}, trace=[(1, "pii.ssn")], rules=["pii.ssn"]))
    assert diff.kinds == (Kind.MORE_STRIPPED,)
    assert diff.rules_for(Kind.MORE_STRIPPED) == ("pii.ssn",)


def test_a_file_the_candidate_neutralises_is_more_stripped() -> None:
    diff = compare(_sent({0}, {0}), _sent({0}, set(), rules=["informant.identity"]))
    assert diff.kinds == (Kind.MORE_STRIPPED,)


def test_each_side_removing_what_the_other_keeps_is_both_kinds() -> None:
    a = _sent({0}, trace=[(1, "pii.ssn")], rules=["pii.ssn"])
    b = _sent({1}, trace=[(0, "medical.detail")], rules=["medical.detail"])
    diff = compare(a, b)
    assert diff.kinds == (Kind.LESS_STRIPPED, Kind.MORE_STRIPPED)
    assert diff.rules_for(Kind.MORE_STRIPPED) == ("medical.detail",)
    assert diff.rules_for(Kind.LESS_STRIPPED) == ("pii.ssn",)


def test_a_block_for_other_reasons_is_rules_changed() -> None:
    diff = compare(block_decision(("a", 1)), block_decision(("b", 1)))
    assert diff.kinds == (Kind.RULES_CHANGED,)
    assert (diff.started, diff.stopped) == (("b",), ("a",))


def test_a_partner_only_the_candidate_knows_is_less_blocked() -> None:
    diffs = compare_all({}, {MA: _sent({0})})
    assert diffs[MA].kinds == (Kind.LESS_BLOCKED,)
    assert diffs[MA].stopped == ("partner_unknown",)


def test_through_the_engine_a_stricter_candidate_blocks_what_it_stripped(
    baseline: Policy,
) -> None:
    strict = _variant(
        "  - id: medical.detail\n    action: strip", "  - id: medical.detail\n    action: block"
    )
    text = (
        "BOLO grey Honda Civic, CT reg 3KD-119, driver wanted for the Whitney Ave robbery. "
        "The driver is diabetic and takes insulin daily."
    )
    current, candidate = _judge(baseline, text), _judge(strict, text)
    assert current.action is Action.REDACT
    diff = compare(current, candidate)
    assert diff.kinds == (Kind.MORE_BLOCKED,)
    assert diff.rules_for(Kind.MORE_BLOCKED) == ("medical.detail",)
    assert compare(candidate, current).kinds == (Kind.LESS_BLOCKED,)
    plain = "BOLO grey Honda Civic, CT reg 3KD-119, last seen on Route 9 heading north."
    assert not compare(_judge(baseline, plain), _judge(strict, plain)).changed


def test_through_the_engine_a_looser_candidate_keeps_a_medical_sentence(
    baseline: Policy,
) -> None:
    loose = _variant(_MEDICAL, "")
    text = (
        "BOLO grey Honda Civic, CT reg 3KD-119, driver wanted for the Whitney Ave robbery. "
        "The driver is diabetic and takes insulin daily."
    )
    current, candidate = _judge(baseline, text), _judge(loose, text)
    diff = compare(current, candidate)
    assert diff.kinds == (Kind.LESS_STRIPPED,), (current.reasons, candidate.reasons)
    assert "medical.detail" in diff.stopped


_rules = st.lists(st.sampled_from(["a", "b", "c", "pii.ssn"]), max_size=3)
_units = st.sets(st.integers(0, 5), max_size=6)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    if draw(st.booleans()):
        rules = draw(_rules) or ["x"]
        return block_decision(*((r, 1) for r in sorted(set(rules))))
    trace = [(u, draw(st.sampled_from(["a", "b", "c"]))) for u in draw(_units)]
    return _sent(draw(_units), draw(st.sets(st.integers(0, 2))), trace, draw(_rules))


@given(decisions(), decisions())
def test_swapping_current_and_candidate_swaps_more_and_less(a: Decision, b: Decision) -> None:
    assert compare(b, a) == compare(a, b).mirrored()


@given(decisions())
def test_a_decision_compared_with_itself_never_differs(a: Decision) -> None:
    assert not compare(a, a).changed


@given(decisions(), decisions())
def test_the_rules_behind_a_kind_are_rules_its_side_fired(a: Decision, b: Decision) -> None:
    diff = compare(a, b)
    fired_a, fired_b = ({r.rule for r in d.reasons} for d in (a, b))
    for kind in diff.kinds:
        side = fired_b if kind.startswith("more_") else fired_a
        if kind is Kind.RULES_CHANGED:
            side = fired_a ^ fired_b
        assert set(diff.rules_for(kind)) <= side
        assert diff.rules_for(kind) or not side
    assert set(diff.started).isdisjoint(diff.stopped)
