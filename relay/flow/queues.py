"""What the two durable queue loops share: tuning, the wake/idle/stop signals, the outcome
of a failed attempt, and the result of working one inbound item.

Each loop leases a batch from the store, works it, and records the outcome; a lease that
expires (an instance that died) puts the work back for any instance. Between batches a loop
sleeps until woken, until the next item falls due, or ``poll`` seconds (another instance may
have queued work). Store calls run off the event loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from relay.core import defaults
from relay.core.backoff import Attempt, Backoff, after_failure
from relay.errors import DeliveryError
from relay.store.contract import ClaimedEnvelope, ClaimedInbound, OutboxItem, PostCopy

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord
    from relay.store.aio import AsyncStore

__all__ = ["Gate", "Loop", "Outcome", "QueueTuning", "Worked", "failed", "yes"]

T = TypeVar("T")
Random = Callable[[], float]
RNG: Random = random.random


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueTuning:
    lease: float = defaults.LEASE  # seconds an instance holds an item before others may take it
    batch: int = defaults.BATCH  # items leased at once (per partner for the outbox)
    poll: float = defaults.POLL  # seconds between looks when nothing wakes the loop
    backoff: Backoff = field(default_factory=Backoff)


class Loop:
    """Wake, idle and stop signals shared by the two queue loops."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    def stop(self) -> None:
        self._idle.set()
        self._wake.set()

    async def sleep(self, seconds: float) -> None:
        """Until woken or ``seconds``; idle meanwhile unless a wake is already waiting."""
        if not self._wake.is_set():
            self._idle.set()
        try:
            async with asyncio.timeout(max(0.01, seconds)):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def idle(self) -> None:
        await self._idle.wait()

    async def claim(
        self,
        store: AsyncStore,
        take: Callable[[], list[T]],
        next_due: Callable[[], float | None],
        clock: Callable[[], float],
        poll: float,
    ) -> list[T]:
        """Lease a batch (``take`` and ``next_due`` run in ``store``'s pool); when there is
        none (or the store is away), sleep until woken, the next item falls due, or ``poll``
        seconds, and return nothing."""
        try:
            claimed = await store.run(take)
        except Exception:  # noqa: BLE001 - the store is away: look again later
            await self.sleep(poll)
            return []
        if not claimed:
            due = await store.run(_safe, next_due)
            await self.sleep(poll if due is None else min(due - clock(), poll))
        return claimed


async def yes() -> bool:
    return True


Gate = Callable[[], Awaitable[bool]]
# What a receiving relay did with an envelope: a receipt's status and its reason code.
Outcome = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Worked:
    """An inbound item judged, posted and passed on: the envelopes to queue onward, the
    audit records to write and where it was posted, all with the item's completion."""

    forwards: list[OutboxItem]
    records: Sequence[AuditRecord] = ()
    posts: Sequence[PostCopy] = ()
    outcome: Outcome | None = None  # what was done here: a receipt's (status, reason)


def failed(
    exc: DeliveryError | None,
    item: ClaimedEnvelope | ClaimedInbound,
    now: float,
    backoff: Backoff,
    rng: Callable[[], float],
) -> Attempt:
    """After a failed attempt: ``exc`` None is an unexpected error, retried as "internal"."""
    return after_failure(
        code=exc.code if exc else "internal",
        retryable=exc.retryable if exc else True,
        retry_after=exc.retry_after if exc else None,
        attempts=item.attempts,
        created_at=item.created_at,
        expires_at=item.expires_at,
        now=now,
        backoff=backoff,
        rng=rng,
    )


def _safe(read: Callable[[], float | None]) -> float | None:
    try:
        return read()
    except Exception:  # noqa: BLE001 - the store is away: the caller polls
        return None
