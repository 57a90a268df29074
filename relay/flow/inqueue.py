"""The inbound queue: each accepted envelope judged, posted and passed on, once, and settled
with its onward envelopes and audit records in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import structlog

from relay.core.backoff import Attempt, before_attempt
from relay.errors import DeliveryError, RelayError
from relay.flow.queues import (
    RNG,
    Gate,
    Loop,
    Outcome,
    QueueTuning,
    Random,
    Worked,
    failed,
    yes,
)
from relay.store.aio import AsyncStore
from relay.store.contract import ClaimedInbound, OutboxItem, OwedReceipt

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord

__all__ = ["InboundWorker"]

log = structlog.get_logger("relay.flow")


class InboundWorker:
    """The inbound queue: judge, post and pass on each accepted envelope, once."""

    def __init__(
        self,
        store: AsyncStore,
        process: Callable[[ClaimedInbound], Awaitable[Worked]],
        *,
        owner: str,
        clock: Callable[[], float],
        tuning: QueueTuning | None = None,
        on_forward: Callable[[list[OutboxItem]], None] = lambda items: None,
        on_dead: Callable[[ClaimedInbound, str], None] = lambda item, reason: None,
        rng: Random = RNG,
        audit: Callable[[ClaimedInbound, Attempt | None, Sequence[AuditRecord]], None]
        | None = None,
        may_take: Gate = yes,
        on_settle_failed: Callable[[], None] = lambda: None,
        signal: Loop | None = None,
        owe: Callable[[ClaimedInbound, Outcome], OwedReceipt | None] | None = None,
    ) -> None:
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
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
        self._loop = signal or Loop()  # woken by whoever stores work (given, or its own)
        self._stopping = False
        # The receipt owed to the sender for what was done (signed; queued in the settling
        # transaction, so it is neither lost nor owed twice).
        self.owe = owe

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
                self.aio,
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
                outcome = failed(exc, item, self.clock(), backoff, self.rng)
                log.info("inbound_failed", envelope=item.envelope_id, reason=exc.code)
            except RelayError as exc:  # e.g. a key revoked since: its refusal code
                outcome = Attempt(state="dead", reason=exc.code)
            except Exception as exc:  # noqa: BLE001 - e.g. the store away: retried until max_age
                outcome = failed(None, item, self.clock(), backoff, self.rng)
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

        owed = None
        if self.owe is not None:
            if outcome is None and worked.outcome is not None:
                owed = self.owe(item, worked.outcome)
            elif outcome is not None and outcome.state == "dead":
                owed = self.owe(item, ("failed", outcome.reason or "dead"))

        def write() -> None:
            if audit is not None:
                audit(item, outcome, worked.records)
            if owed is not None:
                self.store.queue_receipts([owed], now=self.clock())
            if outcome is None:
                for copy in worked.posts:
                    self.store.map_post(**copy._asdict())
                self.store.complete_inbound(
                    item.seq, owner=self.owner, now=self.clock(), forwards=worked.forwards
                )
            else:
                self.store.settle_inbound(item.seq, outcome, owner=self.owner, now=self.clock())

        try:
            await self.aio.durable(write)
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
