"""The inbox: every Slack event is stored (keyed by the message it is about, so Slack's
retries and the catch-up find it taken) before it is acknowledged; a worker takes stored
events in order, a thread at a time, and hands each to the publisher.

The event is parsed once, by the listener that received it; the worker uses that parse while
this instance holds it, and parses the stored bytes only after a restart or on another
instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, NamedTuple

import structlog

from relay.core import defaults
from relay.core.slack_shape import Refused, check_event, read_event
from relay.errors import DeliveryError
from relay.flow.queues import QueueTuning
from relay.flow.records import Recorder
from relay.lab.crashpoints import crash_point
from relay.slack.keys import event_key, shown
from relay.store.aio import AsyncStore
from relay.store.base import ts_order

log = structlog.get_logger("relay.slack")

__all__ = ["Handler", "Inbox", "Published"]

MARK_EVERY: Final = 5.0  # seconds between writes of a channel's last-seen mark
_PARSED_BYTES: Final = 8 << 20  # event bodies whose parse is kept for the worker, at most


class Published(NamedTuple):
    """An event's message published: its channel and ts (the channel's last seen mark)."""

    channel: str
    ts: str


Handler = Callable[[str, dict[str, Any]], Awaitable[Published | None]]
Ignore = Callable[[dict[str, Any]], bool]  # an event nothing will be done with (not stored)


def _keep(doc: dict[str, Any]) -> bool:
    return False


class Inbox:
    def __init__(
        self,
        *,
        store: AsyncStore,
        recorder: Recorder,
        handler: Handler,
        owner: str,
        tuning: QueueTuning,
        clock: Callable[[], dt.datetime],
        retry_after: float = defaults.EVENT_RETRY,
        ignore: Ignore = _keep,
    ) -> None:
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.retry_after = retry_after  # seconds a failed-for-now event waits
        self.recorder = recorder
        self.handler = handler
        self.ignore = ignore  # e.g. the relay's own posts echoed back: acknowledged, not kept
        self.owner = owner
        self.tuning = tuning
        self.clock = clock
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        # The listener's parse of events taken, until the worker gets to them (bounded by the
        # bodies' size; another instance may process them, so some are only evicted).
        self._parsed: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._parsed_bytes = 0
        # The last message seen per channel is written at most every MARK_EVERY seconds and
        # when the worker goes idle: one row that every instance writes must not be held by
        # every group commit. A mark that lags is harmless: the catch-up re-offers a margin.
        self._marks: dict[str, str] = {}  # channel -> ts not yet written
        self._marked_at: dict[str, float] = {}  # channel -> monotonic time

    # -- taking events -------------------------------------------------------------------
    async def take_slack_event(
        self, *, team: str, event_id: str, body: bytes, doc: dict[str, Any] | None = None
    ) -> bool:
        """Store one event durably (``doc``: its parse, when the listener has it)."""
        checked = read_event(body) if doc is None else check_event(doc)
        if isinstance(checked, Refused):  # never stored: nothing would ever come of it
            self.recorder.slack_refused(checked.reason, checked.event_id, checked.field)
            return True
        doc = checked
        if self.ignore(doc):
            return True
        key, order = event_key(doc) or (event_id, "")
        at = self.clock()
        store = self.store
        taken = await self.aio.durable(
            lambda: store.take_event(event_id=key, team=team, body=body, at=at, order_key=order)
        )
        if taken and len(body) <= _PARSED_BYTES // 16:
            self._parsed[key] = (doc, len(body))
            self._parsed_bytes += len(body)
            while self._parsed_bytes > _PARSED_BYTES:
                self._parsed_bytes -= self._parsed.popitem(last=False)[1][1]
        self._idle.clear()
        self._wake.set()
        return taken

    # -- the worker ----------------------------------------------------------------------
    async def run(self) -> None:
        """Process stored events in order, forever. Between batches it waits to be woken,
        or ``poll`` seconds: another instance may have taken events, or a dead instance's
        lease may have expired."""
        poll = self.tuning.poll
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception as exc:  # noqa: BLE001 - e.g. the store reconnecting: try again
                self.recorder.problem("slack", "worker", type(exc).__name__)
                await asyncio.sleep(poll)
                self._wake.set()
                continue
            await self.write_marks()
            if not self._wake.is_set():
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    async def wait_idle(self) -> None:
        """Until every stored event has been processed."""
        await self._idle.wait()

    async def drain(self) -> None:
        """Process every event this instance can lease now (others may hold some)."""
        store, tuning = self.store, self.tuning
        while batch := await self.aio.run(
            store.claim_events,
            owner=self.owner,
            now=self.clock().timestamp(),
            lease=tuning.lease,
            limit=tuning.batch,
        ):
            # One event per thread in a batch: threads are judged in parallel.
            await asyncio.gather(*(self._one(key, body) for key, body in batch))

    async def _one(self, key: str, body: bytes) -> None:
        crash_point("after_slack_ack")
        kept = self._parsed.pop(key, None)
        doc = None
        if kept is not None:
            doc = kept[0]
            self._parsed_bytes -= kept[1]
        try:
            if await self._deleted_before(key):
                published = None  # the message is gone: its late post or edit is not shared
                log.info("slack_event_after_delete", event=shown(key))
            else:
                if doc is None:  # stored by another instance, or before a restart
                    checked = read_event(body)
                    if isinstance(checked, Refused):  # a poison event: set aside, once
                        self.recorder.slack_refused(checked.reason, shown(key), checked.field)
                    else:
                        doc = checked
                published = await self.handler(key, doc) if doc is not None else None
            if published is not None and published.ts:
                await self.seen(published.channel, published.ts)
        except Exception as exc:  # noqa: BLE001 - a poison event must not stop sharing
            retried = _transient(exc)
            self.recorder.problem("slack", shown(key), type(exc).__name__)
            log.warning("slack_event_failed", exc_type=type(exc).__name__, retried=retried)
            if retried:  # given back, to be taken again (here or elsewhere) a little later
                until = self.clock().timestamp() + self.retry_after
                with contextlib.suppress(Exception):  # the store away: the lease runs out
                    await self.aio.run(self.store.defer_event, key, owner=self.owner, until=until)
                return
            published = None
        if published is None:  # else marked done with its envelopes, in one transaction
            store = self.store
            await self.aio.durable(lambda: store.finish_event(key))

    async def _deleted_before(self, key: str) -> bool:
        """A post or edit event of a message whose delete was taken before it: Slack retries
        each event on its own, so a delete can arrive before the post it deletes."""
        kind, _, rest = key.partition(".")
        if kind not in ("post", "edit"):
            return False
        channel, sec, frac = [*rest.split("."), "", ""][:3]
        return await self.aio.run(self.store.event_taken, f"delete.{channel}.{sec}.{frac}")

    # -- last seen per channel -----------------------------------------------------------
    async def seen(self, channel: str, ts: str) -> None:
        """Note the newest ts seen in ``channel``; written when it is time."""
        if self._mark(channel, ts):
            await self.write_marks(channel)

    def _mark(self, channel: str, ts: str) -> bool:
        held = self._marks.get(channel)
        if held is None or ts_order(ts) > ts_order(held):
            self._marks[channel] = ts
        return time.monotonic() - self._marked_at.get(channel, 0.0) >= MARK_EVERY

    async def write_marks(self, channel: str | None = None) -> None:
        for ch in [channel] if channel else list(self._marks):
            ts = self._marks.pop(ch, None)
            if ts is None:
                continue
            self._marked_at[ch] = time.monotonic()
            try:
                await self.aio.run(self.store.set_last_seen, ch, ts)
            except Exception as exc:  # noqa: BLE001 - kept for the next write
                self._mark(ch, ts)
                self.recorder.problem("slack", ch, type(exc).__name__)


def _transient(exc: Exception) -> bool:
    """A failure a later attempt can get past (Slack or the store away), as opposed to an
    event that will never process (it is marked done, and its reason kept)."""
    if isinstance(exc, DeliveryError):
        return exc.retryable
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in (
        "sqlite3",
        "psycopg",
    )
