"""The durable queues (outbox, inbound queue, Slack inbox leases), on every backend.

Times are explicit POSIX seconds (``now``), so leases, backoff and due times are exact; the
PostgreSQL-only test at the end races two connections over one queue (``SKIP LOCKED``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, cast

import psycopg
import pytest

from relay.store.base import SqlStore
from relay.store.contract import (
    Attempt,
    ClaimedEnvelope,
    ClaimedInbound,
    OutboxItem,
    QueueEntry,
    QueueStat,
    ReceiveOutcome,
    RefusalRecord,
)
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SqliteStore
from tests.store.conftest import PG_DSN, Opener

T0: Final = 1_800_000_000.0
LEASE: Final = 30.0
FAR: Final = T0 + 365 * 86400.0
A: Final = "MD0000002"
B: Final = "DC0000003"
ISSUER: Final = "VA0000001"
AT: Final = dt.datetime.fromtimestamp(T0, tz=dt.UTC)
DONE: Final = Attempt(state="done")


def _item(
    envelope_id: str,
    *,
    partner: str = A,
    order_key: str | None = None,
    body: bytes | None = None,
    blobs: tuple[tuple[str, str], ...] = (),
    expires_at: float = FAR,
) -> OutboxItem:
    return OutboxItem(
        partner=partner,
        envelope_id=envelope_id,
        order_key=envelope_id if order_key is None else order_key,
        body=envelope_id.encode() if body is None else body,
        blobs=blobs,
        expires_at=expires_at,
    )


def _broken(envelope_id: str, *, partner: str = A) -> OutboxItem:
    """An item whose insert fails (``body`` is NOT NULL): the transaction must roll back."""
    return OutboxItem(
        partner=partner,
        envelope_id=envelope_id,
        order_key=envelope_id,
        body=cast(bytes, None),
        expires_at=FAR,
    )


def _claim(
    store: SqlStore,
    partner: str = A,
    *,
    owner: str = "one",
    now: float = T0,
    lease: float = LEASE,
    limit: int = 100,
) -> list[ClaimedEnvelope]:
    return store.claim_outbox(partner, owner=owner, now=now, lease=lease, limit=limit)


def _ids(claimed: Sequence[ClaimedEnvelope]) -> list[str]:
    return [c.envelope_id for c in claimed]


def _settle(
    store: SqlStore,
    claimed: Sequence[ClaimedEnvelope],
    attempt: Attempt = DONE,
    *,
    owner: str = "one",
    now: float = T0,
) -> None:
    store.settle_outbox([(c.seq, attempt) for c in claimed], owner=owner, now=now)


def _entry(store: SqlStore, entry_id: str) -> QueueEntry:
    (entry,) = [e for e in store.queue_entries() if e.id == entry_id]
    return entry


def _receive(
    store: SqlStore,
    envelope_id: str,
    *,
    order_key: str = "",
    sender: str = ISSUER,
    digest: str | None = None,
    expires_at: float | None = FAR,
) -> ReceiveOutcome:
    return store.record_received(
        issuer=ISSUER,
        envelope_id=envelope_id,
        digest=digest or f"sha-{envelope_id}",
        sender=sender,
        body=f"body {envelope_id}".encode(),
        at=AT,
        order_key=order_key,
        expires_at=expires_at,
    )


# -- enqueue -----------------------------------------------------------------------------------
def test_enqueue_is_idempotent_on_partner_and_envelope_id(store: SqlStore) -> None:
    assert store.enqueue([_item("env-1", body=b"first")], now=T0) == 1
    assert store.enqueue([_item("env-1", body=b"second")], now=T0 + 1) == 0
    assert store.enqueue([_item("env-1", body=b"first"), _item("env-2")], now=T0 + 2) == 1
    # The same id for another partner is another row.
    assert store.enqueue([_item("env-1", partner=B, body=b"for B")], now=T0) == 1

    claimed = _claim(store, now=T0 + 2)
    assert _ids(claimed) == ["env-1", "env-2"]
    assert claimed[0].body == b"first"
    assert claimed[0].created_at == T0
    assert [c.body for c in _claim(store, B)] == [b"for B"]


def test_enqueue_keeps_blobs_and_expiry(store: SqlStore) -> None:
    blobs = (("ab" * 32, "image/jpeg"), ("cd" * 32, "application/pdf"))
    store.enqueue([_item("env-1", blobs=blobs, expires_at=T0 + 60)], now=T0)
    (claimed,) = _claim(store)
    assert claimed.blobs == blobs
    assert claimed.expires_at == T0 + 60
    assert claimed.partner == A
    assert claimed.attempts == 1


def test_enqueue_finishes_the_event_in_the_same_transaction(store: SqlStore) -> None:
    for event in ("ev-1", "ev-2", "ev-3"):
        assert store.take_event(event_id=event, team="T1", body=event.encode(), at=AT)
    assert store.pending_event_count() == 3

    assert store.enqueue([_item("env-1"), _item("env-1", partner=B)], now=T0, finish_event="ev-1")
    assert store.pending_event_count() == 2
    # Reprocessing an event whose envelopes are queued already (a crash before the event was
    # marked) adds nothing and still finishes the event.
    assert store.enqueue([_item("env-1")], now=T0, finish_event="ev-2") == 0
    assert store.pending_event_count() == 1
    claimed = store.claim_events(owner="one", now=T0, lease=LEASE, limit=10)
    assert claimed == [("ev-3", b"ev-3")]


def test_enqueue_that_fails_finishes_no_event_and_queues_nothing(store: SqlStore) -> None:
    store.take_event(event_id="ev-1", team="T1", body=b"{}", at=AT)
    broken = _broken("env-2")
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.enqueue([_item("env-1"), broken], now=T0, finish_event="ev-1")
    assert store.pending_event_count() == 1
    assert _claim(store) == []
    assert store.queue_entries() == []
    # The store is usable afterwards (the failed transaction was rolled back).
    assert store.enqueue([_item("env-1")], now=T0, finish_event="ev-1") == 1
    assert store.pending_event_count() == 0


# -- claim order -------------------------------------------------------------------------------
def test_one_order_key_is_handed_out_one_at_a_time_in_seq_order(store: SqlStore) -> None:
    store.enqueue(
        [
            _item("post", order_key="thread-1"),
            _item("other", order_key="thread-2"),
            _item("edit", order_key="thread-1"),
            _item("reply", order_key="thread-1"),
        ],
        now=T0,
    )
    first = _claim(store)
    assert _ids(first) == ["post", "other"]
    assert _claim(store, owner="two", now=T0 + 1) == []  # leased, and "edit" waits for "post"
    _settle(store, first, owner="one")

    second = _claim(store, now=T0 + 1)
    assert _ids(second) == ["edit"]
    assert _claim(store, now=T0 + 1) == []
    _settle(store, second, Attempt(state="dead", reason="http_400"), now=T0 + 1)

    # A dead letter no longer holds its thread back.
    assert _ids(_claim(store, now=T0 + 2)) == ["reply"]


def test_an_item_waiting_for_a_retry_holds_back_its_thread(store: SqlStore) -> None:
    store.enqueue([_item("post", order_key="t"), _item("edit", order_key="t")], now=T0)
    claimed = _claim(store)
    _settle(store, claimed, Attempt(state="pending", next_at=T0 + 100, reason="http_503"))
    assert _claim(store, now=T0 + 50) == []
    retried = _claim(store, now=T0 + 100)
    assert _ids(retried) == ["post"]
    assert retried[0].attempts == 2
    _settle(store, retried, now=T0 + 100)
    assert _ids(_claim(store, now=T0 + 100)) == ["edit"]


def test_different_order_keys_come_out_together_in_seq_order(store: SqlStore) -> None:
    ids = [f"env-{n}" for n in range(8)]
    store.enqueue([_item(i) for i in ids], now=T0)
    claimed = _claim(store, limit=5)
    assert _ids(claimed) == ids[:5]
    assert [c.seq for c in claimed] == sorted(c.seq for c in claimed)
    assert _ids(_claim(store, owner="two")) == ids[5:]


def test_partners_are_isolated(store: SqlStore) -> None:
    store.enqueue([_item("a-1", order_key="t"), _item("a-2", order_key="t")], now=T0)
    store.enqueue(
        [_item("b-1", partner=B, order_key="t"), _item("b-2", partner=B, order_key="t")],
        now=T0,
    )
    from_a = _claim(store, A)
    assert _ids(from_a) == ["a-1"]
    assert {c.partner for c in from_a} == {A}
    # A's thread "t" in flight does not hold back B's thread of the same key.
    from_b = _claim(store, B)
    assert _ids(from_b) == ["b-1"]
    _settle(store, from_a)
    assert _ids(_claim(store, A)) == ["a-2"]
    assert _claim(store, B) == []
    assert _claim(store, "XX0000009") == []


# -- leases ------------------------------------------------------------------------------------
def test_a_lease_holds_until_it_expires_then_another_owner_takes_over(store: SqlStore) -> None:
    store.enqueue([_item("env-1")], now=T0)
    (first,) = _claim(store, owner="one", now=T0)
    assert first.attempts == 1
    assert _claim(store, owner="two", now=T0 + LEASE - 0.001) == []
    assert _claim(store, owner="one", now=T0 + LEASE - 0.001) == []  # not even the holder

    (second,) = _claim(store, owner="two", now=T0 + LEASE)
    assert second.seq == first.seq
    assert second.attempts == 2

    # The first owner's late outcome changes nothing: the row is the second owner's now.
    _settle(store, [first], DONE, owner="one", now=T0 + LEASE + 1)
    _settle(store, [first], Attempt(state="dead", reason="x"), owner="one", now=T0 + LEASE + 1)
    entry = _entry(store, f"out-{first.seq}")
    assert (entry.state, entry.attempts, entry.reason) == ("pending", 2, None)
    assert _claim(store, owner="three", now=T0 + LEASE + 1) == []

    _settle(store, [second], DONE, owner="two", now=T0 + LEASE + 2)
    assert _entry(store, f"out-{first.seq}").state == "done"
    assert _claim(store, owner="three", now=T0 + 10 * LEASE) == []
    assert store.next_outbox_due(A) is None


def test_settle_pending_waits_until_next_at(store: SqlStore) -> None:
    assert store.next_outbox_due(A) is None
    store.enqueue([_item("env-1")], now=T0)
    assert store.next_outbox_due(A) == T0
    claimed = _claim(store, now=T0 + 1)
    assert store.next_outbox_due(A) == T0 + 1 + LEASE  # leased: due when the lease runs out

    _settle(store, claimed, Attempt(state="pending", next_at=T0 + 100, reason="http_503"))
    assert store.next_outbox_due(A) == T0 + 100
    assert store.next_outbox_due(B) is None
    entry = _entry(store, f"out-{claimed[0].seq}")
    assert (entry.state, entry.next_at, entry.reason) == ("pending", T0 + 100, "http_503")

    assert _claim(store, owner="two", now=T0 + 99.999) == []
    (again,) = _claim(store, owner="two", now=T0 + 100)
    assert again.attempts == 2


def test_next_outbox_due_is_when_something_can_be_claimed(store: SqlStore) -> None:
    """An item queued behind a waiting one of its thread is not due before that one: the
    dispatcher sleeps until this time, so a time in the past would make it spin."""
    store.enqueue([_item("post", order_key="t")], now=T0)
    claimed = _claim(store, now=T0)
    _settle(store, claimed, Attempt(state="pending", next_at=T0 + 300, reason="http_503"))
    store.enqueue([_item("edit", order_key="t")], now=T0 + 1)

    assert _claim(store, now=T0 + 2) == []
    assert store.next_outbox_due(A) == T0 + 300
    assert _ids(_claim(store, now=T0 + 300)) == ["post"]
    assert store.next_outbox_due(A) == T0 + 300 + LEASE

    # An item of another thread is due at once.
    store.enqueue([_item("other", order_key="u")], now=T0 + 301)
    assert store.next_outbox_due(A) == T0 + 301


# -- dead letters and operator actions ---------------------------------------------------------
def test_dead_letters_are_listed_and_can_be_retried(store: SqlStore) -> None:
    store.enqueue([_item("env-1"), _item("env-2")], now=T0)
    claimed = _claim(store)
    _settle(store, claimed[:1], Attempt(state="dead", reason="expired"), now=T0 + 5)
    assert store.next_outbox_due(A) == T0 + LEASE  # env-2's lease; the dead one is not due
    _settle(store, claimed[1:], now=T0 + 5)
    assert store.next_outbox_due(A) is None

    (dead,) = store.queue_entries(state="dead")
    assert dead == QueueEntry(
        id=f"out-{claimed[0].seq}",
        queue="outbox",
        peer=A,
        envelope_id="env-1",
        state="dead",
        attempts=1,
        created_at=T0,
        next_at=0.0,
        reason="expired",
    )
    assert store.queue_entries(state="dead", peer=B) == []
    assert [e.envelope_id for e in store.queue_entries(peer=A)] == ["env-1", "env-2"]

    assert store.retry_entry(dead.id, now=T0 + 60)
    assert store.retry_entry(dead.id, now=T0 + 60) is False  # no longer dead
    entry = _entry(store, dead.id)
    assert (entry.state, entry.next_at, entry.reason) == ("pending", T0 + 60, None)
    assert _claim(store, owner="two", now=T0 + 59) == []
    (again,) = _claim(store, owner="two", now=T0 + 60)
    assert (again.envelope_id, again.attempts) == ("env-1", 2)


def test_drop_entry_sends_a_pending_item_to_the_dead_letters(store: SqlStore) -> None:
    store.enqueue([_item("env-1", order_key="t"), _item("env-2", order_key="t")], now=T0)
    (first,) = _claim(store)
    # Dropping a leased item: dead at once, and the holder's late outcome changes nothing.
    assert store.drop_entry(f"out-{first.seq}", now=T0 + 1, reason="operator")
    _settle(store, [first], DONE, now=T0 + 2)
    entry = _entry(store, f"out-{first.seq}")
    assert (entry.state, entry.reason) == ("dead", "operator")
    # Only a pending item is dropped: a dead letter keeps its reason, a done item stays done.
    assert store.drop_entry(f"out-{first.seq}", now=T0 + 3, reason="again") is False
    assert _entry(store, f"out-{first.seq}").reason == "operator"

    (second,) = _claim(store, now=T0 + 3)  # its thread is no longer held back
    _settle(store, [second], now=T0 + 3)
    assert store.drop_entry(f"out-{second.seq}", now=T0 + 4, reason="operator") is False
    assert _entry(store, f"out-{second.seq}").state == "done"
    assert store.retry_entry(f"out-{second.seq}", now=T0 + 4) is False


def test_unknown_queue_ids_are_false_and_malformed_ones_raise(store: SqlStore) -> None:
    assert store.retry_entry("out-999", now=T0) is False
    assert store.retry_entry("in-999", now=T0) is False
    assert store.drop_entry("out-999", now=T0, reason="x") is False
    assert store.drop_entry("in-999", now=T0, reason="x") is False
    for bad in ("", "out", "out-", "out-x", "in--1", "out-1.5", "box-1", "OUT-1", "1"):
        with pytest.raises(ValueError, match="queue id"):
            store.retry_entry(bad, now=T0)
        with pytest.raises(ValueError, match="queue id"):
            store.drop_entry(bad, now=T0, reason="x")


def test_claims_accept_whole_seconds(store: SqlStore) -> None:
    """``int`` times are floats to the contract: psycopg sends small ints as ``smallint``, and
    the lease's end (``now + lease``) must not overflow it."""
    store.enqueue([_item("env-1")], now=30_000)
    store.record_received(
        issuer=ISSUER,
        envelope_id="env-2",
        digest="d",
        sender=ISSUER,
        body=b"{}",
        at=dt.datetime.fromtimestamp(30_000, tz=dt.UTC),
    )
    store.take_event(event_id="ev-1", team="T1", body=b"{}", at=AT)
    (claimed,) = store.claim_outbox(A, owner="one", now=30_000, lease=5_000, limit=10)
    assert store.next_outbox_due(A) == 35_000
    assert store.claim_outbox(A, owner="two", now=34_999, lease=5_000, limit=10) == []
    assert _ids(store.claim_outbox(A, owner="two", now=35_000, lease=5_000, limit=10)) == ["env-1"]
    assert len(store.claim_inbound(owner="one", now=30_000, lease=5_000, limit=10)) == 1
    assert store.claim_inbound(owner="two", now=34_999, lease=5_000, limit=10) == []
    assert store.claim_events(owner="one", now=30_000, lease=5_000, limit=10) == [("ev-1", b"{}")]
    assert store.claim_events(owner="two", now=34_999, lease=5_000, limit=10) == []
    assert claimed.created_at == 30_000.0


