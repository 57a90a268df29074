"""Exactly-once delivery as the two stores see it: a model-checked state machine.

The sending relay's outbox (a real :class:`SqliteStore` on a file) hands envelopes to a
"partner" that is a second :class:`SqliteStore`, which dedupes with ``record_received``. The
machine crashes and restarts the sender (new owner name, leases left behind), loses replies
(the receiver stored the envelope, the sender never hears), fails attempts with backoff and
re-sends old envelopes, on a logical clock. After every step the store must hand out exactly
what a simple model says is claimable; at the end, after the clock runs past every lease and
retry, every envelope queued reached the receiver exactly once, each thread in queue order.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, Final, ParamSpec

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from relay.core.backoff import DONE, Attempt, Backoff, after_failure
from relay.store.contract import ClaimedEnvelope, OutboxItem, ReceiveOutcome
from relay.store.sqlite import SqliteStore

PARTNER: Final = "MD0000002"
ISSUER: Final = "VA0000001"
T0: Final = 1_800_000_000.0
LEASE: Final = 30.0
FAR: Final = T0 + 10 * 365 * 86400.0  # nothing expires in this machine
BACKOFF: Final = Backoff(base=0.5, cap=300.0, max_age=math.inf)  # nor grows too old
THREADS: Final = (None, "thread-a", "thread-b", "thread-c")
_P = ParamSpec("_P")


def _step(
    method: Callable[Concatenate[DeliveryMachine, _P], None],
) -> Callable[Concatenate[DeliveryMachine, _P], None]:
    """Mark the machine broken while a rule or invariant runs: after a failure the final drain
    is skipped, so Hypothesis reports (and shrinks) the first failure, not a follow-on one."""

    @functools.wraps(method)
    def run(machine: DeliveryMachine, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        machine.broken = True
        method(machine, *args, **kwargs)
        machine.broken = False

    return run


SHM: Final = Path("/dev/shm")  # noqa: S108 - only as the parent of a mkdtemp directory


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # tmpfs when there is one: a "crash" here is a close without release, not a power
        # loss, so fsync buys nothing and costs most of the run time.
        self._dir = tempfile.TemporaryDirectory(dir=SHM if SHM.is_dir() else None)
        self._sender_path = Path(self._dir.name) / "sender.db"
        self.generation = 0
        self.sender = SqliteStore(self._sender_path)
        self.receiver = SqliteStore(Path(self._dir.name) / "receiver.db")
        self.clock = T0
        # The model: what was queued, in queue (= seq) order, and what became of it.
        self.queued: list[str] = []
        self.thread: dict[str, str] = {}  # envelope id -> order key
        self.created: dict[str, float] = {}
        self.done: set[str] = set()  # settled done by the sender
        self.leases: dict[str, tuple[str, float]] = {}  # id -> (owner, lease until)
        self.not_before: dict[str, float] = {}  # id -> next_at of a retry
        self.attempts: dict[str, int] = {}
        # What the receiver saw.
        self.accepted: list[str] = []  # NEW outcomes, in order
        self.sent: set[str] = set()  # reached the receiver at least once
        self.unanswered: list[tuple[str, str, int]] = []  # (id, owner, seq): reply lost
        self.broken = False  # a rule or invariant failed: the model no longer holds

    @property
    def owner(self) -> str:
        return f"relay-{self.generation}"

    # -- the model -------------------------------------------------------------------------
    def _claimable(self, limit: int) -> list[str]:
        """The first unfinished envelope of each thread, if its lease and retry allow."""
        return [i for i in self._heads() if self._due(i) <= self.clock][:limit]

    def _heads(self) -> list[str]:
        """The first unfinished envelope of each thread, in queue order."""
        heads: dict[str, str] = {}
        for envelope_id in self.queued:
            if envelope_id not in self.done:
                heads.setdefault(self.thread[envelope_id], envelope_id)
        return [i for i in self.queued if heads.get(self.thread[i]) == i]

    def _due(self, envelope_id: str) -> float:
        """When a thread's first envelope can be claimed: its retry time or its lease's end."""
        due = self.not_before.get(envelope_id, self.created[envelope_id])
        if envelope_id in self.leases:
            due = max(due, self.leases[envelope_id][1])
        return due

    def _claim(self, limit: int) -> list[ClaimedEnvelope]:
        expected = self._claimable(limit)
        claimed = self.sender.claim_outbox(
            PARTNER, owner=self.owner, now=self.clock, lease=LEASE, limit=limit
        )
        assert [c.envelope_id for c in claimed] == expected
        for item in claimed:
            envelope_id = item.envelope_id
            self.attempts[envelope_id] = self.attempts.get(envelope_id, 0) + 1
            assert item.attempts == self.attempts[envelope_id]
            assert item.body == envelope_id.encode()
            self.leases[envelope_id] = (self.owner, self.clock + LEASE)
        return claimed

    def _settle(self, claimed: list[ClaimedEnvelope], outcomes: list[Attempt]) -> None:
        self.sender.settle_outbox(
            [(c.seq, a) for c, a in zip(claimed, outcomes, strict=True)],
            owner=self.owner,
            now=self.clock,
        )
        for item, outcome in zip(claimed, outcomes, strict=True):
            del self.leases[item.envelope_id]
            if outcome.state == "done":
                self.done.add(item.envelope_id)
            else:
                assert outcome.state == "pending"
                self.not_before[item.envelope_id] = outcome.next_at

    def _send(self, envelope_id: str) -> ReceiveOutcome:
        """The partner's side of one delivery: verify (assumed), dedupe, store, queue."""
        body = envelope_id.encode()
        outcome = self.receiver.record_received(
            issuer=ISSUER,
            envelope_id=envelope_id,
            digest=hashlib.sha256(body).hexdigest(),
            sender=ISSUER,
            body=body,
            at=dt.datetime.fromtimestamp(self.clock, tz=dt.UTC),
            order_key=self.thread[envelope_id],
            expires_at=FAR,
        )
        if outcome is ReceiveOutcome.NEW:
            assert envelope_id not in self.accepted, f"{envelope_id} accepted twice"
            self.accepted.append(envelope_id)
        else:
            assert outcome is ReceiveOutcome.DUPLICATE
            assert envelope_id in self.accepted
        self.sent.add(envelope_id)
        return outcome

    def _reopen(self) -> None:
        self.sender.close()
        self.generation += 1
        self.sender = SqliteStore(self._sender_path)

    # -- rules -----------------------------------------------------------------------------
    @rule(threads=st.lists(st.sampled_from(THREADS), min_size=1, max_size=3))
    @_step
    def enqueue(self, threads: list[str | None]) -> None:
        """New messages (one transaction); ``None`` is a message without a thread."""
        items = []
        for thread in threads:
            envelope_id = f"env-{len(self.queued):03}"
            self.queued.append(envelope_id)
            self.thread[envelope_id] = thread or envelope_id
            self.created[envelope_id] = self.clock
            items.append(
                OutboxItem(
                    partner=PARTNER,
                    envelope_id=envelope_id,
                    order_key=self.thread[envelope_id],
                    body=envelope_id.encode(),
                    expires_at=FAR,
                )
            )
        assert self.sender.enqueue(items, now=self.clock) == len(items)
        assert self.sender.enqueue(items[:1], now=self.clock) == 0  # a second copy is ignored

    @rule(limit=st.integers(min_value=1, max_value=4))
    @_step
    def deliver_step(self, limit: int) -> None:
        claimed = self._claim(limit)
        for item in claimed:
            self._send(item.envelope_id)
        self._settle(claimed, [DONE] * len(claimed))

    @rule(limit=st.integers(min_value=1, max_value=4))
    @_step
    def deliver_but_drop_reply(self, limit: int) -> None:
        """The partner stored it; the answer never came back. Only the lease running out
        puts it back, and the partner's dedupe absorbs the resend."""
        for item in self._claim(limit):
            self._send(item.envelope_id)
            self.unanswered.append((item.envelope_id, self.owner, item.seq))

    @precondition(lambda self: bool(self.unanswered))
    @rule()
    @_step
    def late_reply(self) -> None:
        """A lost answer turns up late at the instance that sent it (perhaps a partitioned
        one, since replaced): it counts only while that instance still holds the lease."""
        envelope_id, owner, seq = self.unanswered.pop(0)  # the oldest: the likeliest stale
        self.sender.settle_outbox([(seq, DONE)], owner=owner, now=self.clock)
        if envelope_id in self.leases and self.leases[envelope_id][0] == owner:
            del self.leases[envelope_id]
            self.done.add(envelope_id)

    @rule(limit=st.integers(min_value=1, max_value=4), jitter=st.floats(0.0, 1.0))
    @_step
    def partner_down_step(self, limit: int, jitter: float) -> None:
        claimed = self._claim(limit)
        outcomes = [
            after_failure(
                code="http_503",
                retryable=True,
                retry_after=None,
                attempts=item.attempts,
                created_at=item.created_at,
                expires_at=item.expires_at,
                now=self.clock,
                backoff=BACKOFF,
                rng=lambda: jitter,
            )
            for item in claimed
        ]
        assert all(o.state == "pending" and o.next_at >= self.clock for o in outcomes)
        self._settle(claimed, outcomes)

    @rule()
    @_step
    def crash(self) -> None:
        """The process dies: no release, its leases stay until they run out."""
        self._reopen()

    @rule()
    @_step
    def restart_graceful(self) -> None:
        self.sender.release(self.owner)
        for envelope_id, (owner, _) in list(self.leases.items()):
            if owner == self.owner:
                del self.leases[envelope_id]
                self.attempts[envelope_id] -= 1  # a released attempt is not counted
        self._reopen()

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    @_step
    def duplicate(self, data: st.DataObject) -> None:
        envelope_id = data.draw(st.sampled_from(sorted(self.sent)))
        assert self._send(envelope_id) is ReceiveOutcome.DUPLICATE

    @rule(seconds=st.sampled_from([0.5, 10.0, LEASE, LEASE + 1.0, 400.0]))
    @_step
    def advance_clock(self, seconds: float) -> None:
        self.clock += seconds

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    @_step
    def receiver_holds_one_row_per_envelope(self) -> None:
        rows = self.receiver.queue_entries()
        assert sorted(e.envelope_id for e in rows) == sorted(self.accepted)
        assert set(self.accepted) == self.sent
        assert self.done <= self.sent  # nothing is done that the partner did not get

    @invariant()
    @_step
    def each_thread_arrives_in_queue_order(self) -> None:
        for key in set(self.thread.values()):
            queued = [i for i in self.queued if self.thread[i] == key]
            accepted = [i for i in self.accepted if self.thread[i] == key]
            assert accepted == queued[: len(accepted)]

    @invariant()
    @_step
    def sender_queue_matches_the_model(self) -> None:
        entries = self.sender.queue_entries()
        assert [e.envelope_id for e in entries] == self.queued
        assert {e.envelope_id for e in entries if e.state == "done"} == self.done
        assert all(e.state in ("pending", "done") for e in entries)  # nothing dead here

    @invariant()
    @_step
    def next_due_matches_the_model(self) -> None:
        """The dispatcher sleeps until this: never a time when nothing can be claimed."""
        heads = self._heads()
        expected = min((self._due(i) for i in heads), default=None)
        assert self.sender.next_outbox_due(PARTNER) == expected

    # -- the end: run the clock past every lease and retry, deliver until nothing is left ----
    def _deliver_everything(self) -> None:
        self.clock += LEASE + BACKOFF.cap + 1.0
        for _ in range(len(self.queued) + 1):
            claimed = self._claim(limit=100)
            if not claimed:
                break
            for item in claimed:
                self._send(item.envelope_id)
            self._settle(claimed, [DONE] * len(claimed))
        assert self.sender.next_outbox_due(PARTNER) is None
        assert self.done == set(self.queued)
        assert len(self.accepted) == len(set(self.accepted))  # no duplicates
        assert set(self.accepted) == set(self.queued)  # nothing lost
        self.each_thread_arrives_in_queue_order()
        inbound = self.receiver.claim_inbound(
            owner="partner", now=self.clock, lease=LEASE, limit=1000
        )
        # The partner's inbound queue holds each envelope once and hands out the first of
        # each thread (it keeps the thread's order too).
        firsts: dict[str, str] = {}
        for envelope_id in self.accepted:
            firsts.setdefault(self.thread[envelope_id], envelope_id)
        assert sorted(i.envelope_id for i in inbound) == sorted(firsts.values())
        assert {e.envelope_id for e in self.receiver.queue_entries()} == set(self.queued)

    def teardown(self) -> None:
        try:
            if not self.broken:
                self._deliver_everything()
        finally:
            self.sender.close()
            self.receiver.close()
            self._dir.cleanup()


DeliveryMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None, derandomize=True, database=None
)
TestDeliveryMachine = DeliveryMachine.TestCase
