"""The envelope's ``marking`` claim: the highest portion mark among the lines that leave,
after the policy; absent when nothing that leaves is marked (issue 15)."""

from __future__ import annotations

import pytest

from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.marking import Mark, parse_portion, portion_text
from relay.core.policy.model import Level, Policy
from relay.core.slack_parse import parse_event
from tests.conftest import NOW, message_event


def marking(policy: Policy, text: str) -> str | None:
    decision = evaluate_outbound(
        parse_event(message_event(text)), policy, "MA9990200", "bolo", now=NOW
    )
    assert decision.message is not None, decision.reasons
    return decision.marking


BODY = "white 2012 sedan northbound on the interstate near exit 41 this morning"


def test_an_unmarked_message_carries_no_marking(baseline: Policy) -> None:
    assert marking(baseline, f"BOLO: {BODY}") is None


def test_the_highest_surviving_portion_mark_is_the_marking(baseline: Policy) -> None:
    text = f"(U) BOLO: {BODY}\n(U//LES) suspect is {BODY}"
    assert marking(baseline, text) == "U//LES"


def test_a_mark_above_the_ceiling_is_gone_with_its_line(baseline: Policy) -> None:
    """The CUI Specified line is cut for a partner at the controlled ceiling: what leaves is
    (U//LES), and the marking says so rather than the mark of a line nobody receives."""
    text = f"(U//LES) BOLO: {BODY}\n(CUI//SP-INV) case detail {BODY}"
    assert marking(baseline, text) == "U//LES"


def test_unmarked_lines_take_the_highest_mark_in_the_message(baseline: Policy) -> None:
    assert marking(baseline, f"(U//FOUO) BOLO: {BODY}\nmore: {BODY}") == "U//FOUO"


@pytest.mark.parametrize(
    ("portion", "claim"),
    [
        ("(U)", "U"),
        ("(U//LES)", "U//LES"),
        ("(CUI)", "CUI"),
        ("(CUI//SP-INV)", "CUI//SP-INV"),
        ("(CUI//SP-CHRI//NOFORN)", "CUI//SP-CHRI//NOFORN"),
        ("(U//REL TO USA, FVEY)", "U//REL TO USA FVEY"),
    ],
)
def test_portion_text_fits_the_claims_pattern(portion: str, claim: str) -> None:
    found = parse_portion(portion + " x")
    assert found is not None
    assert portion_text(found[0]) == claim


def test_portion_text_of_a_plain_unclassified_mark() -> None:
    assert portion_text(Mark(level=Level.UNCLASSIFIED, family="U")) == "U"