def test_release_gives_leases_back_without_counting_an_attempt(store: SqlStore) -> None:
    store.enqueue([_item("env-1"), _item("env-2")], now=T0)
    (mine,) = _claim(store, owner="one", limit=1)
    (theirs,) = _claim(store, owner="two", limit=1)
    assert mine.attempts == 1

    store.release("one")
    (taken,) = _claim(store, owner="three", now=T0)
    assert (taken.seq, taken.attempts) == (mine.seq, 1)
    # Another owner's lease is untouched, and the old owner's outcome is ignored.
    _settle(store, [mine], owner="one")
    assert _entry(store, f"out-{mine.seq}").state == "pending"
    assert _claim(store, owner="four", now=T0) == []
    _settle(store, [theirs], owner="two")
    assert _entry(store, f"out-{theirs.seq}").state == "done"


def test_release_leaves_settled_items_alone(store: SqlStore) -> None:
    store.enqueue([_item("env-1"), _item("env-2")], now=T0)
    done, waiting = _claim(store)
    _settle(store, [done])
    _settle(store, [waiting], Attempt(state="pending", next_at=T0 + 50, reason="timeout"))
    store.release("one")
    assert _entry(store, f"out-{done.seq}").state == "done"
    entry = _entry(store, f"out-{waiting.seq}")
    assert (entry.state, entry.attempts, entry.next_at) == ("pending", 1, T0 + 50)


