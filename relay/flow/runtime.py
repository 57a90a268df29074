"""The queues of one relay instance at work: the outbox and the inbound queue, their leases'
heartbeat, and their audit records (who received what, what was posted), started and
stopped together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import structlog

from relay.core import defaults
from relay.core.backoff import Attempt
from relay.flow.inqueue import InboundWorker
from relay.flow.outbox import Dispatcher, WireSender
from relay.flow.queues import Loop, Outcome, QueueTuning, Worked
from relay.flow.records import Recorder, digest
from relay.store.aio import AsyncStore
from relay.store.contract import (
    Blobs,
    ClaimedEnvelope,
    ClaimedInbound,
    InboundQueue,
    Leases,
    Outbox,
    OutboxItem,
    OwedReceipt,
)

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord


class QueueStore(Outbox, InboundQueue, Leases, Blobs, Protocol):
    """Both queues, their leases, and the photos the outbox pushes."""


__all__ = ["Queues"]

log = structlog.get_logger("relay.flow")


class Queues:
    def __init__(
        self,
        *,
        agency: str,
        policy_ref: str,
        kid: str,
        partners: Callable[[], list[str]],
        store: AsyncStore,
        sender: WireSender,
        recorder: Recorder,
        process: Callable[[ClaimedInbound], Awaitable[Worked]],
        owner: str,
        clock: Callable[[], float],
        tuning: QueueTuning,
        inbound_signal: Loop | None = None,
        owe: Callable[[ClaimedInbound, Outcome], OwedReceipt | None] | None = None,
        on_undeliverable: Callable[[str, str, str], None] = lambda env, partner, reason: None,
        on_receipts: Callable[[str, list[str]], Awaitable[object]] | None = None,
    ) -> None:
        self.agency = agency
        self.policy_ref = policy_ref
        self.kid = kid
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.recorder = recorder
        self.owner = owner  # this instance's name on leases
        self.clock = clock
        self.tuning = tuning
        self.on_undeliverable = on_undeliverable  # the author's view: a partner never got it
        self.outbox = Dispatcher(
            store,
            sender,
            partners,
            owner=owner,
            clock=clock,
            tuning=tuning,
            on_dead=self._undeliverable,
            metrics=recorder.metrics,
            audit=self._audit_forwards,
            may_send=recorder.ready,
            on_settle_failed=recorder.commit_failed,
            on_receipts=on_receipts,
        )
        self.inbound = InboundWorker(
            store,
            process,
            owner=owner,
            clock=clock,
            tuning=tuning,
            on_forward=self._forwarded,
            on_dead=lambda item, reason: recorder.dead_letter(
                "inbound", item.sender, item.envelope_id, reason
            ),
            audit=self._audit_inbound,
            may_take=recorder.ready,
            on_settle_failed=recorder.commit_failed,
            signal=inbound_signal,
            owe=owe,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start both loops (inside the running event loop); what an earlier run left in
        flight is resumed once its lease expires."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.outbox.run()),
                asyncio.create_task(self.inbound.run()),
                asyncio.create_task(self._heartbeat()),
            ]

    async def _heartbeat(self) -> None:
        """Renew this instance's leases every third of a lease while it runs: work that
        takes longer than a lease (a batch paced by Slack) stays its own; when the instance
        dies the heartbeat stops and the leases run out."""
        every = self.tuning.lease / 3
        while True:
            await asyncio.sleep(every)
            until = self.clock() + self.tuning.lease
            try:
                await self.aio.run(self.store.renew, self.owner, until=until)
            except Exception:  # noqa: BLE001 - the store is away: the next beat tries again
                self.recorder.problem("store", self.owner, "store_unavailable")

    async def stop(self, timeout: float = defaults.STOP_TIMEOUT) -> None:  # noqa: ASYNC109
        """Claim nothing more, finish the batches in hand within ``timeout`` seconds, then
        give back every lease still held so another instance (or the next start) takes over
        at once."""
        self.outbox.stop()
        self.inbound.stop()
        if self._tasks:
            self._tasks[-1].cancel()  # the heartbeat: leases are released below
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        try:
            await self.aio.run(self.store.release, self.owner)
        except Exception:  # noqa: BLE001 - the leases expire on their own
            self.recorder.problem("store", self.owner, "store_unavailable")

    def kill(self) -> list[asyncio.Task[None]]:
        """As a crash would (the lab's ``kill``): the tasks, to cancel; leases kept."""
        tasks, self._tasks = self._tasks, []
        return tasks

    async def drain(self, rounds: int = 3) -> None:
        """Until the queues have nothing due: everything accepted has been judged and
        posted, and every envelope sent or waiting for a retry (tests, ``relay demo``)."""
        if not self._tasks:
            return
        for _ in range(rounds):
            self.inbound.wake()
            self.outbox.wake()
            await self.inbound.idle()
            await self.outbox.idle()

    # -- what they record ----------------------------------------------------------------
    def _undeliverable(self, item: ClaimedEnvelope, reason: str) -> None:
        self.recorder.dead_letter("outbox", item.partner, item.envelope_id, reason)
        self.on_undeliverable(item.envelope_id, item.partner, reason)

    def _forwarded(self, items: list[OutboxItem]) -> None:
        for item in items:
            self.outbox.wake(item.partner)

    def _audit_forwards(
        self, sent: Sequence[tuple[ClaimedEnvelope, str]], unconfirmed: Sequence[ClaimedEnvelope]
    ) -> None:
        """In the transaction that settles the outbox: one ``forward`` per envelope a
        partner accepted (who received what, when: the dissemination record), and one with
        outcome ``unconfirmed`` per envelope given up after earlier attempts, any of which
        may have reached the partner (an answer lost, or a settlement that died)."""
        answered = [*sent, *((item, "unconfirmed") for item in unconfirmed)]
        self.recorder.append(
            [
                record
                for item, outcome in answered
                for record in self.recorder.entry(
                    "forward",
                    source=self.agency,
                    destination=item.partner,
                    envelope_id=item.envelope_id,
                    digest=digest(item.body),
                    policy=self.policy_ref,
                    outcome=outcome,
                    kid=self.kid,
                )
            ]
        )

    def _audit_inbound(
        self, item: ClaimedInbound, outcome: Attempt | None, records: Sequence[AuditRecord]
    ) -> None:
        """In the transaction that settles an inbound item. Done (``outcome`` None): its
        decision, what was posted and what was signed onward. Given up after earlier
        attempts: a ``post`` record with outcome ``unconfirmed`` (one of them may have
        posted). A retry to come: nothing done yet."""
        if outcome is not None and outcome.state == "dead" and item.attempts > 1:
            records = self.recorder.entry(
                "post",
                source=item.sender,
                destination=self.agency,
                actor_agency=item.issuer,
                envelope_id=item.envelope_id,
                policy=self.policy_ref,
                outcome="unconfirmed",
            )
        elif outcome is not None:
            return
        self.recorder.append(records)
