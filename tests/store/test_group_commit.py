"""Group commit: many writes, one transaction, each caller answered only after the commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools

import pytest

from relay.store.base import SqlStore
from relay.store.group import GroupWriter
from tests.store.conftest import Opener

AT = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _take(store: SqlStore, n: int) -> bool:
    return store.take_event(event_id=f"Ev{n}", team="T1", body=b"{}", at=AT, order_key=f"k{n}")


async def test_concurrent_writes_share_commits_and_all_are_durable(opener: Opener) -> None:
    store = opener()
    writer = GroupWriter(store)
    results = await asyncio.gather(
        *(writer.run(functools.partial(_take, store, n)) for n in range(50))
    )
    assert results == [True] * 50
    assert writer.writes == 50
    assert writer.batches < 50, "writes arriving together share a commit"
    other = opener()  # a second connection sees every row: they were committed
    assert other.pending_event_count() == 50


async def test_a_failing_write_fails_alone(opener: Opener) -> None:
    store = opener()
    writer = GroupWriter(store)

    def half_then_fail() -> None:
        _take(store, 999)  # inside the failing write's savepoint: rolled back with it
        raise RuntimeError("boom")

    outcomes = await asyncio.gather(
        writer.run(lambda: _take(store, 1)),
        writer.run(half_then_fail),
        writer.run(lambda: _take(store, 2)),
        return_exceptions=True,
    )
    assert outcomes[0] is True
    assert isinstance(outcomes[1], RuntimeError)
    assert outcomes[2] is True
    keys = {key for key, _ in opener().claim_events(owner="x", now=0.0, lease=1.0, limit=10)}
    assert keys == {"Ev1", "Ev2"}


async def test_a_failed_commit_fails_every_caller(opener: Opener) -> None:
    store = opener()
    writer = GroupWriter(store)
    store.close()  # the connection is gone: the group cannot even begin
    outcomes = await asyncio.gather(
        writer.run(lambda: _take(store, 1)),
        writer.run(lambda: _take(store, 2)),
        return_exceptions=True,
    )
    assert all(isinstance(o, Exception) for o in outcomes)


async def test_a_duplicate_in_a_group_is_reported_as_such(opener: Opener) -> None:
    store = opener()
    writer = GroupWriter(store)
    first, second = await asyncio.gather(
        writer.run(lambda: _take(store, 7)), writer.run(lambda: _take(store, 7))
    )
    assert (first, second) == (True, False)


def test_plain_methods_still_commit_on_their_own(store: SqlStore) -> None:
    assert _take(store, 1)

    def group_that_fails() -> None:
        with store.group():
            _take(store, 2)
            raise RuntimeError("the whole group rolls back")

    with pytest.raises(RuntimeError):
        group_that_fails()
    assert store.pending_event_count() == 1