# -- inbound queue -----------------------------------------------------------------------------
def test_a_new_envelope_is_queued_once_with_its_body(store: SqlStore) -> None:
    assert _receive(store, "env-1") is ReceiveOutcome.NEW
    assert _receive(store, "env-1") is ReceiveOutcome.DUPLICATE
    assert (
        _receive(store, "env-1", sender="MD0000002", digest="other") is ReceiveOutcome.OTHER_PATH
    )
    assert _receive(store, "env-1", digest="other") is ReceiveOutcome.CONFLICT
    assert len(store.queue_entries()) == 1

    (item,) = store.claim_inbound(owner="one", now=T0, lease=LEASE, limit=10)
    assert (item.issuer, item.envelope_id, item.sender) == (ISSUER, "env-1", ISSUER)
    assert item.body == b"body env-1"
    assert (item.created_at, item.expires_at, item.attempts) == (T0, FAR, 1)
    (entry,) = store.queue_entries()
    assert (entry.id, entry.queue, entry.peer) == (f"in-{item.seq}", "inbound", ISSUER)
    assert store.claim_inbound(owner="two", now=T0, lease=LEASE, limit=10) == []

    # Without an expiry the envelope still gets one (a default lifetime).
    _receive(store, "env-2", expires_at=None)
    (other,) = store.claim_inbound(owner="two", now=T0, lease=LEASE, limit=10)
    assert other.envelope_id == "env-2"
    assert other.expires_at > T0


