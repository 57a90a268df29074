"""Block rules read the text that may leave: a hit only inside a portion cut above the
ceiling does not block the message, a hit in a released portion still does."""

from __future__ import annotations

from typing import Any

from relay.commands.policy import decision_to_wire
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from tests.conftest import NOW, message_event, visible


def _decide(baseline: Policy, text: str) -> dict[str, Any]:
    event = message_event(text)
    decision = evaluate_outbound(parse_event(event), baseline, "MA9990200", "bolo", now=NOW)
    return decision_to_wire(decision)


def test_criminal_history_in_a_cut_portion_does_not_block(baseline: Policy) -> None:
    text = (
        "(U//LES) Wanted: Dario Kessel, W/M 41. (CUI//SP-CHRI) Arrests: 2009 robbery 1st "
        "(conv), 2013 assault 2nd (conv). (U//LES) Vehicle: black Ram 1500, CT AB-77120."
    )
    wire = _decide(baseline, text)
    assert wire["action"] == "redact"
    assert "robbery 1st" not in visible(wire)
    assert "black Ram 1500" in visible(wire)


def test_criminal_history_in_a_released_portion_blocks(baseline: Policy) -> None:
    text = (
        "(U//LES) Wanted: Dario Kessel, W/M 41. (U//LES) Priors for robbery and assault. "
        "(U//LES) Vehicle: black Ram 1500, CT AB-77120."
    )
    assert _decide(baseline, text)["action"] == "block"
