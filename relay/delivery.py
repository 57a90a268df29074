"""The durable queues at work: the outbox (envelopes to partners) and the inbound queue
(accepted envelopes to judge, post and pass on).

Each loop leases a batch from the store, works it, and records the outcome; a lease that
expires (an instance that died) puts the work back for any instance. One loop per partner, so
a partner that is down never delays the others; the store hands out at most one item per
thread at a time, so order within a thread holds. Between batches a loop sleeps until woken,
until the next item falls due, or ``poll`` seconds (another instance may have queued work).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import structlog

from relay.core.backoff import DONE, Attempt, Backoff, after_failure, before_attempt
from relay.crashpoints import crash_point
from relay.errors import DeliveryError, RelayError
from relay.store.contract import ClaimedEnvelope, ClaimedInbound, OutboxItem, Store
from relay.store.group import GroupWriter

if TYPE_CHECKING:
    from relay.metrics import RelayMetrics

__all__ = ["Dispatcher", "InboundWorker", "QueueTuning", "WireSender"]

log = structlog.get_logger("relay.delivery")

T = TypeVar("T")


class WireSender(Protocol):
    """One attempt each, no retries of its own (``PeerClient`` in production)."""

    async def send_once(self, partner: str, body: bytes) -> object: ...

    async def put_blob_once(self, partner: str, sha256: str, mime: str, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueTuning:
    lease: float = 30.0  # seconds an instance holds an item before others may take it
    batch: int = 64  # items leased at once (per partner for the outbox)
    poll: float = 1.0  # seconds between looks when nothing wakes the loop
    backoff: Backoff = field(default_factory=Backoff)


class _Loop:
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
        take: Callable[[], list[T]],
        next_due: Callable[[], float | None],
        clock: Callable[[], float],
        poll: float,
    ) -> list[T]:
        """Lease a batch; when there is none (or the store is away), sleep until woken, the
        next item falls due, or ``poll`` seconds, and return nothing."""
        try:
            claimed = take()
        except Exception:  # noqa: BLE001 - the store is away: look again later
            await self.sleep(poll)
            return []
        if not claimed:
            due = _safe(next_due)
            await self.sleep(poll if due is None else min(due - clock(), poll))
        return claimed


class Dispatcher:
    """The outbox: one loop per partner, sending leased envelopes concurrently."""

    def __init__(
        self,
        store: Store,
        sender: WireSender,
        partners: Callable[[], Iterable[str]],
        *,
        owner: str,
        clock: Callable[[], float],
        tuning: QueueTuning | None = None,
        on_dead: Callable[[ClaimedEnvelope, str], None] = lambda item, reason: None,
        rng: Callable[[], float] = random.random,
        metrics: RelayMetrics | None = None,
        audit: Callable[[list[tuple[ClaimedEnvelope, str]]], None] | None = None,
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.sender = sender
        self.metrics = metrics
        # Writes the dissemination records of what partners accepted, in the transaction
        # that settles them: a failure leaves them unsettled, sent again, recorded then.
        self.audit = audit
        self.may_send = may_send  # False while audit writes fail: nothing leaves
        self.partners = partners
        self.owner = owner
        self.clock = clock
        self.tuning = tuning or QueueTuning()
        self.on_dead = on_dead
        self.rng = rng
        self._loops: dict[str, _Loop] = {}
        self._stopping = False

    def _loop(self, partner: str) -> _Loop:
        return self._loops.setdefault(partner, _Loop())

    def wake(self, partner: str | None = None) -> None:
        for p in [partner] if partner else list(self._loops):
            self._loop(p).wake()

    async def run(self) -> None:
        """Run every partner's loop until cancelled or :meth:`stop`."""
        async with asyncio.TaskGroup() as group:
            for partner in self.partners():
                group.create_task(self._run_partner(partner))

    def stop(self) -> None:
        """Claim nothing more; loops finish the batch in hand and return."""
        self._stopping = True
        for loop in self._loops.values():
            loop.stop()

    async def idle(self) -> None:
        """Until every partner's loop found nothing due (tests, ``relay chaos``)."""
        for partner in self.partners():
            await self._loop(partner).idle()

    async def _run_partner(self, partner: str) -> None:
        loop = self._loop(partner)
        while not self._stopping:
            if not self.may_send():
                await loop.sleep(self.tuning.poll)
                continue
            claimed = await loop.claim(
                lambda: self.store.claim_outbox(
                    partner,
                    owner=self.owner,
                    now=self.clock(),
                    lease=self.tuning.lease,
                    limit=self.tuning.batch,
                ),
                lambda: self.store.next_outbox_due(partner),
                self.clock,
                self.tuning.poll,
            )
            if not claimed:
                continue
            answers = await asyncio.gather(*(self._attempt(item) for item in claimed))
            results = [result for result, _ in answers]
            sent = [(i, how) for i, (_, how) in zip(claimed, answers, strict=True) if how]
            # one transaction: the dissemination records and the settlement stand together
            group = getattr(self.store, "group", None)
            together = group() if group is not None and self.audit else contextlib.nullcontext()
            try:
                with together:
                    if self.audit is not None:
                        self.audit(sent)
                    self.store.settle_outbox(
                        list(zip((i.seq for i in claimed), results, strict=True)),
                        owner=self.owner,
                        now=self.clock(),
                    )
            except Exception:  # noqa: BLE001 - leases expire; the receiver dedupes the resend
                await loop.sleep(self.tuning.poll)
                continue
            now = self.clock()
            for item, result in zip(claimed, results, strict=True):
                if result.state == "dead":
                    self.on_dead(item, result.reason or "dead")
            if self.metrics is not None:
                for item, how in sent:
                    self.metrics.envelope_sent(item.partner, how, now - item.created_at)

    async def _attempt(self, item: ClaimedEnvelope) -> tuple[Attempt, str | None]:
        """One delivery attempt: its outcome, and the partner's answer if it took it
        (``accepted`` or ``duplicate``)."""
        backoff = self.tuning.backoff
        now = self.clock()
        stale = before_attempt(
            created_at=item.created_at, expires_at=item.expires_at, now=now, backoff=backoff
        )
        if stale is not None:
            return stale, None
        try:
            for sha256, mime in item.blobs:
                blob = self.store.get_blob(sha256)
                if blob is not None:
                    await self.sender.put_blob_once(item.partner, sha256, mime, blob[1])
            answer = await self.sender.send_once(item.partner, item.body)
            crash_point("after_partner_answered")
        except Exception as exc:  # noqa: BLE001 - any failure is retried, by its code only
            error = exc if isinstance(exc, DeliveryError) else None
            reason = error.code if error else "internal"
            log.info(
                "send_failed",
                partner=item.partner,
                envelope=item.envelope_id,
                attempt=item.attempts,
                reason=reason,
                exc_type=None if error else type(exc).__name__,
            )
            if self.metrics is not None:
                self.metrics.send_failed(item.partner, reason)
            return _failed(error, item, self.clock(), self.tuning.backoff, self.rng), None
        status = getattr(answer, "status", None)
        return DONE, status if status in ("accepted", "duplicate") else "accepted"


