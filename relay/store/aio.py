"""The store with ``async`` methods: no store call on the event loop.

``AsyncStore(store)`` wraps a blocking :class:`~relay.store.contract.Store` (SQLite or
PostgreSQL) and offers every role method as a coroutine with the same name and arguments,
run in a thread pool of its own (:mod:`relay.store.aio_pool`). A consumer takes only the
roles it uses: ``AsyncInbox``, ``AsyncOutbox``, ``AsyncInboundQueue``, ``AsyncLeases``,
``AsyncPostMap``, ``AsyncBlobs``, ``AsyncBlobHoldings``, ``AsyncAuditLog``, ``AsyncRefusals``,
``AsyncReceipts``, ``AsyncAdmin``, ``AsyncLifecycle`` (each wraps one role, so a test may pass
a fake of just that role); ``AsyncStore`` is all of them.

Writes that are acknowledged to someone (a Slack event taken, an envelope received) go
through the group commit instead: ``await astore.durable(lambda: astore.store.take_event(...))``
batches them with the other writes of the loop's turn into one transaction and one disk sync
(:class:`~relay.store.group.GroupWriter`, in a worker thread too). Reads and lone writes go
through the facade's methods; each is its own transaction, durable when it returns.

Threads here are chosen over psycopg's async driver, measured by
``scripts/bench_store_facade.py``: the hop costs about 30 us a call (an SQLite lookup takes
6 us directly, 37 through the facade); psycopg's native async connection was no faster than
its blocking one in a thread (a SELECT and COMMIT: 130-190 us against 100-120 us); and SQLite
has no async driver, so one path serves both backends over their one SQL implementation
(:class:`~relay.store.base.SqlStore`). One worker by default: the stores serialise calls on
one connection, and more workers measured no faster.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from relay.store.aio_blobs import AsyncBlobHoldings
from relay.store.aio_pool import Facade
from relay.store.aio_receipts import AsyncReceipts, AsyncReviews
from relay.store.aio_roles import (
    AsyncAdmin,
    AsyncAuditLog,
    AsyncBlobs,
    AsyncInboundQueue,
    AsyncInbox,
    AsyncLeases,
    AsyncLifecycle,
    AsyncOutbox,
    AsyncPostMap,
    AsyncRefusals,
)
from relay.store.contract import Store
from relay.store.group import GroupWriter

__all__ = [
    "AsyncAdmin",
    "AsyncAuditLog",
    "AsyncBlobHoldings",
    "AsyncBlobs",
    "AsyncInboundQueue",
    "AsyncInbox",
    "AsyncLeases",
    "AsyncLifecycle",
    "AsyncOutbox",
    "AsyncPostMap",
    "AsyncReceipts",
    "AsyncRefusals",
    "AsyncReviews",
    "AsyncStore",
]

T = TypeVar("T")


class AsyncStore(
    AsyncInbox,
    AsyncOutbox,
    AsyncInboundQueue,
    AsyncLeases,
    AsyncPostMap,
    AsyncBlobs,
    AsyncBlobHoldings,
    AsyncAuditLog,
    AsyncRefusals,
    AsyncReceipts,
    AsyncReviews,
    AsyncAdmin,
    AsyncLifecycle,
):
    """Every store role, awaitable, over one blocking ``store``.

    ``executor``: run the calls there instead of a pool of ``workers`` threads of its own.
    ``writer``: the group commit for :meth:`durable` (one is made over ``store`` if none is
    given; pass the relay's own so all its writes share its batches)."""

    def __init__(
        self,
        store: Store,
        *,
        executor: Executor | None = None,
        workers: int = 1,
        writer: GroupWriter | None = None,
    ) -> None:
        Facade.__init__(self, executor=executor, workers=workers)
        self._store = store
        self._inbox = self._outbox = self._inbound = self._leases = store
        self._posts = self._blobs = self._audit = self._refusals = store
        self._holdings = store
        self._admin = self._lifecycle = self._receipts = self._reviews = store
        self.writer = writer if writer is not None else GroupWriter(store)

    @property
    def store(self) -> Store:
        """The blocking store underneath: for the writes handed to :meth:`durable` (they run
        in the group commit's thread), never to be called from the event loop."""
        return self._store

    async def durable(self, write: Callable[[], T]) -> T:
        """``write()`` (blocking calls on :attr:`store`) in the group commit: in its own
        savepoint of a transaction shared with the other writes pending on this loop, done
        once that transaction committed. A store without group commit runs it alone, in the
        pool."""
        if getattr(self._store, "group", None) is None:
            return await self.run(write)
        return await self.writer.run(write)