def test_complete_inbound_queues_forwards_and_finishes_together(store: SqlStore) -> None:
    _receive(store, "env-1")
    (item,) = store.claim_inbound(owner="one", now=T0, lease=LEASE, limit=10)
    forwards = [_item("env-1", partner=A), _item("env-1", partner=B)]
    store.complete_inbound(item.seq, owner="one", now=T0 + 1, forwards=forwards)

    assert _entry(store, f"in-{item.seq}").state == "done"
    assert _ids(_claim(store, A, now=T0 + 1)) == ["env-1"]
    assert _ids(_claim(store, B, now=T0 + 1)) == ["env-1"]
    assert store.claim_inbound(owner="two", now=T0 + 10 * LEASE, lease=LEASE, limit=10) == []
    assert store.next_inbound_due() is None


def test_complete_inbound_that_fails_changes_nothing(store: SqlStore) -> None:
    _receive(store, "env-1")
    (item,) = store.claim_inbound(owner="one", now=T0, lease=LEASE, limit=10)
    forwards = [_item("env-1"), _broken("env-1", partner=B)]
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.complete_inbound(item.seq, owner="one", now=T0 + 1, forwards=forwards)
    assert _claim(store, A, now=T0 + 1) == []
    assert _entry(store, f"in-{item.seq}").state == "pending"
    (again,) = store.claim_inbound(owner="two", now=T0 + LEASE, lease=LEASE, limit=10)
    assert (again.seq, again.attempts) == (item.seq, 2)