class InboundWorker:
    """The inbound queue: judge, post and pass on each accepted envelope, once."""

    def __init__(
        self,
        store: Store,
        process: Callable[[ClaimedInbound], Awaitable[list[OutboxItem]]],
        *,
        owner: str,
        clock: Callable[[], float],
        tuning: QueueTuning | None = None,
        on_forward: Callable[[list[OutboxItem]], None] = lambda items: None,
        on_dead: Callable[[ClaimedInbound, str], None] = lambda item, reason: None,
        rng: Callable[[], float] = random.random,
        writer: GroupWriter | None = None,
        audit: Callable[[ClaimedInbound], None] | None = None,
        may_take: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.writer = writer or GroupWriter(store)
        # Writes an item's audit records in the transaction that marks it done.
        self.audit = audit
        self.may_take = may_take  # False while audit writes fail: nothing is taken
        self.process = process
        self.owner = owner
        self.clock = clock
        self.tuning = tuning or QueueTuning()
        self.on_forward = on_forward
        self.on_dead = on_dead
        self.rng = rng
        self._loop = _Loop()
        self._stopping = False

    def wake(self) -> None:
        self._loop.wake()

    def stop(self) -> None:
        self._stopping = True
        self._loop.stop()

    async def idle(self) -> None:
        await self._loop.idle()

    async def run(self) -> None:
        loop = self._loop
        while not self._stopping:
            if not self.may_take():
                await loop.sleep(self.tuning.poll)
                continue
            claimed = await loop.claim(
                lambda: self.store.claim_inbound(
                    owner=self.owner,
                    now=self.clock(),
                    lease=self.tuning.lease,
                    limit=self.tuning.batch,
                ),
                self.store.next_inbound_due,
                self.clock,
                self.tuning.poll,
            )
            if not claimed:
                continue
            # one item per thread in a batch: threads go in parallel
            await asyncio.gather(*(self._one(item) for item in claimed))

    async def _one(self, item: ClaimedInbound) -> None:
        backoff = self.tuning.backoff
        now = self.clock()
        outcome = before_attempt(
            created_at=item.created_at, expires_at=item.expires_at, now=now, backoff=backoff
        )
        if outcome is None:
            try:
                forwards = await self.process(item)
            except asyncio.CancelledError:
                self._interrupted(item)
                raise
            except DeliveryError as exc:
                outcome = _failed(exc, item, self.clock(), backoff, self.rng)
                log.info("inbound_failed", envelope=item.envelope_id, reason=exc.code)
            except RelayError as exc:  # e.g. a key revoked since: its refusal code
                outcome = Attempt(state="dead", reason=exc.code)
            except Exception as exc:  # noqa: BLE001 - e.g. the store away: retried until max_age
                outcome = _failed(None, item, self.clock(), backoff, self.rng)
                log.warning(
                    "inbound_failed", envelope=item.envelope_id, exc_type=type(exc).__name__
                )
            else:
                audit = self.audit

                def complete() -> None:
                    if audit is not None:
                        audit(item)
                    self.store.complete_inbound(
                        item.seq, owner=self.owner, now=self.clock(), forwards=forwards
                    )

                try:
                    await self.writer.run(complete)
                except Exception:  # noqa: BLE001 - the lease expires; it is done again
                    return
                self.on_forward(forwards)
                return
        settled = outcome
        try:
            await self.writer.run(
                lambda: self.store.settle_inbound(
                    item.seq, settled, owner=self.owner, now=self.clock()
                )
            )
        except Exception:  # noqa: BLE001 - the lease expires; it is tried again
            return
        if outcome.state == "dead":
            self.on_dead(item, outcome.reason or "dead")

    def _interrupted(self, item: ClaimedInbound) -> None:
        """Stopped mid-attempt (a shutdown past its timeout): a Slack post may have been made
        and its answer never seen. The attempt counts, so the next one looks for the post
        before posting (``release`` would hand the item back as never tried: a second post).
        """
        now = self.clock()
        with contextlib.suppress(Exception):  # the store is away: the lease runs out, counted
            self.store.settle_inbound(
                item.seq,
                Attempt(state="pending", next_at=now, reason="interrupted"),
                owner=self.owner,
                now=now,
            )


def _failed(
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
