"""The review channel's board (issue 16): cards posted, refreshed in place and expired, the
author told, and the candidate policy's samples shown ("the candidate policy would have ...").
The cards are rebuilt from the message as Slack has it now, so the store keeps ids only."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Final

from relay.config_schema import ReviewConfig
from relay.core.mrkdwn import escape, line_text
from relay.core.policy.compare import Kind
from relay.core.policy.engine import evaluate_outbound, explain
from relay.core.policy.model import Policy
from relay.core.policy.outbound import OutboundMessage
from relay.core.policy.review import ReviewMode, message_digest, variant
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError, InputError
from relay.flow.records import Recorder
from relay.slack.review_card import PartnerView, card_blocks, decided_blocks
from relay.slack.review_metrics import ReviewMetrics
from relay.slack.web import SlackCaller, message_at
from relay.store.aio import AsyncStore
from relay.store.contract import ReviewRow

__all__ = ["ReviewBoard", "partners_of"]

_BATCH: Final = 20
_RETRY: Final = 60.0  # seconds before a card Slack refused is tried again
_KEPT: Final = 1000  # cards waiting to be tried again, at most
_WOULD: Final = {
    Kind.MORE_BLOCKED: "have blocked what is shared today",
    Kind.LESS_BLOCKED: "have shared what is blocked today",
    Kind.MORE_STRIPPED: "have removed more",
    Kind.LESS_STRIPPED: "have removed less",
    Kind.RULES_CHANGED: "have decided the same under other rules",
}


def partners_of(row: ReviewRow) -> list[tuple[str, tuple[ReviewMode, ...]]]:
    """(partner, release modes) of a review row."""
    try:
        doc = json.loads(row.partners)
        return [
            (str(p["partner"]), tuple(ReviewMode(m) for m in p.get("modes", [])))
            for p in doc
            if isinstance(p, dict)
        ]
    except (ValueError, KeyError, TypeError):
        return []


class ReviewBoard:
    def __init__(
        self,
        *,
        config: ReviewConfig,
        policy: Policy,
        caller: SlackCaller,
        store: AsyncStore,
        recorder: Recorder,
        metrics: ReviewMetrics,
        clock: Callable[[], dt.datetime],
        poll: float = 5.0,
    ) -> None:
        self.config, self.policy, self.caller = config, policy, caller
        self.aio, self.recorder, self.metrics, self.clock = store, recorder, metrics, clock
        self.poll = poll
        self._wake = asyncio.Event()
        self._retry_at: dict[str, float] = {}  # review id -> when to try its card again
        metrics.alert_after.set(config.alert_minutes * 60)

    def wake(self) -> None:
        self._wake.set()

    def name(self, partner: str) -> str:
        p = self.policy.partners.get(partner)
        return p.name if p is not None else partner

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        with contextlib.suppress(DeliveryError):
            await self.caller.api(
                "chat.postEphemeral", channel, channel=channel, user=user, text=text
            )

    async def tell_author(
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
        await self.ephemeral(row.channel, row.author, text)

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
        for partner, modes in partners_of(row):
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
            seen=message_digest(message),
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
        await self.caller.api(  # refused: not marked refreshed, tried again next round
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
        """One round: new cards posted, old ones expired, changed ones refreshed, gauges set.
        A card Slack refuses (the channel gone, the bot not in it) is counted and tried again
        later; it never holds up the rest, the expiry or the gauges."""
        now = self.clock()
        try:
            for row in await self.aio.reviews_to_post(limit=_BATCH):
                await self._each(row, self.post_card)
            await self._expire(now)
            for row in await self.aio.cards_to_refresh(limit=_BATCH):
                await self._each(row, self.refresh)
        finally:
            waiting, oldest = await self.aio.review_stats()
            self.metrics.open.set(waiting)
            self.metrics.oldest.set(now.timestamp() - oldest if oldest is not None else 0)

    async def _each(self, row: ReviewRow, step: Callable[[ReviewRow], Any]) -> None:
        now = self.clock().timestamp()
        if self._retry_at.get(row.id, 0.0) > now:
            return
        try:
            await step(row)
        except Exception as exc:  # noqa: BLE001 - Slack or the store: this card later
            self.recorder.problem(
                "review", row.id, getattr(exc, "code", None) or type(exc).__name__
            )
            self._retry_at[row.id] = now + _RETRY
            while len(self._retry_at) > _KEPT:
                del self._retry_at[next(iter(self._retry_at))]
        else:
            self._retry_at.pop(row.id, None)

    async def _expire(self, now: dt.datetime) -> None:
        """Reviews past their time, expired with their ledger records in one transaction."""
        store, expired = self.aio.store, []

        def write() -> None:
            rows = store.expire_reviews(now=now.timestamp(), limit=_BATCH)
            records = [
                r
                for row in rows
                for r in self.recorder.entry(
                    "review",
                    outcome="expired",
                    envelope_id=row.id,
                    topic=row.topic,
                    policy=self.policy.ref,
                )
            ]
            self.recorder.append(records)
            expired.extend(rows)

        await self.aio.durable(write)
        for row in expired:
            self.metrics.decisions.labels("expired").inc()
            await self.tell_author(row, "expired", "", [])

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
        """The candidate policy's difference for one partner, shown in the review channel
        (the shadow policy's sink): what goes today and what would go."""
        rule_ids = ", ".join(f"`{r}`" for r in rules) or "no rule"

        def view(m: OutboundMessage | None) -> str:
            return escape(m.text)[:1400] if m is not None else "_(blocked)_"

        blocks = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"The candidate policy would {_WOULD[kind]} for "
                    f"*{escape(self.name(partner))}* ({partner}) in <#{channel}> ({rule_ids}).",
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "*Today:* " + view(current)}],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "*Candidate:* " + view(candidate)}],
            },
        ]
        await self.caller.api(
            "chat.postMessage",
            self.config.channel,
            channel=self.config.channel,
            text="The candidate policy would decide differently",
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
