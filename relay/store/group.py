"""Group commit: the writes of one event-loop turn share one transaction and one fsync.

Callers ``await writer.run(lambda: store.take_event(...))``; every write submitted before the
loop gets round to flushing runs, each in its own savepoint, inside one transaction, and all
callers resume only after that transaction committed. The commit runs in a worker thread, so
the event loop keeps serving while the disk syncs. Durable before acknowledged still
holds for each of them; the disk is asked to sync once for the lot. A write that raises
fails alone (its savepoint is rolled back); a failed commit fails them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["GroupWriter"]

T = TypeVar("T")


class GroupWriter:
    """Batches synchronous store writes made from one event loop (``max_batch`` at most)."""

    def __init__(self, store: object, *, max_batch: int = 512) -> None:
        self._group = getattr(store, "group", None)  # stores without group commit write alone
        self._unit = getattr(store, "unit", None)
        self._max = max_batch
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # commits made (a figure for benchmarks)
        self.writes = 0

    async def run(self, write: Callable[[], T]) -> T:
        if self._group is None:
            return write()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((write, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        """Commit what is pending, in a thread (the loop goes on serving while the disk
        syncs); what arrived meanwhile goes in the next commit, so batches grow with load."""
        await asyncio.sleep(0)  # let this turn's other writers join the batch
        while self._pending:
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            batch = [(w, f) for w, f in batch if not f.cancelled()]
            if not batch:
                continue
            try:
                outcomes = await asyncio.to_thread(self._commit, [w for w, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the commit failed: nothing is durable
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.writes += len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _commit(self, writes: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        assert self._group is not None  # noqa: S101 - run() writes alone without it
        assert self._unit is not None  # noqa: S101 - both come with SqlStore
        with self._group():
            for write in writes:
                try:
                    with self._unit():  # a write stands or falls as a whole
                        outcomes.append((True, write()))
                except Exception as exc:  # noqa: BLE001 - handed to its own caller
                    outcomes.append((False, exc))
        return outcomes
