"""The policy engine: one Slack message, one partner, one topic -> a :class:`Decision`.

Order (domain brief §6): partner and topic checks; what the relay cannot evaluate (unknown
fields, ignored subtypes, bots not federated, file types); classified markings anywhere; keep
only what follows the last tearline; drop portions above the partner's ceiling; block
detectors; strip detectors; Slack references and links; block when nothing of substance is
left. Reasons are rule ids with counts, never matched text.
"""

from __future__ import annotations

import datetime as dt

from relay.core.model import SlackMessage
from relay.core.policy.analysis import Analysis, analyze
from relay.core.policy.decide import decide
from relay.core.policy.decision import Decision, RuleCount, block_decision
from relay.core.policy.explain import UnitView, explain
from relay.core.policy.model import Partner, Policy
from relay.core.reasons import Reason

__all__ = [
    "Analysis",
    "Decision",
    "RuleCount",
    "UnitView",
    "analyze",
    "decide",
    "evaluate_inbound",
    "evaluate_outbound",
    "evaluate_outbound_all",
    "evaluate_relay",
    "explain",
    "judge",
]


def evaluate_outbound(
    message: SlackMessage, policy: Policy, partner: str, topic: str, *, now: dt.datetime
) -> Decision:
    """What ``partner`` may receive of ``message`` posted in ``topic``."""
    p = policy.partners.get(partner)
    if p is None:
        return block_decision((Reason.PARTNER_UNKNOWN, 1))
    refused = _refuse_outbound(policy, p, topic, now)
    if refused is not None:
        return refused
    return judge(message, policy, p, now=now)


def evaluate_inbound(
    message: SlackMessage, policy: Policy, partner: str, topic: str, *, now: dt.datetime
) -> Decision:
    """The receiving agency's own rules over what ``partner`` sent in ``topic``."""
    refused = _refuse_inbound(policy, partner, topic, now)
    if refused is not None:
        return refused
    return judge(message, policy, None, now=now)


def _refuse_outbound(policy: Policy, p: Partner, topic: str, now: dt.datetime) -> Decision | None:
    """The block for a partner this agency does not share ``topic`` with today, or None."""
    if topic not in policy.topics or topic not in p.share:
        return block_decision((Reason.TOPIC_NOT_SHARED, 1))
    if now.date() > p.agreement_expires:
        return block_decision((Reason.AGREEMENT_EXPIRED, 1))
    return None


def _refuse_inbound(policy: Policy, partner: str, topic: str, now: dt.datetime) -> Decision | None:
    """The block for a sender this agency does not accept ``topic`` from today, or None."""
    p = policy.partners.get(partner)
    if p is None:
        return block_decision((Reason.PARTNER_UNKNOWN, 1))
    if topic not in policy.topics or topic not in p.accept:
        return block_decision((Reason.TOPIC_NOT_ACCEPTED, 1))
    if now.date() > p.agreement_expires:
        return block_decision((Reason.AGREEMENT_EXPIRED, 1))
    return None


def judge(
    message: SlackMessage, policy: Policy, partner: Partner | None, *, now: dt.datetime
) -> Decision:
    """Apply ``policy`` to ``message`` for ``partner`` (None: the agency's own inbound view)."""
    return decide(analyze(message, policy, now=now), partner)


def evaluate_outbound_all(
    message: SlackMessage, policy: Policy, topic: str, *, now: dt.datetime
) -> dict[str, Decision]:
    """:func:`evaluate_outbound` for every partner of ``policy``, analysing the message once."""
    return _outbound_all(message, policy, topic, now, None)


def evaluate_relay(
    message: SlackMessage, policy: Policy, sender: str, topic: str, *, now: dt.datetime
) -> tuple[Decision, dict[str, Decision]]:
    """What a relay decides of ``message`` received from ``sender`` in ``topic``: the same
    as :func:`evaluate_inbound` and :func:`evaluate_outbound_all`, analysing it once."""
    analysis: Analysis | None = None
    inbound = _refuse_inbound(policy, sender, topic, now)
    if inbound is None:
        analysis = analyze(message, policy, now=now)
        inbound = decide(analysis, None)
    return inbound, _outbound_all(message, policy, topic, now, analysis)


def _outbound_all(
    message: SlackMessage,
    policy: Policy,
    topic: str,
    now: dt.datetime,
    analysis: Analysis | None,
) -> dict[str, Decision]:
    out: dict[str, Decision] = {}
    for ori, p in policy.partners.items():
        refused = _refuse_outbound(policy, p, topic, now)
        if refused is not None:
            out[ori] = refused
        else:
            if analysis is None:
                analysis = analyze(message, policy, now=now)
            out[ori] = decide(analysis, p)
    return out
