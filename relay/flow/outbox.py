"""The outbox: envelopes to partners, one loop per partner, so a partner that is down never
delays the others; the store hands out at most one item per thread at a time, so order within
a thread holds. Outcomes, and the dissemination records of what partners accepted, are
settled in one transaction per batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from relay.core import defaults
from relay.core.backoff import DONE, Attempt, before_attempt
from relay.errors import DeliveryError, TransactionsUnsupported
from relay.flow.queues import RNG, Gate, Loop, QueueTuning, Random, failed, yes
from relay.lab.crashpoints import crash_point
from relay.store.aio import AsyncStore
from relay.store.contract import Blobs, ClaimedEnvelope, Outbox

if TYPE_CHECKING:
    from relay.metrics import RelayMetrics


class OutboxStore(Outbox, Blobs, Protocol):
    """The outbox and the photos pushed before an envelope."""


__all__ = ["Dispatcher", "WireSender"]

log = structlog.get_logger("relay.flow")


class WireSender(Protocol):
    """One attempt each, no retries of its own (``PeerClient`` in production). A sender may
    also have ``send_transaction_once(partner, bodies)`` (several envelopes in one request,
    each answered on its own); the outbox uses it when it is there."""

    async def send_once(self, partner: str, body: bytes) -> object: ...

    async def put_blob_once(self, partner: str, sha256: str, mime: str, data: bytes) -> None: ...


# an attempt's outcome; the partner's answer if taken, and its signed receipt if it gave one
_Answer = tuple[Attempt, str | None, str | None]


@dataclass(frozen=True, slots=True)
class _Sent:
    """A batch worked and answered, to be settled (again, while settling fails)."""

    claimed: list[ClaimedEnvelope]
    results: list[Attempt]
    sent: list[tuple[ClaimedEnvelope, str]]  # what partners accepted, and their answer
    receipts: list[str]  # the partner's signed "accepted" receipts, kept once settled

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
    """The outbox: one loop per partner, each leased batch sent in one transaction."""

    def __init__(
        self,
        store: AsyncStore,
        sender: WireSender,
        partners: Callable[[], Iterable[str]],
        *,
        owner: str,
        clock: Callable[[], float],
        tuning: QueueTuning | None = None,
        on_dead: Callable[[ClaimedEnvelope, str], None] = lambda item, reason: None,
        rng: Random = RNG,
        metrics: RelayMetrics | None = None,
        audit: Callable[[list[tuple[ClaimedEnvelope, str]], list[ClaimedEnvelope]], None]
        | None = None,
        may_send: Gate = yes,
        on_settle_failed: Callable[[], None] = lambda: None,
        on_receipts: Callable[[str, list[str]], Awaitable[object]] | None = None,
    ) -> None:
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.sender = sender
        self.metrics = metrics
        # Writes the dissemination records (what partners accepted; what was given up after
        # attempts that may have been taken) in the transaction that settles them.
        self.audit = audit
        self.may_send = may_send  # False while audit writes fail: nothing leaves
        self.on_settle_failed = on_settle_failed
        self.partners = partners
        self.owner = owner
        self.clock = clock
        self.tuning = tuning or QueueTuning()
        self.on_dead = on_dead
        self.on_receipts = on_receipts  # the partner's receipts, handed on once settled
        self.rng = rng
        self._loops: dict[str, Loop] = {}
        self._stopping = False
        self._singles: set[str] = set()  # partners without transactions (older relays)

    def _loop(self, partner: str) -> Loop:
        return self._loops.setdefault(partner, Loop())

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
                self.aio,
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
            answers = await self._work(partner, claimed)
            batch = _Sent(
                claimed=claimed,
                results=[result for result, _, _ in answers],
                sent=[(i, how) for i, (_, how, _) in zip(claimed, answers, strict=True) if how],
                receipts=[token for _, _, token in answers if token],
            )
            if not await self._settle(batch):
                unsettled = batch
                await loop.sleep(self.tuning.poll)
            elif batch.receipts and self.on_receipts is not None:
                try:
                    await self.on_receipts(partner, batch.receipts)
                except Exception as exc:  # noqa: BLE001 - the forward records stand
                    log.warning("receipts_not_kept", partner=partner, exc_type=type(exc).__name__)

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
            await self.aio.durable(write)
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

    async def _work(self, partner: str, claimed: list[ClaimedEnvelope]) -> list[_Answer]:
        """Send a leased batch: photos first (each envelope's own), then the envelopes in
        one transaction (or one by one to a partner without transactions). Each envelope's
        outcome, and the partner's answer where it took it."""
        answers: list[_Answer | None] = [None] * len(claimed)
        ready: list[int] = []
        for i, item in enumerate(claimed):
            stale = before_attempt(
                created_at=item.created_at,
                expires_at=item.expires_at,
                now=self.clock(),
                backoff=self.tuning.backoff,
            )
            if stale is not None:
                answers[i] = (stale, None, None)
            elif item.blobs:
                try:
                    await self._push_blobs(item)
                except Exception as exc:  # noqa: BLE001 - retried, by its code only
                    answers[i] = self._failure(item, exc)
                    continue
                ready.append(i)
            else:
                ready.append(i)
        if ready:
            sent = await self._send([claimed[i] for i in ready], partner)
            for i, answer in zip(ready, sent, strict=True):
                answers[i] = answer
        return [a for a in answers if a is not None]

    async def _push_blobs(self, item: ClaimedEnvelope) -> None:
        for sha256, mime in item.blobs:
            blob = await self.aio.run(self.store.get_blob, sha256)
            if blob is not None:
                await self.sender.put_blob_once(item.partner, sha256, mime, blob[1])

    async def _send(self, items: list[ClaimedEnvelope], partner: str) -> list[_Answer]:
        """In transactions of at most ``TRANSACTION_ENVELOPES`` envelopes and about
        ``TRANSACTION_BYTES``, one after the other."""
        answers: list[_Answer] = []
        chunk: list[ClaimedEnvelope] = []
        size = 0
        for item in items:
            if chunk and (
                len(chunk) == defaults.TRANSACTION_ENVELOPES
                or size + len(item.body) > defaults.TRANSACTION_BYTES
            ):
                answers += await self._send_chunk(chunk, partner)
                chunk, size = [], 0
            chunk.append(item)
            size += len(item.body) + 1
        if chunk:
            answers += await self._send_chunk(chunk, partner)
        return answers

    async def _send_chunk(self, items: list[ClaimedEnvelope], partner: str) -> list[_Answer]:
        batch = getattr(self.sender, "send_transaction_once", None)
        if batch is not None and partner not in self._singles and len(items) > 1:
            try:
                got = await batch(partner, [item.body for item in items])
            except TransactionsUnsupported:
                self._singles.add(partner)  # an older relay: one envelope per request
                log.info("transactions_unsupported", partner=partner)
            except DeliveryError as exc:
                if exc.code != "too_large":  # too big together: one by one below
                    return [self._failure(item, exc) for item in items]
            except Exception as exc:  # noqa: BLE001 - every envelope retried, by its code
                return [self._failure(item, exc) for item in items]
            else:
                crash_point("after_partner_answered")
                return [
                    self._failure(item, answer)
                    if isinstance(answer, Exception)
                    else (DONE, _taken(answer), _receipt(answer))
                    for item, answer in zip(items, got, strict=True)
                ]
        return list(await asyncio.gather(*(self._send_one(item) for item in items)))

    async def _send_one(self, item: ClaimedEnvelope) -> _Answer:
        try:
            answer = await self.sender.send_once(item.partner, item.body)
            crash_point("after_partner_answered")
        except Exception as exc:  # noqa: BLE001 - any failure is retried, by its code only
            return self._failure(item, exc)
        return DONE, _taken(answer), _receipt(answer)

    def _failure(self, item: ClaimedEnvelope, exc: Exception) -> _Answer:
        error = exc if isinstance(exc, DeliveryError) else None
        reason = error.code if error else "internal"
        log.info(
            "send_failed",
            partner=item.partner,
            envelope=item.envelope_id,
            attempt=item.attempts,
            reason=reason,
            exc_type=error.cause if error else type(exc).__name__,
        )
        if self.metrics is not None:
            self.metrics.send_failed(item.partner, reason)
        return failed(error, item, self.clock(), self.tuning.backoff, self.rng), None, None


def _receipt(answer: object) -> str | None:
    token = getattr(answer, "receipt", None)
    return token if isinstance(token, str) else None


def _taken(answer: object) -> str:
    """The partner's answer: ``accepted`` or ``duplicate``."""
    status = getattr(answer, "status", None)
    return status if status in ("accepted", "duplicate") else "accepted"