def test_inbound_is_ordered_per_order_key_and_leased(store: SqlStore) -> None:
    for envelope_id, key in (("p", "VA/t1"), ("q", "VA/t2"), ("r", "VA/t1"), ("s", "VA/t1")):
        assert _receive(store, envelope_id, order_key=key) is ReceiveOutcome.NEW

    def claim(owner: str, now: float) -> dict[str, ClaimedInbound]:
        items = store.claim_inbound(owner=owner, now=now, lease=LEASE, limit=10)
        return {i.envelope_id: i for i in items}

    first = claim("one", T0)
    assert list(first) == ["p", "q"]
    assert claim("two", T0 + 1) == {}
    assert store.next_inbound_due() == T0 + LEASE  # "r" and "s" wait for "p"

    store.complete_inbound(first["p"].seq, owner="one", now=T0 + 2)
    second = claim("one", T0 + 2)
    assert list(second) == ["r"]
    retry = Attempt(state="pending", next_at=T0 + 200, reason="slack_down")
    store.settle_inbound(second["r"].seq, retry, owner="one", now=T0 + 3)
    assert store.next_inbound_due() == T0 + LEASE  # "q"'s lease; "s" waits for "r"

    taken_over = claim("two", T0 + LEASE)
    assert list(taken_over) == ["q"]
    assert taken_over["q"].attempts == 2
    store.complete_inbound(first["q"].seq, owner="one", now=T0 + LEASE)  # stale: ignored
    assert _entry(store, f"in-{first['q'].seq}").state == "pending"
    store.complete_inbound(taken_over["q"].seq, owner="two", now=T0 + LEASE)
    assert store.next_inbound_due() == T0 + 200

    assert claim("three", T0 + 199) == {}
    assert list(claim("three", T0 + 200)) == ["r"]
    store.release("three")
    dead = Attempt(state="dead", reason="revoked")
    store.settle_inbound(second["r"].seq, dead, owner="three", now=T0 + 200)  # released
    assert _entry(store, f"in-{second['r'].seq}").state == "pending"
    again = claim("four", T0 + 200)
    assert list(again) == ["r"]
    # An inbound attempt counts even when released: it may have posted in Slack, so the
    # next attempt looks for that post before posting.
    assert again["r"].attempts == 3
    store.settle_inbound(again["r"].seq, dead, owner="four", now=T0 + 201)
    assert [e.envelope_id for e in store.queue_entries(state="dead")] == ["r"]
    assert list(claim("five", T0 + 201)) == ["s"]


