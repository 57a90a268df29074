"""The catch-up: what was posted in federated channels while the relay was down or Slack
gave up delivering (new messages, replies in older threads, edits made meanwhile), taken into
the inbox as the events Slack would have sent. A message taken before is not taken again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from relay.errors import DeliveryError
from relay.flow.records import Recorder
from relay.slack.channels import ChannelMap
from relay.slack.web import SlackCaller, pages
from relay.store.aio import AsyncStore

__all__ = ["CatchUp"]


class Take(Protocol):
    def __call__(
        self, *, team: str, event_id: str, body: bytes, doc: dict[str, Any] | None = None
    ) -> Awaitable[bool]: ...


class CatchUp:
    def __init__(
        self,
        *,
        team_id: str,
        store: AsyncStore,
        caller: SlackCaller,
        channels: ChannelMap,
        take: Take,
        recorder: Recorder,
        ignore: Callable[[dict[str, Any]], bool] = lambda doc: False,
    ) -> None:
        self.team_id = team_id
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.caller = caller
        self.channels = channels
        self.take = take  # the inbox
        self.ignore = ignore  # the relay's own posts: skipped before they are serialised
        self.recorder = recorder

    async def run(self, every: float) -> None:
        """Catch up every ``every`` seconds, forever: an event Slack gave up delivering (the
        relay was slow or unreachable for longer than Slack retries) is still taken."""
        while True:
            await asyncio.sleep(every)
            try:  # a backstop for live events: an hour of thread parents, not the week
                await self.catch_up(lookback=3600.0)
            except Exception as exc:  # noqa: BLE001 - Slack or the store away: next round
                self.recorder.problem("catch_up", self.team_id, type(exc).__name__)

    async def catch_up(self, *, lookback: float = 7 * 86400.0, replay: float = 600.0) -> int:
        """Take what was posted in federated channels since the last message seen there:
        new messages, replies (also in threads whose parent is older, found among the
        parents of the last ``lookback`` seconds), and edits made meanwhile. Messages up to
        ``replay`` seconds older than the mark are offered again too: with several instances,
        one may have moved the mark past an event that reached an instance as it died. A
        message taken before is not taken again (events are keyed by the message they are
        about, and the inbox keeps their keys)."""
        taken = 0
        # Every channel's mark is read (at once) before anything is taken: events taken meanwhile
        # move the marks forward and must not hide what was posted during the outage.
        store, channels = self.store, self.channels.ids()
        seen = await self.aio.run(lambda: [store.last_seen(c) for c in channels])
        marks = {c: float(ts or "0") for c, ts in zip(channels, seen, strict=True)}
        for channel, since in marks.items():
            window = f"{max(0.0, since - lookback):.6f}"
            # what was taken before this pass reads the history: a message taken while it
            # reads is newer than what it read, not gone
            posts = await self.aio.run(self.store.taken_posts, channel, window)
            present: set[str] = set()  # what still exists, as far as this pass looked
            threads: set[str] = set()  # threads whose replies it read
            async for msg in self._pages("conversations.history", channel, oldest=window):
                if msg.get("subtype") != "tombstone":
                    present.add(str(msg.get("ts")))
                ts = float(msg.get("ts") or 0)
                if ts > since - replay:  # new, or recent enough to re-offer (deduplicated)
                    taken += await self._take_history(channel, msg)
                # edited meanwhile? (edits are offered again over the replay window too: live
                # messages move the mark past an edit Slack gave up on)
                taken += await self._take_edit(channel, msg, since - replay)
                if msg.get("reply_count") and float(msg.get("latest_reply") or 0) > since:
                    threads.add(str(msg.get("ts")))
                    async for reply in self._pages(
                        "conversations.replies", channel, ts=msg.get("ts"), oldest=window
                    ):
                        if reply.get("ts") == msg.get("ts"):
                            continue
                        present.add(str(reply.get("ts")))
                        reply_ts = float(reply.get("ts") or 0)
                        if reply_ts > since - replay:
                            taken += await self._take_history(channel, reply)
                        taken += await self._take_edit(channel, reply, since - replay)
            taken += await self._take_deletes(channel, posts, present, threads, since - replay)
        return taken

    async def _take_deletes(
        self,
        channel: str,
        posts: list[tuple[str, str]],
        present: set[str],
        threads: set[str],
        edits_after: float,
    ) -> int:
        """Messages taken before that no longer exist (deleted while the relay was down or
        Slack gave up on the event), as the ``message_deleted`` events Slack would have
        sent: top-level ones missing from the history read (it reads everything newer than
        the window), replies missing from their thread, read for that (a thread Slack no
        longer knows is gone with its replies; a parent older than the window is not
        evidence of anything). Each is taken once (keyed like Slack's). The replies read
        so are also looked at for edits: editing a reply does not move its thread's
        ``latest_reply``, so the history pass does not read that thread."""
        taken = 0
        for thread in sorted({t for ts, t in posts if t != ts} - threads):
            threads.add(thread)
            try:
                async for reply in self._pages("conversations.replies", channel, ts=thread):
                    present.add(str(reply.get("ts")))
                    if reply.get("ts") != thread:
                        taken += await self._take_edit(channel, reply, edits_after)
            except DeliveryError as exc:
                if exc.code != "thread_not_found":
                    raise  # Slack away: nothing is concluded this round
        for ts, thread in posts:
            if ts in present:
                continue
            event: dict[str, Any] = {
                "type": "message",
                "subtype": "message_deleted",
                "channel": channel,
                "ts": ts,
                "deleted_ts": ts,
                "hidden": True,
            }
            if thread != ts:
                event["previous_message"] = {"ts": ts, "thread_ts": thread}
            taken += await self._take_event(event, f"catchup.delete.{channel}.{ts}")
        return taken

    async def _take_edit(self, channel: str, msg: dict[str, Any], since: float) -> int:
        """A message edited after ``since`` (during the outage), as the edit event Slack
        would send; one taken before is not taken again (its key is the edit's time and
        text)."""
        edited = msg.get("edited") or {}
        edited_ts = str(edited.get("ts") or "") if isinstance(edited, dict) else ""
        # Slack gives edits whole-second times: an edit in the same second as the last message
        # seen may be newer. Taking one twice is harmless (the event key is the edit's time).
        if not edited_ts or float(edited_ts) + 1.0 <= since:
            return 0
        event = {
            "type": "message",
            "subtype": "message_changed",
            "channel": channel,
            "ts": edited_ts,
            "event_ts": edited_ts,
            "hidden": True,
            "message": msg,
        }
        return await self._take_event(event, f"catchup.edit.{channel}.{edited_ts}")

    async def _pages(self, method: str, channel: str, **kwargs: Any) -> AsyncIterator[Any]:
        async for page in pages(self.caller, method, channel, **kwargs):
            for msg in reversed(page) if method == "conversations.history" else page:
                yield msg

    async def _take_history(self, channel: str, msg: dict[str, Any]) -> int:
        event = dict(msg) | {"channel": channel, "type": "message"}
        return await self._take_event(event, f"catchup.{channel}.{msg.get('ts')}")

    async def _take_event(self, event: dict[str, Any], event_id: str) -> int:
        doc = {
            "type": "event_callback",
            "team_id": self.team_id,
            "event_id": event_id,
            "event": event,
        }
        if self.ignore(doc):
            return 0
        taken = await self.take(
            team=self.team_id, event_id=event_id, body=json.dumps(doc).encode(), doc=doc
        )
        return 1 if taken else 0
