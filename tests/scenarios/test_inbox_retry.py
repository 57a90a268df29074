"""A Slack event that fails for now (Slack, the store or the ledger away) is tried again a
little later while the relay runs, and the events after it in its thread wait for it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from relay.errors import DeliveryError
from relay.flow.queues import QueueTuning
from relay.slack.inbox import Inbox, Published
from tests.helpers import sqlite_recorder


def _event(ts: str, thread: str | None = None) -> dict[str, Any]:
    event = {"type": "message", "channel": "C1", "user": "U1", "ts": ts, "text": "x"}
    if thread:
        event["thread_ts"] = thread
    return {"type": "event_callback", "team_id": "T1", "event_id": f"Ev{ts}", "event": event}


async def test_a_failed_for_now_event_is_retried_and_its_thread_waits(tmp_path: Path) -> None:
    store, aio, recorder = sqlite_recorder(tmp_path / "relay.db")
    seen: list[str] = []
    failures = [DeliveryError("slack away", code="unreachable", retryable=True)]
    done = asyncio.Event()

    async def handler(key: str, doc: dict[str, Any]) -> Published | None:
        seen.append(doc["event"]["ts"])
        if failures:
            raise failures.pop()
        store.finish_event(key)  # the publisher does, with the envelopes it queues
        if len(seen) == 3:
            done.set()
        return Published(channel="C1", ts=doc["event"]["ts"])

    inbox = Inbox(
        store=aio,
        recorder=recorder,
        handler=handler,
        owner="me",
        tuning=QueueTuning(poll=0.05, lease=30.0),
        clock=lambda: dt.datetime.now(dt.UTC),
        retry_after=0.2,
    )
    for doc in (_event("1.1"), _event("1.2", thread="1.1")):
        body = json.dumps(doc).encode()
        assert await inbox.take_slack_event(team="T1", event_id=doc["event_id"], body=body)
    task = asyncio.create_task(inbox.run())
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # the root failed once, was taken again, and only then its reply
    assert seen == ["1.1", "1.1", "1.2"]
    assert store.pending_event_count() == 0
    assert [p.reason for p in recorder.recent] == ["DeliveryError"]
    await aio.close()


async def test_an_event_the_relay_ignores_is_acknowledged_and_not_stored(tmp_path: Path) -> None:
    """The relay's own posts echoed back by Slack cost no store write and no worker pass."""
    from relay.slack.keys import is_own

    store, aio, recorder = sqlite_recorder(tmp_path / "relay.db")

    async def handler(key: str, doc: dict[str, Any]) -> Published | None:
        raise AssertionError("not handled")

    inbox = Inbox(
        store=aio,
        recorder=recorder,
        handler=handler,
        owner="me",
        tuning=QueueTuning(poll=0.05, lease=30.0),
        clock=lambda: dt.datetime.now(dt.UTC),
        ignore=lambda doc: is_own(doc["event"], bot_user_id="UBOT", bot_id="BBOT"),
    )
    own = _event("2.1")
    own["event"]["user"] = "UBOT"
    mine = _event("2.2")
    for doc in (own, mine):
        body = json.dumps(doc).encode()
        assert await inbox.take_slack_event(team="T1", event_id=doc["event_id"], body=body)
    assert store.pending_event_count() == 1  # only the officer's message
