"""The thread pool behind the async store facade (:mod:`relay.store.aio`).

A store call blocks (a disk sync, a round trip to PostgreSQL), so the facade runs it in a
pool thread and the event loop serves on meanwhile. The pool is the facade's own, not the
loop's default executor: a slow database never starves ``asyncio.to_thread`` users (DNS
lookups, file reads), and they never delay the store. The stores serialise their calls on
one connection under a lock, so one worker is enough and keeps calls in submission order;
more workers only queue on that lock (``scripts/bench_store_facade.py`` measures it).

A cancelled await does not cancel the call: it runs to the end in its thread (a write commits
or rolls back as a whole), its result unread.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["Facade"]

P = ParamSpec("P")
T = TypeVar("T")


class Facade:
    """Runs blocking calls in ``executor``, or in a pool of ``workers`` threads of its own
    (shut down by :meth:`shutdown`; a given executor is the caller's to shut down)."""

    def __init__(self, *, executor: Executor | None = None, workers: int = 1) -> None:
        if executor is None:
            if workers < 1:
                raise ValueError("a store facade needs at least one worker")
            self._own: Executor | None = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="relay-store"
            )
            self._executor: Executor = self._own
        else:
            self._own = None
            self._executor = executor

    async def run(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` in the pool (context variables go along, as with
        ``asyncio.to_thread``); its result or exception, back on the loop."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(
            self._executor, lambda: context.run(call, *args, **kwargs)
        )

    def shutdown(self) -> None:
        """Stop the pool this facade made (calls already queued still run)."""
        if self._own is not None:
            self._own.shutdown(wait=False)
