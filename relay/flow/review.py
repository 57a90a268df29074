"""The supervisor's review queue as the outbound flow sees it (issue 16).

When the policy stops a top-level post for a partner on rules a person may decide on
(``reviewable: true``; with ``slack.review.redactions``, also a redaction by one), a review
row is written in the same transaction as the decision's audit records; the desk
(:mod:`relay.slack.review`) posts the card. An edit of a message under review brings the card
up to date (or closes it when the edit needs no review); an edit of a message a supervisor
released is judged for that partner as the release was (its mode).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from relay.config_schema import ReviewConfig
from relay.core.envelope import EnvelopeKind
from relay.core.policy.decision import Decision, block_decision
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.model import Action, Policy
from relay.core.policy.review import (
    ReviewCase,
    ReviewMode,
    message_digest,
    review_case,
    variant,
)
from relay.flow.outbound import Outgoing
from relay.store.aio import AsyncStore
from relay.store.contract import ReviewRow

__all__ = ["HELD", "ReviewQueue", "cases_json"]

HELD: Final = "review.held"
_HELD_KEPT: Final = 256  # the rule id of a reply held with its post


def cases_json(cases: dict[str, ReviewCase]) -> str:
    """What a review row keeps of its cases: partner, rule ids, modes (ids and codes)."""
    return json.dumps(
        [
            {"partner": p, "rules": list(c.flagged), "modes": [m.value for m in c.views]}
            for p, c in sorted(cases.items())
        ],
        separators=(",", ":"),
    )


class ReviewQueue:
    def __init__(
        self,
        *,
        config: ReviewConfig,
        policy: Policy,
        store: AsyncStore,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.policy = policy
        self.aio = store
        self.store = store.store  # blocking: only inside a durable write
        self._wake = wake
        # envelope id -> the partners its review holds it for (recent posts: the author's note)
        self._held: OrderedDict[str, frozenset[str]] = OrderedDict()

    def wake(self) -> None:
        self._wake()

    def held_for(self, envelope_id: str) -> frozenset[str]:
        """The partners a review was just opened for, for ``envelope_id`` (the author's note
        says "held for a supervisor's review" for them)."""
        return self._held.get(envelope_id, frozenset())

    def on_change(self, wake: Callable[[], None]) -> None:
        """Who to wake when a review is opened or changed (the desk)."""
        self._wake = wake

    def cases(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> dict[str, ReviewCase]:
        """The partners a reviewer may release ``out`` to (cases with something to release)."""
        found: dict[str, ReviewCase] = {}
        for partner, decision in decisions.items():
            if decision.action is Action.FORWARD:
                continue
            case = review_case(
                out.message,
                self.policy,
                partner,
                out.topic,
                decision,
                now=now,
                redactions=self.config.redactions,
            )
            if case is not None and case.releasable:
                found[partner] = case
        return found

    def opened(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> Callable[[], object] | None:
        top_level = out.thread is None and out.message.ts
        if out.kind is EnvelopeKind.EDIT and out.target:
            cases = self.cases(out, decisions, now) if top_level else {}
            target, digest = out.target, message_digest(out.message)
            store = self.store
            if cases:
                partners = cases_json(cases)
                return lambda: store.update_review(target, digest=digest, partners=partners)
            at = now.timestamp()
            return lambda: store.close_review(target, outcome="superseded", at=at)
        if out.kind is not EnvelopeKind.POST or not top_level:
            return None
        cases = self.cases(out, decisions, now)
        if not cases:
            return None
        self._held[out.envelope_id] = frozenset(cases)
        while len(self._held) > _HELD_KEPT:
            self._held.popitem(last=False)
        row = ReviewRow(
            id=out.envelope_id,
            channel=str(out.message.channel),
            ts=str(out.message.ts),
            digest=message_digest(out.message),
            author=out.message.user or "",
            topic=out.topic,
            partners=cases_json(cases),
            policy=self.policy.ref,
            created_at=now.timestamp(),
            expires_at=now.timestamp() + self.config.expire_hours * 3600,
        )
        store = self.store
        return lambda: store.open_review(row)

    async def adjust(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> dict[str, Decision]:
        if out.thread is not None:  # a reply: held while its post is (shared after a release)
            root = await self.aio.review(out.thread)
            if root is not None and root.state in ("pending", "open"):
                held = block_decision((HELD, 1))
                return {partner: held for partner in decisions}
        if out.kind is EnvelopeKind.EDIT and out.target:
            return {**decisions, **await self._edit_decisions(out, decisions, now)}
        return decisions

    async def _edit_decisions(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> dict[str, Decision]:
        """An edit of a released message, for each partner it was released to: judged with
        the units of reviewable rules removed (a supervisor saw the words they released, not
        the edit's), so it updates the copy instead of retracting it."""
        assert out.target is not None  # noqa: S101 - checked by the caller
        changed: dict[str, Decision] = {}
        for partner, decision in decisions.items():
            if decision.action is Action.FORWARD:
                continue
            mode = await self.aio.released_mode(out.target, partner)
            if mode in set(ReviewMode):
                changed[partner] = evaluate_outbound(
                    out.message,
                    variant(self.policy, ReviewMode(mode)),
                    partner,
                    out.topic,
                    now=now,
                )
        return changed
