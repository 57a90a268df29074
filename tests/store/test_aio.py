"""The async facade: every role method, off the event loop, safe under concurrent use."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, cast

import pytest

from relay.core.backoff import Attempt
from relay.store import aio
from relay.store.aio import AsyncStore
from relay.store.base import SqlStore
from relay.store.contract import ROLES, OutboxItem, RefusalRecord, Store, role_methods
from tests.store.conftest import Opener

T0: Final = 1_800_000_000.0
AT: Final = dt.datetime.fromtimestamp(T0, tz=dt.UTC)
PARTNER: Final = "MD0000002"
DONE: Final = Attempt(state="done")


def test_every_role_method_is_a_coroutine_with_the_same_signature() -> None:
    for role in ROLES:
        facade_role = getattr(aio, f"Async{role.__name__}")
        assert facade_role in AsyncStore.__mro__
        for name in role_methods(role):
            method = getattr(facade_role, name)
            assert inspect.iscoroutinefunction(method), name
            assert inspect.signature(method) == inspect.signature(getattr(role, name)), name


class Recording:
    """Passes calls to a store and notes the thread each ran in."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.threads: list[int] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.threads.append(threading.get_ident())
            return method(*args, **kwargs)

        return call


async def test_calls_run_off_the_event_loop(store: SqlStore) -> None:
    recording = Recording(store)
    facade = AsyncStore(cast(Store, recording))
    try:
        await facade.put_blob(sha256="ab", mime="image/png", data=b"png")
        assert await facade.get_blob("ab") == ("image/png", b"png")
        assert await facade.lookup_post(issuer="VA0000001", envelope_id="e") is None
    finally:
        facade.shutdown()
    assert len(recording.threads) == 3
    assert threading.get_ident() not in recording.threads


async def test_errors_come_back_to_the_caller(store: SqlStore) -> None:
    facade = AsyncStore(store)
    try:
        with pytest.raises(ValueError, match="queue id"):
            await facade.retry_entry("nonsense", now=T0)
        with pytest.raises(ValueError, match="365 days"):
            await facade.audit_prune(T0, now=T0)
    finally:
        facade.shutdown()


def _take(facade: AsyncStore, n: int) -> Callable[[], bool]:
    return lambda: facade.store.take_event(event_id=f"Ev{n}", team="T", body=b"", at=AT)


async def test_durable_writes_go_through_the_group_commit(opener: Opener) -> None:
    store = opener()
    facade = AsyncStore(store)
    try:
        taken = await asyncio.gather(*(facade.durable(_take(facade, n)) for n in range(20)))
        assert taken == [True] * 20
        assert facade.writer.writes == 20
        assert facade.writer.batches < 20
        assert opener().pending_event_count() == 20  # committed: another connection sees them
    finally:
        facade.shutdown()


async def test_a_given_executor_is_used_and_left_running() -> None:
    class Ping:
        def __init__(self) -> None:
            self.closed = False

        def ping(self) -> None:
            assert threading.current_thread().name.startswith("given")

        def close(self) -> None:
            self.closed = True

    with ThreadPoolExecutor(1, thread_name_prefix="given") as pool:
        lifecycle = Ping()
        facade = aio.AsyncLifecycle(lifecycle, executor=pool)
        await facade.ping()
        await facade.close()
        assert lifecycle.closed
        assert pool.submit(lambda: 1).result() == 1  # not shut down: it is the caller's


async def test_close_closes_the_store_and_the_own_pool(opener: Opener) -> None:
    facade = AsyncStore(opener())
    await facade.ping()
    await facade.close()
    with pytest.raises(RuntimeError, match="shutdown"):
        await facade.ping()


@pytest.mark.parametrize("workers", [1, 4])
async def test_concurrent_use_from_the_loop_is_safe(opener: Opener, workers: int) -> None:
    """Hundreds of calls in flight at once (reads, lone writes, group commits, racing
    claimers) on one store: every write lands once, every read sees what was written."""
    store = opener()
    facade = AsyncStore(store, workers=workers)
    n = 60
    items = [
        OutboxItem(
            partner=PARTNER,
            envelope_id=f"env-{i}",
            order_key=f"k{i}",
            body=b"x",
            expires_at=T0 * 2,
        )
        for i in range(n)
    ]

    async def blob(i: int) -> tuple[str, bytes] | None:
        await facade.put_blob(sha256=f"{i:064x}", mime="image/png", data=bytes([i]) * 100)
        return await facade.get_blob(f"{i:064x}")

    async def post(i: int) -> tuple[str, str] | None:
        await facade.map_post(issuer="VA0000001", envelope_id=f"e{i}", channel="C1", ts=f"{i}.0")
        return await facade.lookup_post(issuer="VA0000001", envelope_id=f"e{i}")

    async def refuse(i: int) -> None:
        record = RefusalRecord(at=AT, peer="DC0000003", reason=f"r{i}", http_status=401)
        await facade.record_refusal(record)

    claimed: list[str] = []

    async def claimer(owner: str) -> None:
        while True:
            batch = await facade.claim_outbox(PARTNER, owner=owner, now=T0, lease=600.0, limit=3)
            if not batch:
                if await facade.next_outbox_due(PARTNER) is None:
                    return
                await asyncio.sleep(0.001)
                continue
            claimed.extend(c.envelope_id for c in batch)
            await facade.settle_outbox([(c.seq, DONE) for c in batch], owner=owner, now=T0)

    async def enqueue_then_claim() -> None:
        await asyncio.gather(*(facade.enqueue([item], now=T0) for item in items))
        await asyncio.gather(*(claimer(f"w{k}") for k in range(6)))

    try:
        blobs, posts, taken, *_ = await asyncio.gather(
            asyncio.gather(*(blob(i) for i in range(n))),
            asyncio.gather(*(post(i) for i in range(n))),
            asyncio.gather(*(facade.durable(_take(facade, i)) for i in range(n))),
            asyncio.gather(*(refuse(i) for i in range(n))),
            asyncio.gather(*(facade.queue_stats() for _ in range(n // 4))),
            asyncio.gather(*(facade.lease_counts(T0) for _ in range(n // 4))),
            enqueue_then_claim(),
        )
        assert blobs == [("image/png", bytes([i]) * 100) for i in range(n)]
        assert posts == [("C1", f"{i}.0") for i in range(n)]
        assert taken == [True] * n
        assert sorted(claimed) == sorted(item.envelope_id for item in items)  # each once
        assert await facade.pending_event_count() == n
        assert len(await facade.refusals()) == n
        assert await facade.queue_stats() == []  # every envelope done
    finally:
        facade.shutdown()
