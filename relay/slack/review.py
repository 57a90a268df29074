"""The supervisor's review desk in Slack (issue 16): cards in the agency's private review
channel, the buttons and the reason modal, decisions taken once and carried out durably.

* :meth:`ReviewDesk.interaction` answers a ``block_actions`` or ``view_submission`` payload
  within Slack's 3 seconds: a release button opens the reason modal straight away (its
  ``trigger_id`` lives 3 seconds); **Keep blocked** and a submitted modal are stored in the
  inbox (durably) before the acknowledgement, like events.
* :meth:`ReviewDesk.decide` (the inbox worker) carries a stored decision out: refused unless
  the clicker is a supervisor and not the author; taken once (the store's ``decide_review``);
  a release queues the envelopes through :meth:`relay.flow.outbound.Outbound.release` in the
  transaction that records the decision in the ledger (reviewer, reason code, policy version;
  never the comment); the card is updated in place and the author told.
* :meth:`ReviewDesk.run` posts new cards, refreshes changed ones and expires old ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any, Final

import structlog

from relay.config_schema import ReviewConfig
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.model import Action, Policy
from relay.core.policy.review import ReviewMode, message_digest, variant
from relay.errors import DeliveryError
from relay.flow.outbound import Declined, Outbound
from relay.flow.records import Recorder
from relay.slack.events import EventSink
from relay.slack.publisher import Publisher
from relay.slack.review_board import ReviewBoard, partners_of
from relay.slack.review_card import (
    KEEP,
    RELEASE,
    modal_view,
    read_submission,
)
from relay.slack.supervisors import Supervision
from relay.slack.web import SlackCaller, message_at
from relay.store.aio import AsyncStore
from relay.store.contract import ReviewRow

__all__ = ["DECISION", "ReviewDesk"]

log = structlog.get_logger("relay.slack")
DECISION: Final = "review_decision"  # the inbox document type of a stored decision
_BATCH: Final = 20


class ReviewDesk:
    def __init__(
        self,
        *,
        agency: str,
        team: str,
        config: ReviewConfig,
        policy: Policy,
        publisher: Publisher,
        outbound: Outbound,
        caller: SlackCaller,
        supervision: Supervision,
        store: AsyncStore,
        recorder: Recorder,
        sink: EventSink,
        board: ReviewBoard,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.agency, self.team, self.config, self.policy = agency, team, config, policy
        self.publisher, self.outbound, self.caller = publisher, outbound, caller
        self.supervision, self.aio, self.store = supervision, store, store.store
        self.recorder, self.sink, self.board, self.clock = recorder, sink, board, clock

    # -- the 3-second answer -------------------------------------------------------------
    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What to answer Slack (None: an empty 200). Never raises for a payload's shape."""
        user = payload.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str):
            return None
        if payload.get("type") == "block_actions":
            actions = payload.get("actions")
            action = actions[0] if isinstance(actions, list) and actions else None
            if not isinstance(action, dict):
                return None
            action_id, review_id = action.get("action_id"), action.get("value")
            if not isinstance(action_id, str) or not isinstance(review_id, str):
                return None
            if action_id == KEEP:
                await self._store(
                    review_id, user_id, "kept", "", "", "", str(action.get("action_ts"))
                )
            elif action_id.startswith(RELEASE):
                await self._open_modal(payload, review_id, user_id, action_id[len(RELEASE) :])
            return None
        if payload.get("type") == "view_submission":
            view = payload.get("view")
            if not isinstance(view, dict):
                return None
            got = read_submission(view)
            if got is None:
                return None
            review_id, mode, code, comment = got
            if code not in self.config.reasons or mode not in set(ReviewMode):
                return {
                    "response_action": "errors",
                    "errors": {"reason": "Choose a listed reason"},
                }
            await self._store(
                review_id, user_id, "released", mode, code, comment, str(view.get("id"))
            )
        return None

    async def _open_modal(
        self, payload: dict[str, Any], review_id: str, user: str, mode: str
    ) -> None:
        row = await self.aio.review(review_id)
        if row is None or mode not in set(ReviewMode):
            return
        refusal = await self._refusal(user, row)
        if refusal:
            await self.board.ephemeral(self.config.channel, user, refusal)
            return
        partners = [p for p, modes in partners_of(row) if ReviewMode(mode) in modes]
        names = [
            self.policy.partners[p].name if p in self.policy.partners else p for p in partners
        ]
        view = modal_view(
            review_id=review_id, mode=ReviewMode(mode), reasons=self.config.reasons, partners=names
        )
        trigger = payload.get("trigger_id")
        with contextlib.suppress(DeliveryError):
            await self.caller.api("views.open", trigger_id=str(trigger), view=view)

    async def _store(
        self,
        review_id: str,
        user: str,
        outcome: str,
        mode: str,
        reason: str,
        comment: str,
        nonce: str,
    ) -> None:
        """The decision in the inbox, durably, before Slack is answered."""
        doc = {
            "type": DECISION,
            "review": review_id,
            "user": user,
            "outcome": outcome,
            "mode": mode,
            "reason": reason,
            "comment": comment,
        }
        key = hashlib.sha256(f"{review_id}\n{user}\n{outcome}\n{nonce}".encode()).hexdigest()
        body = json.dumps(doc, ensure_ascii=False).encode()
        await self.sink.take_slack_event(
            team=self.team, event_id=f"review.{key[:40]}", body=body, doc=doc
        )

    async def _refusal(self, user: str, row: ReviewRow) -> str | None:
        if row.state not in ("pending", "open"):
            by = f" by <@{row.decided_by}>" if row.decided_by else ""
            return f"Relay: this review is closed already ({row.state}{by}); nothing changed."
        if user == row.author:
            return "Relay: nobody decides on their own post; another supervisor must."
        if await self.supervision.rule(user) is None:
            return "Relay: only a supervisor (slack.supervisors) may decide on a held post."
        return None

    # -- carrying a decision out (the inbox worker) ----------------------------------------
    async def decide(self, key: str, doc: dict[str, Any]) -> None:
        row = await self.aio.review(str(doc.get("review")))
        user, outcome = str(doc.get("user")), str(doc.get("outcome"))
        if row is None or outcome not in ("kept", "released"):
            return
        refusal = await self._refusal(user, row)
        if refusal:
            await self.board.ephemeral(self.config.channel, user, refusal)
            return
        mode, reason = str(doc.get("mode") or ""), str(doc.get("reason") or "")
        now = self.clock()
        partners = partners_of(row)
        common = {
            "actor_user": user,
            "actor_agency": self.agency,
            "envelope_id": row.id,
            "topic": row.topic,
            "policy": self.policy.ref,
        }

        def take(records: list[Any]) -> None:
            if not self.store.decide_review(
                row.id, outcome=outcome, by=user, reason=reason, mode=mode, at=now.timestamp()
            ):
                raise Declined("review decided before")
            self.recorder.append(records)

        try:
            if outcome == "kept":
                records = self.recorder.entry(
                    "review", outcome="kept", reason=reason or None, **common
                )
                await self.aio.durable(lambda: take(records))
            else:
                done = await self._release(
                    key, row, ReviewMode(mode), partners, now, take, common, reason
                )
                if not done:
                    return
        except Declined:
            fresh = await self.aio.review(row.id)
            await self.board.ephemeral(
                self.config.channel,
                user,
                await self._refusal(user, fresh or row) or "Relay: decided before.",
            )
            return
        self.board.metrics.decisions.labels(outcome).inc()
        fresh = await self.aio.review(row.id)
        if fresh is not None:
            await self.board.refresh(fresh, comment=str(doc.get("comment") or ""))
        await self.board.tell_author(
            row,
            outcome,
            mode,
            [p for p, m in partners if outcome == "released" and ReviewMode(mode) in m],
        )

    async def _release(
        self,
        key: str,
        row: ReviewRow,
        mode: ReviewMode,
        partners: list[tuple[str, tuple[ReviewMode, ...]]],
        now: dt.datetime,
        take: Callable[[list[Any]], None],
        common: dict[str, Any],
        reason: str,
    ) -> bool:
        message = await message_at(self.caller, row.channel, row.ts)
        out = await self.publisher.released(key, message, row.channel) if message else None
        if out is None or message_digest(out.message) != row.digest:
            # gone, or changed since the card was made: the reviewer saw other words
            await self.aio.close_review(row.id, outcome="superseded", at=now.timestamp())
            await self.board.ephemeral(
                self.config.channel,
                str(common["actor_user"]),
                "Relay: the post was edited or deleted since this card was made; nothing was "
                "released.",
            )
            fresh = await self.aio.review(row.id)
            if fresh is not None:
                await self.board.refresh(fresh)
            return False
        decisions = {}
        for partner, modes in partners:
            if mode in modes:
                d = evaluate_outbound(
                    out.message, variant(self.policy, mode), partner, row.topic, now=now
                )
                if d.action is not Action.BLOCK:
                    decisions[partner] = d
        records = [
            r
            for p in decisions
            for r in self.recorder.entry(
                "review",
                outcome=f"released.{mode.value}",
                destination=p,
                reason=reason or None,
                rules=tuple(self._rules(row, p)),
                **common,
            )
        ]

        def inside() -> None:
            take(records)
            for p in decisions:
                self.store.record_release(row.id, p, mode.value)

        await self.outbound.release(out, decisions, inside=inside)
        return True

    @staticmethod
    def _rules(row: ReviewRow, partner: str) -> list[str]:
        with contextlib.suppress(ValueError, TypeError):
            for p in json.loads(row.partners):
                if isinstance(p, dict) and p.get("partner") == partner:
                    return [str(r) for r in p.get("rules", [])]
        return []
