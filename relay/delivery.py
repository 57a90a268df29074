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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import structlog

from relay.core.backoff import DONE, Attempt, Backoff, after_failure, before_attempt
from relay.errors import DeliveryError, RelayError
from relay.lab.crashpoints import crash_point
from relay.store.contract import ClaimedEnvelope, ClaimedInbound, OutboxItem, Store
from relay.store.group import GroupWriter

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord
    from relay.metrics import RelayMetrics

__all__ = ["Dispatcher", "InboundWorker", "QueueTuning", "WireSender", "Worked"]

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


async def _yes() -> bool:
    return True


Gate = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch worked and answered, to be settled (again, while settling fails)."""

    claimed: list[ClaimedEnvelope]
    results: list[Attempt]
    sent: list[tuple[ClaimedEnvelope, str]]  # what partners accepted, and their answer

    @property
    def unconfirmed(self) -> list[ClaimedEnvelope]:
        """Given up after earlier attempts, any of which may have been taken (an attempt
        whose answer was lost, or whose settlement died with its process)."""
        return [
            item
            for item, result in zip(self.claimed, self.results, strict=True)
            if result.state == "dead" and item.attempts > 1
        ]


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
        audit: Callable[[list[tuple[ClaimedEnvelope, str]], list[ClaimedEnvelope]], None]
        | None = None,
        may_send: Gate = _yes,
        on_settle_failed: Callable[[], None] = lambda: None,
        writer: GroupWriter | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.metrics = metrics
        # Writes the dissemination records (what partners accepted; what was given up after
        # attempts that may have been taken) in the transaction that settles them.
        self.audit = audit
        self.may_send = may_send  # False while audit writes fail: nothing leaves
        self.on_settle_failed = on_settle_failed
        self.writer = writer or GroupWriter(store)
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
        unsettled: _Sent | None = None
        while not self._stopping:
            if unsettled is not None:
                # Answered but not yet settled (the store or the ledger failed): settle it
                # before anything else. Its leases stay ours (the heartbeat), so nobody else
                # takes it meanwhile; stopping gives them back and the partner dedupes.
                if await self._settle(unsettled):
                    unsettled = None
                else:
                    await loop.sleep(self.tuning.poll)
                continue
            if not await self.may_send():
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
            batch = _Sent(
                claimed=claimed,
                results=[result for result, _ in answers],
                sent=[(i, how) for i, (_, how) in zip(claimed, answers, strict=True) if how],
            )
            if not await self._settle(batch):
                unsettled = batch
                await loop.sleep(self.tuning.poll)

    async def _settle(self, batch: _Sent) -> bool:
        """Record and settle a worked batch in one transaction (off the event loop)."""
        audit = self.audit

        def write() -> None:
            if audit is not None:
                audit(batch.sent, batch.unconfirmed)
            self.store.settle_outbox(
                list(zip((i.seq for i in batch.claimed), batch.results, strict=True)),
                owner=self.owner,
                now=self.clock(),
            )

        try:
            await self.writer.run(write)
        except Exception as exc:  # noqa: BLE001 - kept and settled again
            log.warning("settle_failed", items=len(batch.claimed), exc_type=type(exc).__name__)
            self.on_settle_failed()
            return False
        now = self.clock()
        for item, result in zip(batch.claimed, batch.results, strict=True):
            if result.state == "dead":
                self.on_dead(item, result.reason or "dead")
        if self.metrics is not None:
            for item, how in batch.sent:
                self.metrics.envelope_sent(item.partner, how, now - item.created_at)
        return True

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


@dataclass(frozen=True, slots=True)
class Worked:
    """An inbound item judged, posted and passed on: the envelopes to queue onward and the
    audit records to write, both with the item's completion."""

    forwards: list[OutboxItem]
    records: Sequence[AuditRecord] = ()


class InboundWorker:
    """The inbound queue: judge, post and pass on each accepted envelope, once."""

    def __init__(
        self,
        store: Store,
        process: Callable[[ClaimedInbound], Awaitable[Worked]],
        *,
        owner: str,
        clock: Callable[[], float],
        tuning: QueueTuning | None = None,
        on_forward: Callable[[list[OutboxItem]], None] = lambda items: None,
        on_dead: Callable[[ClaimedInbound, str], None] = lambda item, reason: None,
        rng: Callable[[], float] = random.random,
        writer: GroupWriter | None = None,
        audit: Callable[[ClaimedInbound, Attempt | None, Sequence[AuditRecord]], None]
        | None = None,
        may_take: Gate = _yes,
        on_settle_failed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.writer = writer or GroupWriter(store)
        # Writes an item's audit records in the transaction that settles it (outcome None:
        # done, with the records its work produced; else the attempt's outcome).
        self.audit = audit
        self.may_take = may_take  # False while audit writes fail: nothing is taken
        self.on_settle_failed = on_settle_failed
        # Items whose settlement failed: settled again before anything is taken.
        self._unsettled: list[tuple[ClaimedInbound, Attempt | None, Worked]] = []
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
            if self._unsettled:
                pending, self._unsettled = self._unsettled, []
                for item, outcome, worked in pending:
                    await self._settle(item, outcome, worked)
                if self._unsettled:
                    await loop.sleep(self.tuning.poll)
                continue
            if not await self.may_take():
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
                worked = await self.process(item)
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
                await self._settle(item, None, worked)
                return
        await self._settle(item, outcome, Worked(forwards=[]))

    async def _settle(self, item: ClaimedInbound, outcome: Attempt | None, worked: Worked) -> None:
        """Mark ``item`` done (``outcome`` None: with its onward envelopes) or record the
        attempt's ``outcome``, with its audit records, in one transaction. A failure keeps
        it, to be settled again before anything new is taken: its lease stays ours (the
        heartbeat), so it is not taken again meanwhile."""
        audit = self.audit

        def write() -> None:
            if audit is not None:
                audit(item, outcome, worked.records)
            if outcome is None:
                self.store.complete_inbound(
                    item.seq, owner=self.owner, now=self.clock(), forwards=worked.forwards
                )
            else:
                self.store.settle_inbound(item.seq, outcome, owner=self.owner, now=self.clock())

        try:
            await self.writer.run(write)
        except Exception as exc:  # noqa: BLE001 - kept and settled again
            log.warning("settle_failed", envelope=item.envelope_id, exc_type=type(exc).__name__)
            self.on_settle_failed()
            self._unsettled.append((item, outcome, worked))
            return
        if outcome is None:
            self.on_forward(worked.forwards)
        elif outcome.state == "dead":
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
