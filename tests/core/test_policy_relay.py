"""Judging once at a relay: :func:`evaluate_relay` decides exactly what
:func:`evaluate_inbound` and :func:`evaluate_outbound_all` decide, over every corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.commands.policy import simple_case_to_event
from relay.core.model import SlackMessage
from relay.core.policy.content import envelope_content
from relay.core.policy.engine import evaluate_inbound, evaluate_outbound_all, evaluate_relay
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from tests.conftest import NOW

DATA = Path(__file__).resolve().parents[1] / "data"
# (sender, topic): a partner in a shared topic, another partner in another topic, a sender
# this agency does not know (inbound refused, outbound still judged), a topic nobody shares
SENDERS = [
    ("MA9990200", "bolo"),
    ("RI9990400", "narcotics"),
    ("ZZ0000000", "bolo"),
    ("NY9990300", "no-such-topic"),
]


def _messages(corpus: str) -> list[tuple[str, SlackMessage]]:
    out: list[tuple[str, SlackMessage]] = []
    for path in sorted((DATA / corpus).glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        out.append((path.stem, parse_event(simple_case_to_event(case))))
        text = case.get("text")
        if isinstance(text, str):  # as a partner's envelope carries it
            out.append((path.stem + ":envelope", envelope_content(text.splitlines())))
    return out


@pytest.mark.parametrize("corpus", ["corpus", "blind", "heldout"])
def test_judging_once_decides_what_judging_both_ways_decides(
    baseline: Policy, corpus: str
) -> None:
    messages = _messages(corpus)
    assert len(messages) > 20
    for sender, topic in SENDERS:
        for name, message in messages:
            inbound, outbound = evaluate_relay(message, baseline, sender, topic, now=NOW)
            assert inbound == evaluate_inbound(message, baseline, sender, topic, now=NOW), name
            assert outbound == evaluate_outbound_all(message, baseline, topic, now=NOW), name
            assert list(outbound) == list(baseline.partners), name