def test_inbound_dead_letters_retry_and_drop(store: SqlStore) -> None:
    _receive(store, "env-1")
    _receive(store, "env-2")
    one, two = store.claim_inbound(owner="one", now=T0, lease=LEASE, limit=10)
    store.settle_inbound(one.seq, Attempt(state="dead", reason="policy"), owner="one", now=T0)
    assert store.retry_entry(f"in-{one.seq}", now=T0 + 5)
    assert store.drop_entry(f"in-{two.seq}", now=T0 + 5, reason="operator")
    (again,) = store.claim_inbound(owner="two", now=T0 + 5, lease=LEASE, limit=10)
    assert (again.seq, again.attempts) == (one.seq, 2)
    (dead,) = store.queue_entries(state="dead")
    assert (dead.id, dead.reason) == (f"in-{two.seq}", "operator")


# -- queue statistics --------------------------------------------------------------------------
def test_queue_stats_group_by_queue_peer_and_state(store: SqlStore) -> None:
    assert store.queue_stats() == []
    assert store.queue_entries() == []
    store.enqueue([_item("a-1")], now=T0 + 10)
    store.enqueue([_item("a-2")], now=T0 + 5)
    store.enqueue([_item("a-3")], now=T0 + 20)
    store.enqueue([_item("a-4")], now=T0 + 1)
    store.enqueue([_item("b-1", partner=B)], now=T0 + 7)
    a1, a2, a3, a4 = _claim(store, A, now=T0 + 30)
    _settle(store, [a1], Attempt(state="dead", reason="expired"), now=T0 + 30)
    _settle(store, [a3], Attempt(state="dead", reason="expired"), now=T0 + 30)
    _settle(store, [a4], now=T0 + 30)  # done: not counted
    assert a2.envelope_id == "a-2"
    _receive(store, "in-1")
    _receive(store, "in-2", sender="MD0000002")
    (done,) = store.claim_inbound(owner="one", now=T0, lease=LEASE, limit=1)
    store.complete_inbound(done.seq, owner="one", now=T0)

    stats = sorted(store.queue_stats(), key=lambda s: (s.queue, s.peer, s.state))
    assert stats == [
        QueueStat(queue="inbound", peer="MD0000002", state="pending", count=1, oldest=T0),
        QueueStat(queue="outbox", peer=B, state="pending", count=1, oldest=T0 + 7),
        QueueStat(queue="outbox", peer=A, state="dead", count=2, oldest=T0 + 10),
        QueueStat(queue="outbox", peer=A, state="pending", count=1, oldest=T0 + 5),
    ]


def test_lease_counts_are_pending_items_leased_now_by_queue_and_peer(store: SqlStore) -> None:
    assert store.lease_counts(T0) == {}
    store.enqueue([_item("a-1"), _item("a-2"), _item("a-3"), _item("a-4")], now=T0)
    store.enqueue([_item("b-1", partner=B), _item("b-2", partner=B)], now=T0)
    a1, a2, a3, _ = _claim(store, A, now=T0)
    _settle(store, [a1])  # done: no longer pending
    _settle(store, [a2], Attempt(state="pending", next_at=T0 + 100, reason="http_503"))
    _settle(store, [a3], Attempt(state="dead", reason="expired"))
    _claim(store, B, owner="two", now=T0, limit=1)
    _receive(store, "in-1")
    _receive(store, "in-2", sender=A)
    _receive(store, "in-3", sender=A)
    store.claim_inbound(owner="one", now=T0 + 1, lease=LEASE, limit=10)

    assert store.lease_counts(T0 + 1) == {
        ("outbox", A): 1,  # "a-4"; "a-2" waits for its retry without a lease
        ("outbox", B): 1,  # "b-2" is not claimed
        ("inbound", ISSUER): 1,
        ("inbound", A): 2,
    }
    assert store.lease_counts(T0 + LEASE) == {("inbound", ISSUER): 1, ("inbound", A): 2}
    assert store.lease_counts(T0 + 1 + LEASE) == {}  # a lease runs out at lease_until
    store.release("one")
    assert store.lease_counts(T0 + 1) == {("outbox", B): 1}


