"""The shadow policy: every outbound message judged again by a candidate policy
(``policy_candidate`` in relay.yaml), after the policy in force has decided and its envelopes
are queued. Only the policy in force decides what leaves: the candidate's decisions are
compared with it (:mod:`relay.core.policy.compare`), counted in metrics, and now and then
handed to a :class:`ShadowSink` as a sample; a candidate that fails is an error counted,
never a message held back.

Samples are bounded: at most one per partner and kind every ``sample_every`` (the review
queue's sink posts each to the review channel as "the candidate policy would have ...").
Nothing here logs, counts or raises with message text: partners, kinds, rule ids, ids.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Protocol

import structlog

from relay.core.model import SlackMessage
from relay.core.policy.compare import Difference, Kind, compare_all
from relay.core.policy.decision import Decision
from relay.core.policy.engine import evaluate_outbound_all
from relay.core.policy.model import Policy
from relay.core.policy.outbound import OutboundMessage

if TYPE_CHECKING:
    from relay.metrics import RelayMetrics

__all__ = ["CountingSink", "Shadow", "ShadowSink"]

log = structlog.get_logger("relay.flow")
SAMPLE_TIMEOUT: Final = 5.0  # seconds a sink may take before the sample counts as failed


class ShadowSink(Protocol):
    """Where samples of the candidate's differences go (the review channel, later).

    ``envelope_id``, ``channel`` and ``ts`` name the message in this agency's workspace;
    ``current`` and ``candidate`` are what ``partner`` receives under the policy in force and
    would receive under the candidate (None: blocked). ``rules`` are the rule ids behind the
    difference. Called on the outbound path with a timeout (:data:`SAMPLE_TIMEOUT`): a sink
    that posts to Slack should return promptly; whatever it raises is counted and dropped."""

    async def sample(
        self,
        *,
        envelope_id: str,
        channel: str,
        ts: str,
        topic: str,
        partner: str,
        kind: Kind,
        rules: tuple[str, ...],
        current: OutboundMessage | None,
        candidate: OutboundMessage | None,
    ) -> None: ...


class CountingSink:
    """The default sink: takes each sample and counts it, per (partner, kind); nothing else.
    Bounded: partners and kinds are closed sets."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, Kind]] = Counter()

    async def sample(
        self,
        *,
        envelope_id: str,
        channel: str,
        ts: str,
        topic: str,
        partner: str,
        kind: Kind,
        rules: tuple[str, ...],
        current: OutboundMessage | None,
        candidate: OutboundMessage | None,
    ) -> None:
        self.counts[(partner, kind)] += 1


class Shadow:
    """The candidate policy beside the policy in force (see the module docstring)."""

    def __init__(
        self,
        *,
        candidate: Policy,
        metrics: RelayMetrics,
        sink: ShadowSink | None = None,
        sample_every: dt.timedelta,
    ) -> None:
        self.candidate = candidate
        self.metrics = metrics
        self.sink: ShadowSink = sink if sink is not None else CountingSink()
        self.sample_every = sample_every
        self._sampled: dict[tuple[str, Kind], dt.datetime] = {}  # last sample per partner+kind

    async def judge(
        self,
        message: SlackMessage,
        topic: str,
        envelope_id: str,
        current: Mapping[str, Decision],
        now: dt.datetime,
    ) -> dict[str, Difference]:
        """Judge ``message`` by the candidate, count how it differs from ``current`` (the
        decisions in force), sample what is due. Never raises (but for cancellation)."""
        try:
            candidate = evaluate_outbound_all(message, self.candidate, topic, now=now)
            differences = compare_all(current, candidate)
        except Exception as exc:  # noqa: BLE001 - a candidate's failure never stops the flow
            self.metrics.shadow_failed("judge")
            log.warning("shadow_judge_failed", envelope=envelope_id, error=type(exc).__name__)
            return {}
        for partner, diff in differences.items():
            self.metrics.shadow_judged_for(partner)
            for kind in diff.kinds:
                rules = diff.rules_for(kind)
                self.metrics.shadow_difference(partner, kind.value, rules)
                if not self._due(partner, kind, now):
                    continue
                now_view, then_view = current.get(partner), candidate.get(partner)
                await self._sample(
                    envelope_id=envelope_id,
                    channel=str(message.channel or ""),
                    ts=str(message.ts or ""),
                    topic=topic,
                    partner=partner,
                    kind=kind,
                    rules=rules,
                    current=now_view.message if now_view is not None else None,
                    candidate=then_view.message if then_view is not None else None,
                )
        return differences

    def _due(self, partner: str, kind: Kind, now: dt.datetime) -> bool:
        last = self._sampled.get((partner, kind))
        if last is not None and now - last < self.sample_every:
            return False
        self._sampled[(partner, kind)] = now
        return True

    async def _sample(
        self,
        *,
        envelope_id: str,
        channel: str,
        ts: str,
        topic: str,
        partner: str,
        kind: Kind,
        rules: tuple[str, ...],
        current: OutboundMessage | None,
        candidate: OutboundMessage | None,
    ) -> None:
        try:
            async with asyncio.timeout(SAMPLE_TIMEOUT):
                await self.sink.sample(
                    envelope_id=envelope_id,
                    channel=channel,
                    ts=ts,
                    topic=topic,
                    partner=partner,
                    kind=kind,
                    rules=rules,
                    current=current,
                    candidate=candidate,
                )
        except Exception as exc:  # noqa: BLE001 - a sink's failure never stops the flow
            self.metrics.shadow_failed("sample")
            log.warning("shadow_sample_failed", envelope=envelope_id, error=type(exc).__name__)
