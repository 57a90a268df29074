"""A reply's thread root, taken before the reply when Slack delivered the reply first.

Slack retries each event on its own: after an outage, a reply's event can come before its
thread's first message (posted while the relay was away, and not yet delivered again or
found by the catch-up). Judged first, the reply would reach partners as a reply in a thread
they never got. So a reply whose root was never taken has its root read from Slack, taken
into the inbox (keyed as Slack's own event would be, so a later delivery of it is a retry)
and published first; then the reply.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from relay.errors import DeliveryError
from relay.slack.keys import event_key, is_own
from relay.slack.web import SlackCaller, message_at
from relay.store.aio import AsyncStore

__all__ = ["ThreadRoots"]


class ThreadRoots:
    def __init__(
        self,
        *,
        team_id: str,
        store: AsyncStore,
        caller: SlackCaller,
        bot_user_id: str,
        bot_id: str | None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.team_id = team_id
        self.aio = store
        self.store = store.store  # blocking: only inside a durable write
        self.caller = caller
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.clock = clock

    async def untaken(self, channel: str, thread_ts: str) -> tuple[str, dict[str, Any]] | None:
        """The root's event (its key and document), taken now; None when it was taken
        before, is gone, or is the relay's own post (nothing to publish first)."""
        if await self.aio.event_taken(f"post.{channel}.{thread_ts}"):
            return None
        try:
            found = await message_at(self.caller, channel, thread_ts)
        except DeliveryError as exc:
            if exc.retryable:
                raise  # Slack away: the reply waits and is tried again
            return None
        if found is None:
            return None
        event = dict(found) | {"channel": channel, "type": "message"}
        if is_own(event, bot_user_id=self.bot_user_id, bot_id=self.bot_id):
            return None
        key_order = event_key({"event": event})
        if key_order is None:
            return None
        key, order = key_order
        doc = {
            "type": "event_callback",
            "team_id": self.team_id,
            "event_id": f"root.{channel}.{thread_ts}",
            "event": event,
        }
        body, at, store = json.dumps(doc).encode(), self.clock(), self.store
        taken = await self.aio.durable(
            lambda: store.take_event(
                event_id=key, team=self.team_id, body=body, at=at, order_key=order
            )
        )
        return (key, doc) if taken else None