def test_refusals_limit_is_the_last_ones_in_the_order_recorded(store: SqlStore) -> None:
    records = [
        RefusalRecord(
            at=AT + dt.timedelta(seconds=i),
            peer=f"PEER{i}",
            reason="signature_invalid",
            http_status=401,
        )
        for i in range(7)
    ]
    assert store.refusals(limit=5) == []
    for record in records:
        store.record_refusal(record)
    assert store.refusals() == records
    assert store.refusals(limit=5) == records[2:]
    assert store.refusals(limit=1) == records[6:]
    assert store.refusals(limit=7) == records
    assert store.refusals(limit=100) == records
    assert store.refusals(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        store.refusals(limit=-1)


# -- the Slack inbox ---------------------------------------------------------------------------
def _take(store: SqlStore, event_id: str, channel: str) -> bool:
    return store.take_event(
        event_id=event_id, team="T1", body=event_id.encode(), at=AT, order_key=channel
    )


def _claim_events(store: SqlStore, owner: str, now: float, limit: int = 10) -> list[str]:
    return [e for e, _ in store.claim_events(owner=owner, now=now, lease=LEASE, limit=limit)]


def test_inbox_events_are_ordered_per_channel(store: SqlStore) -> None:
    for event, channel in (("e1", "C1"), ("e2", "C1"), ("e3", "C2"), ("e4", "C1"), ("e5", "C3")):
        assert _take(store, event, channel)
    assert _take(store, "e1", "C1") is False

    assert store.claim_events(owner="one", now=T0, lease=LEASE, limit=10) == [
        ("e1", b"e1"),
        ("e3", b"e3"),
        ("e5", b"e5"),
    ]
    assert _claim_events(store, "two", T0) == []
    store.finish_event("e1")
    assert _claim_events(store, "two", T0) == ["e2"]
    store.finish_event("e2")
    store.finish_event("e3")
    assert _claim_events(store, "one", T0, limit=1) == ["e4"]
    assert store.pending_event_count() == 2


def test_inbox_leases_expire_and_release_gives_them_back(store: SqlStore) -> None:
    _take(store, "e1", "C1")
    _take(store, "e2", "C2")
    _take(store, "e3", "C1")
    assert _claim_events(store, "one", T0) == ["e1", "e2"]
    assert _claim_events(store, "two", T0 + LEASE - 0.5) == []
    assert _claim_events(store, "two", T0 + LEASE) == ["e1", "e2"]  # the holder died

    store.release("two")
    assert _claim_events(store, "three", T0 + LEASE) == ["e1", "e2"]
    store.release("one")  # holds nothing any more: changes nothing
    assert _claim_events(store, "four", T0 + LEASE) == []
    store.finish_event("e1")
    assert _claim_events(store, "four", T0 + LEASE) == ["e3"]
    assert store.pending_event_count() == 2


# -- PostgreSQL: two instances on one database -------------------------------------------------
def _thread(envelope_id: str, keys: int) -> str:
    return f"thread-{int(envelope_id.removeprefix('env-')) % keys}"


def test_concurrent_claims_never_overlap(pg_schema: str) -> None:
    """Two connections race over one outbox: no row is handed out twice, every row is handed
    out, and no thread ever has two rows in flight (``FOR UPDATE SKIP LOCKED``)."""
    total, keys = 200, 23
    stores = [PostgresStore(PG_DSN, schema=pg_schema) for _ in range(2)]
    try:
        ids = [f"env-{n:03}" for n in range(total)]
        stores[0].enqueue([_item(i, order_key=_thread(i, keys)) for i in ids], now=T0)
        guard = threading.Lock()
        inflight: dict[str, str] = {}
        handed: list[str] = []
        clashes: list[tuple[str, str, str]] = []
        order: dict[str, list[str]] = {}
        start = threading.Barrier(len(stores))

        def work(index: int) -> int:
            store, owner = stores[index], f"instance-{index}"
            start.wait()
            for _ in range(20 * total):
                with guard:
                    if len(handed) == total:
                        return 0
                claimed = _claim(store, owner=owner, now=T0, lease=3600.0, limit=7)
                thread_of = {
                    c.envelope_id: f"thread-{int(c.envelope_id[4:]) % keys}" for c in claimed
                }
                with guard:
                    for c in claimed:
                        handed.append(c.envelope_id)
                        thread = thread_of[c.envelope_id]
                        if thread in inflight:
                            clashes.append((thread, inflight[thread], c.envelope_id))
                        inflight[thread] = c.envelope_id
                        order.setdefault(thread, []).append(c.envelope_id)
                    for c in claimed:  # out of flight before the outcome commits
                        del inflight[thread_of[c.envelope_id]]
                _settle(store, claimed, owner=owner, now=T0)
            return 1

        with ThreadPoolExecutor(len(stores)) as pool:
            unfinished = sum(pool.map(work, range(len(stores))))

        assert unfinished == 0
        assert clashes == []
        assert len(handed) == total
        assert sorted(handed) == ids
        assert all(ids == sorted(ids) for ids in order.values())  # each thread in seq order
        assert _claim(stores[1], now=T0 + 7200) == []
        assert [s for s in stores[0].queue_stats() if s.queue == "outbox"] == []
    finally:
        for s in stores:
            s.close()


def test_concurrent_claims_share_one_batch_without_overlap(pg_schema: str) -> None:
    """Both instances claim at once from many independent threads: SKIP LOCKED lets them split
    the queue instead of waiting, and no row is in both batches."""
    total = 200
    stores = [PostgresStore(PG_DSN, schema=pg_schema) for _ in range(2)]
    try:
        stores[0].enqueue([_item(f"env-{n:03}") for n in range(total)], now=T0)
        start = threading.Barrier(len(stores))

        def claim_all(index: int) -> list[str]:
            start.wait()
            got: list[str] = []
            for _ in range(total):
                batch = _claim(stores[index], owner=f"instance-{index}", limit=9)
                if not batch:
                    break
                got += _ids(batch)
            return got

        with ThreadPoolExecutor(len(stores)) as pool:
            first, second = pool.map(claim_all, range(len(stores)))
        assert set(first).isdisjoint(second)
        assert sorted(first + second) == [f"env-{n:03}" for n in range(total)]
        assert len(first) + len(second) == total
    finally:
        for s in stores:
            s.close()


def test_sqlite_store_satisfies_the_same_claim_rules_across_connections(tmp_path: Path) -> None:
    """Two SQLite connections on one file: BEGIN IMMEDIATE serialises the claims."""
    path = tmp_path / "relay.db"
    stores = [SqliteStore(path), SqliteStore(path)]
    try:
        stores[0].enqueue([_item(f"env-{n:02}", order_key=f"t{n % 5}") for n in range(40)], now=T0)
        seen: list[str] = []
        for round_ in range(40):
            store = stores[round_ % 2]
            claimed = _claim(store, owner=f"o{round_ % 2}", limit=3)
            seen += _ids(claimed)
            _settle(store, claimed, owner=f"o{round_ % 2}")
        assert sorted(seen) == [f"env-{n:02}" for n in range(40)]
        assert len(set(seen)) == 40
    finally:
        for s in stores:
            s.close()


def test_opener_stores_share_one_queue(opener: Opener) -> None:
    """Two instances (two connections) on one database see each other's leases."""
    one, two = opener(), opener()
    one.enqueue([_item("env-1"), _item("env-2", order_key="env-1")], now=T0)
    (claimed,) = _claim(one, owner="one")
    assert _claim(two, owner="two") == []
    _settle(one, [claimed], owner="one")
    assert _ids(_claim(two, owner="two")) == ["env-2"]


def test_renew_keeps_an_owners_leases_while_it_works(store: SqlStore) -> None:
    """A heartbeat: work held longer than one lease stays with its owner."""
    store.enqueue([_item("env-1")], now=T0)
    (mine,) = _claim(store, owner="one", now=T0)
    assert store.renew("one", until=T0 + 10 * LEASE) == 1
    assert _claim(store, owner="two", now=T0 + 2 * LEASE) == []  # not expired: renewed
    assert store.renew("two", until=T0 + 99 * LEASE) == 0  # holds nothing
    (taken,) = _claim(store, owner="two", now=T0 + 10 * LEASE)  # the beats stopped
    assert taken.seq == mine.seq
