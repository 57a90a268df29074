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
        team = payload.get("team")
        team_id = team.get("id") if isinstance(team, dict) else None
        if not isinstance(user_id, str) or (self.team and team_id != self.team):
            return None  # another workspace's click is nothing to this agency
        if payload.get("type") == "block_actions":
            actions = payload.get("actions")
            action = actions[0] if isinstance(actions, list) and actions else None
            if not isinstance(action, dict):
                return None
            action_id, value = action.get("action_id"), action.get("value")
            if not isinstance(action_id, str) or not isinstance(value, str):
                return None
            review_id, _, seen = value.partition(" ")  # the card's digest of what it showed
            if action_id == KEEP:
                await self._store(
                    review_id, user_id, "kept", "", "", "", str(action.get("action_ts")), seen
                )
            elif action_id.startswith(RELEASE):
                mode = action_id[len(RELEASE) :]
                await self._open_modal(payload, review_id, user_id, mode, seen)
            return None
        if payload.get("type") == "view_submission":
            view = payload.get("view")
            if not isinstance(view, dict):
                return None
            got = read_submission(view)
            if got is None:
                return None
            review_id, mode, code, comment, seen = got
            if code not in self.config.reasons or mode not in set(ReviewMode):
                return {
                    "response_action": "errors",
                    "errors": {"reason": "Choose a listed reason"},
                }
            await self._store(
                review_id, user_id, "released", mode, code, comment, str(view.get("id")), seen
            )
        return None

    async def _open_modal(
        self, payload: dict[str, Any], review_id: str, user: str, mode: str, seen: str
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
            review_id=review_id,
            mode=ReviewMode(mode),
            reasons=self.config.reasons,
            partners=names,
            seen=seen,
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
        seen: str,
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
            "seen": seen,  # the digest of the post as the card showed it
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

        released: list[str] | None = []
        try:
            if outcome == "kept":
                records = self.recorder.entry(
                    "review", outcome="kept", reason=reason or None, **common
                )
                await self.aio.durable(lambda: take(records))
            else:
                released = await self._release(
                    key, row, ReviewMode(mode), partners, now, take, common, reason, doc
                )
                if released is None:
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
        if released:
            await self._held_replies(row)
        fresh = await self.aio.review(row.id)
        if fresh is not None:
            await self.board.refresh(fresh, comment=str(doc.get("comment") or ""))
        await self.board.tell_author(row, outcome, mode, released or [])

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
        doc: dict[str, Any],
    ) -> list[str] | None:
        """The partners released to (queued in one transaction with the decision), or None:
        nothing released (the reviewer is told why)."""
        reviewer = str(common["actor_user"])
        message = await message_at(self.caller, row.channel, row.ts)
        out = await self.publisher.released(key, message, row.channel) if message else None
        if out is None:  # gone (deleted): the card is closed
            await self.aio.close_review(row.id, outcome="superseded", at=now.timestamp())
            await self._said(reviewer, "the post was deleted; nothing was released.", row.id)
            return None
        seen = str(doc.get("seen") or "")
        if message_digest(out.message)[: len(seen) or None] != (seen or row.digest):
            # the reviewer saw other words: decided on nothing, the card shows the post now
            await self._said(
                reviewer,
                "the post was edited after the card you decided on was made; nothing was "
                "released. Look at the card again.",
                row.id,
                stale=True,
            )
            return None
        out = await self.outbound.read_photos(out)  # a released photo is read like any other
        decisions = {}
        for partner, modes in partners:
            if mode in modes:
                d = evaluate_outbound(
                    out.message, variant(self.policy, mode), partner, row.topic, now=now
                )
                if d.action is not Action.BLOCK:
                    decisions[partner] = d
        if not decisions:  # every partner refused meanwhile (agreement, topic): still open
            await self._said(reviewer, "no partner can receive this post now.", row.id)
            return None
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
        return list(decisions)

    async def _held_replies(self, row: ReviewRow) -> None:
        """The replies made in the post's thread while it was held (not shared then), shared
        now it is released: each judged and queued as when it was made (its envelope id is
        its own, so one already shared is not shared again)."""
        try:
            page = await self.caller.api(
                "conversations.replies", row.channel, channel=row.channel, ts=row.ts, limit=200
            )
        except DeliveryError as exc:
            self.recorder.problem("review", row.id, exc.code or "replies_unreadable")
            return
        for reply in page.get("messages") or []:
            if not isinstance(reply, dict) or reply.get("ts") == row.ts:
                continue
            event = {**reply, "type": "message", "channel": row.channel}
            doc = {"type": "event_callback", "team_id": self.team, "event": event}
            try:
                await self.publisher.handle(f"review.reply.{row.id}.{reply.get('ts')}", doc)
            except Exception as exc:  # noqa: BLE001 - one reply's failure is its own
                self.recorder.problem("review", row.id, type(exc).__name__)

    async def _said(self, reviewer: str, text: str, review_id: str, stale: bool = False) -> None:
        """Tell the reviewer why nothing was released; bring the card up to date."""
        await self.board.ephemeral(self.config.channel, reviewer, "Relay: " + text)
        fresh = await self.aio.review(review_id)
        if fresh is not None and fresh.card_ts:
            with contextlib.suppress(DeliveryError):
                await self.board.refresh(fresh)

    @staticmethod
    def _rules(row: ReviewRow, partner: str) -> list[str]:
        with contextlib.suppress(ValueError, TypeError):
            for p in json.loads(row.partners):
                if isinstance(p, dict) and p.get("partner") == partner:
                    return [str(r) for r in p.get("rules", [])]
        return []
