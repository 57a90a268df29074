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

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from functools import partial
from typing import Any, Final

import structlog

from relay.config_schema import ReviewConfig
from relay.core.mrkdwn import line_text
from relay.core.policy.engine import evaluate_outbound, explain
from relay.core.policy.model import Action, Policy
from relay.core.policy.review import ReviewMode, message_digest, variant
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError, InputError
from relay.flow.outbound import Declined, Outbound
from relay.flow.records import Recorder
from relay.slack.events import EventSink
from relay.slack.publisher import Publisher
from relay.slack.review_card import (
    KEEP,
    RELEASE,
    PartnerView,
    card_blocks,
    decided_blocks,
    modal_view,
    read_submission,
)
from relay.slack.review_metrics import ReviewMetrics
from relay.slack.supervisors import Supervision
from relay.slack.web import SlackCaller, message_at
from relay.store.aio import AsyncStore
from relay.store.contract import ReviewRow

__all__ = ["DECISION", "ReviewDesk"]

log = structlog.get_logger("relay.slack")
DECISION: Final = "review_decision"  # the inbox document type of a stored decision
_BATCH: Final = 20


def _partners(row: ReviewRow) -> list[tuple[str, tuple[ReviewMode, ...]]]:
    try:
        doc = json.loads(row.partners)
        return [
            (str(p["partner"]), tuple(ReviewMode(m) for m in p.get("modes", [])))
            for p in doc
            if isinstance(p, dict)
        ]
    except (ValueError, KeyError, TypeError):
        return []


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
        metrics: ReviewMetrics,
        clock: Callable[[], dt.datetime],
        poll: float = 5.0,
    ) -> None:
        self.agency, self.team, self.config, self.policy = agency, team, config, policy
        self.publisher, self.outbound, self.caller = publisher, outbound, caller
        self.supervision, self.aio, self.store = supervision, store, store.store
        self.recorder, self.sink, self.metrics, self.clock = recorder, sink, metrics, clock
        self.poll = poll
        self._wake = asyncio.Event()
        metrics.alert_after.set(config.alert_minutes * 60)

    def wake(self) -> None:
        self._wake.set()

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
            await self._ephemeral(self.config.channel, user, refusal)
            return
        partners = [p for p, modes in _partners(row) if ReviewMode(mode) in modes]
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

    async def _ephemeral(self, channel: str, user: str, text: str) -> None:
        with contextlib.suppress(DeliveryError):
            await self.caller.api(
                "chat.postEphemeral", channel, channel=channel, user=user, text=text
            )

    # -- carrying a decision out (the inbox worker) ----------------------------------------
    async def decide(self, key: str, doc: dict[str, Any]) -> None:
        row = await self.aio.review(str(doc.get("review")))
        user, outcome = str(doc.get("user")), str(doc.get("outcome"))
        if row is None or outcome not in ("kept", "released"):
            return
        refusal = await self._refusal(user, row)
        if refusal:
            await self._ephemeral(self.config.channel, user, refusal)
            return
        mode, reason = str(doc.get("mode") or ""), str(doc.get("reason") or "")
        now = self.clock()
        partners = _partners(row)
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
            await self._ephemeral(
                self.config.channel,
                user,
                await self._refusal(user, fresh or row) or "Relay: decided before.",
            )
            return
        self.metrics.decisions.labels(outcome).inc()
        fresh = await self.aio.review(row.id)
        if fresh is not None:
            await self.refresh(fresh, comment=str(doc.get("comment") or ""))
        await self._tell_author(
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
            await self._ephemeral(
                self.config.channel,
                str(common["actor_user"]),
                "Relay: the post was edited or deleted since this card was made; nothing was "
                "released.",
            )
            fresh = await self.aio.review(row.id)
            if fresh is not None:
                await self.refresh(fresh)
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

    async def _tell_author(
        self, row: ReviewRow, outcome: str, mode: str, partners: list[str]
    ) -> None:
        if not row.author:
            return
        names = ", ".join(
            self.policy.partners[p].name if p in self.policy.partners else p for p in partners
        )
        if outcome == "released":
            how = "as written" if mode == ReviewMode.AS_WRITTEN else "without the flagged parts"
            text = f"Relay: a supervisor released your post to {names} ({how})."
        elif outcome == "kept":
            text = "Relay: a supervisor kept your post from partners."
        else:
            text = "Relay: nobody reviewed your held post in time; it was not shared."
        await self._ephemeral(row.channel, row.author, text)

    # -- cards ---------------------------------------------------------------------------
    async def _blocks(self, row: ReviewRow) -> list[dict[str, Any]] | None:
        """The open card for ``row`` from the message as Slack has it (None: gone)."""
        try:
            found = await message_at(self.caller, row.channel, row.ts)
        except DeliveryError as exc:
            if exc.retryable:
                raise
            found = None
        if found is None:
            return None
        try:
            message = parse_event({"event": {**found, "type": "message", "channel": row.channel}})
        except InputError:
            return None
        now = self.clock()
        views = []
        for partner, modes in _partners(row):
            p = self.policy.partners.get(partner)
            current = evaluate_outbound(message, self.policy, partner, row.topic, now=now)
            _, units = explain(
                message, variant(self.policy, ReviewMode.WITHOUT_FLAGGED), p, now=now
            )
            views.append(
                PartnerView(
                    partner=partner,
                    name=p.name if p else partner,
                    action=current.action.value,
                    rules=tuple(dict.fromkeys(r.rule for r in current.reasons)),
                    modes=modes,
                    units=tuple(units),
                )
            )
        text = "\n".join(line_text(ln) for part in message.parts if part.body for ln in part.lines)
        return card_blocks(
            review_id=row.id,
            author=row.author,
            channel=row.channel,
            ts=row.ts,
            text=text,
            partners=views,
        )

    async def post_card(self, row: ReviewRow) -> None:
        blocks = await self._blocks(row)
        if blocks is None:
            await self.aio.close_review(row.id, outcome="superseded", at=self.clock().timestamp())
            return
        answer = await self.caller.api(
            "chat.postMessage",
            self.config.channel,
            channel=self.config.channel,
            text="A post is held for review",
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        await self.aio.review_posted(
            row.id,
            channel=str(answer.get("channel") or self.config.channel),
            ts=str(answer.get("ts")),
        )

    async def refresh(self, row: ReviewRow, *, comment: str = "") -> None:
        """The card shows the row's state now (in place, ``chat.update``)."""
        if not row.card_ts:
            return
        blocks = await self._blocks(row) or [
            {"type": "section", "text": {"type": "mrkdwn", "text": "_(the post is gone)_"}}
        ]
        if row.state not in ("pending", "open"):
            blocks = decided_blocks(
                blocks,
                outcome=row.state,
                by=row.decided_by,
                mode=row.mode,
                reason=row.reason,
                comment=comment,
            )
        with contextlib.suppress(DeliveryError):
            await self.caller.api(
                "chat.update",
                row.card_channel,
                channel=row.card_channel,
                ts=row.card_ts,
                text="A post held for review",
                blocks=blocks,
            )
        await self.aio.card_refreshed(
            row.id, state=row.state if row.state not in ("pending",) else "open"
        )

    async def tick(self) -> None:
        """One round: new cards posted, changed ones refreshed, old ones expired, gauges set."""
        for row in await self.aio.reviews_to_post(limit=_BATCH):
            await self.post_card(row)
        now = self.clock()
        for row in await self.aio.expire_reviews(now=now.timestamp(), limit=_BATCH):
            records = self.recorder.entry(
                "review",
                outcome="expired",
                envelope_id=row.id,
                topic=row.topic,
                policy=self.policy.ref,
            )
            await self.aio.durable(partial(self.recorder.append, records))
            self.metrics.decisions.labels("expired").inc()
            await self._tell_author(row, "expired", "", [])
        for row in await self.aio.cards_to_refresh(limit=_BATCH):
            await self.refresh(row)
        waiting, oldest = await self.aio.review_stats()
        self.metrics.open.set(waiting)
        self.metrics.oldest.set(now.timestamp() - oldest if oldest is not None else 0)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - Slack or the store away: next round
                self.recorder.problem("review", "desk", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()
