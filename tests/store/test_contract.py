"""The store contract, run against every backend by the ``store``/``opener`` fixtures."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from relay.store.base import SqlStore
from relay.store.contract import ReceiveOutcome, RefusalRecord, Store
from relay.store.sql import MIGRATIONS
from tests.store.conftest import Opener

AT = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _receive(
    store: Store,
    *,
    issuer: str = "VA0000001",
    envelope_id: str = "env-1",
    digest: str = "d1",
    sender: str = "VA0000001",
    body: bytes = b"{}",
) -> ReceiveOutcome:
    return store.record_received(
        issuer=issuer, envelope_id=envelope_id, digest=digest, sender=sender, body=body, at=AT
    )


def test_backends_satisfy_the_store_protocol(store: SqlStore) -> None:
    checked: Store = store
    assert checked is store


# -- received envelopes ----------------------------------------------------------------------
def test_first_envelope_is_new_and_a_retry_is_duplicate(store: Store) -> None:
    assert _receive(store) is ReceiveOutcome.NEW
    assert _receive(store) is ReceiveOutcome.DUPLICATE


def test_same_id_from_another_sender_is_other_path(store: Store) -> None:
    """The same origin message relayed by a second partner: stored once, not processed again."""
    assert _receive(store, sender="VA0000001", digest="d1") is ReceiveOutcome.NEW
    assert _receive(store, sender="MD0000002", digest="d2") is ReceiveOutcome.OTHER_PATH


def test_same_digest_from_another_sender_is_duplicate(store: Store) -> None:
    assert _receive(store, sender="VA0000001") is ReceiveOutcome.NEW
    assert _receive(store, sender="MD0000002") is ReceiveOutcome.DUPLICATE


def test_same_sender_reusing_an_id_with_another_digest_is_conflict(store: Store) -> None:
    assert _receive(store, digest="d1") is ReceiveOutcome.NEW
    assert _receive(store, digest="d2") is ReceiveOutcome.CONFLICT
    # The first envelope stays the stored one.
    assert _receive(store, digest="d1") is ReceiveOutcome.DUPLICATE


def test_received_is_keyed_by_issuer_and_envelope_id(store: Store) -> None:
    assert _receive(store, issuer="VA0000001") is ReceiveOutcome.NEW
    assert _receive(store, issuer="MD0000002") is ReceiveOutcome.NEW
    assert _receive(store, envelope_id="env-2") is ReceiveOutcome.NEW


def test_concurrent_receivers_get_exactly_one_new(opener: Opener) -> None:
    """Several connections race on one envelope id: one NEW, every other a DUPLICATE."""
    stores = [opener() for _ in range(8)]
    start = threading.Barrier(len(stores))

    def receive(store: Store) -> ReceiveOutcome:
        start.wait()
        return _receive(store)

    with ThreadPoolExecutor(len(stores)) as pool:
        outcomes = list(pool.map(receive, stores))
    assert outcomes.count(ReceiveOutcome.NEW) == 1
    assert outcomes.count(ReceiveOutcome.DUPLICATE) == len(stores) - 1


def test_threads_sharing_one_store_each_get_their_outcome(store: Store) -> None:
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: _receive(store, envelope_id=f"env-{i % 4}"), range(16)))
    assert outcomes.count(ReceiveOutcome.NEW) == 4
    assert outcomes.count(ReceiveOutcome.DUPLICATE) == 12


# -- refusals --------------------------------------------------------------------------------
def test_refusals_round_trip_in_order(store: Store) -> None:
    records = [
        RefusalRecord(
            at=AT + dt.timedelta(seconds=i),
            peer=f"PEER{i}",
            reason=reason,
            http_status=status,
            issuer="VA0000001",
            envelope_id=f"env-{i}",
            digest=f"{i:064x}",
        )
        for i, (reason, status) in enumerate(
            [("signature_invalid", 401), ("replayed", 409), ("policy_blocked", 403)]
        )
    ]
    # Only the required fields, an earlier time and another offset: order is insertion order.
    bare = RefusalRecord(
        at=dt.datetime(2026, 1, 1, 8, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        peer="unknown",
        reason="unknown_field",
        http_status=400,
    )
    assert store.refusals() == []
    for record in [records[2], bare, records[0], records[1]]:
        store.record_refusal(record)
    assert store.refusals() == [records[2], bare, records[0], records[1]]


# -- Slack inbox -----------------------------------------------------------------------------
def test_taking_an_event_twice_is_false(store: Store) -> None:
    assert store.take_event(event_id="Ev1", team="T1", body=b"first", at=AT) is True
    assert store.take_event(event_id="Ev1", team="T1", body=b"second", at=AT) is False
    assert store.pending_events() == [("Ev1", b"first")]


def test_pending_events_keep_arrival_order_and_limit(store: Store) -> None:
    """Arrival order, not id or time order: the ids sort differently and the times tie."""
    ids = ["Ev9", "Ev1", "Ev5", "Ev3", "Ev7"]
    for event_id in ids:
        assert store.take_event(event_id=event_id, team="T1", body=event_id.encode(), at=AT)
    assert store.pending_events() == [(i, i.encode()) for i in ids]
    assert store.pending_events(limit=2) == [("Ev9", b"Ev9"), ("Ev1", b"Ev1")]


def test_finished_event_is_no_longer_pending_and_stays_taken(store: Store) -> None:
    for event_id in ["Ev1", "Ev2", "Ev3"]:
        store.take_event(event_id=event_id, team="T1", body=b"\x00\xff", at=AT)
    store.finish_event("Ev2")
    store.finish_event("Ev-unknown")
    assert [e for e, _ in store.pending_events()] == ["Ev1", "Ev3"]
    assert store.take_event(event_id="Ev2", team="T1", body=b"", at=AT) is False
    assert [e for e, _ in store.pending_events()] == ["Ev1", "Ev3"]


def test_a_deferred_event_waits_and_holds_its_thread_then_anyone_takes_it(store: Store) -> None:
    now = AT.timestamp()
    store.take_event(event_id="Ev1", team="T1", body=b"1", at=AT, order_key="C1/1")
    store.take_event(event_id="Ev2", team="T1", body=b"2", at=AT, order_key="C1/1")
    assert store.claim_events(owner="a", now=now, lease=30, limit=10) == [("Ev1", b"1")]
    store.defer_event("Ev1", owner="a", until=now + 5)
    store.renew("a", until=now + 1000)  # the heartbeat does not hold a deferred event
    assert store.claim_events(owner="b", now=now + 4, lease=30, limit=10) == []
    assert store.claim_events(owner="b", now=now + 5, lease=30, limit=10) == [("Ev1", b"1")]
    store.defer_event("Ev1", owner="a", until=now + 99)  # not a's any more: nothing changes
    store.finish_event("Ev1")
    assert store.claim_events(owner="b", now=now + 6, lease=30, limit=10) == [("Ev2", b"2")]


# -- envelope -> Slack ts --------------------------------------------------------------------
def test_map_post_inserts_replaces_and_looks_up(store: Store) -> None:
    assert store.lookup_post(issuer="VA0000001", envelope_id="env-1") is None
    store.map_post(issuer="VA0000001", envelope_id="env-1", channel="C1", ts="1700000000.000100")
    store.map_post(issuer="MD0000002", envelope_id="env-1", channel="C2", ts="1700000001.000000")
    assert store.lookup_post(issuer="VA0000001", envelope_id="env-1") == (
        "C1",
        "1700000000.000100",
    )
    store.map_post(issuer="VA0000001", envelope_id="env-1", channel="C3", ts="1700000002.000000")
    assert store.lookup_post(issuer="VA0000001", envelope_id="env-1") == (
        "C3",
        "1700000002.000000",
    )
    assert store.lookup_post(issuer="MD0000002", envelope_id="env-1") == (
        "C2",
        "1700000001.000000",
    )


# -- blobs -----------------------------------------------------------------------------------
def test_blobs_put_is_idempotent_and_get_returns_the_bytes(store: Store) -> None:
    data = bytes(range(256)) * 3
    assert store.get_blob("a" * 64) is None
    store.put_blob(sha256="a" * 64, mime="image/png", data=data)
    store.put_blob(sha256="a" * 64, mime="image/png", data=data)
    assert store.get_blob("a" * 64) == ("image/png", data)
    # The first write stays (a blob is named by its hash, so a second write is the same file).
    store.put_blob(sha256="a" * 64, mime="image/jpeg", data=b"other")
    assert store.get_blob("a" * 64) == ("image/png", data)
    store.put_blob(sha256="b" * 64, mime="application/pdf", data=b"")
    assert store.get_blob("b" * 64) == ("application/pdf", b"")


# -- catch-up --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1700000000.000099", "1700000000.000100"),
        ("1700000000.000100", "1700000000.000101"),
        ("999999999.999999", "1000000000.000000"),  # text order would get this one wrong
        ("1700000000.999999", "1700000001.000000"),
        ("1700000000.0000001", "1700000000.0000002"),  # finer than a double can tell apart
    ],
)
def test_last_seen_never_goes_back(store: Store, older: str, newer: str) -> None:
    assert store.last_seen("C1") is None
    store.set_last_seen("C1", newer)
    store.set_last_seen("C1", older)
    assert store.last_seen("C1") == newer
    store.set_last_seen("C2", older)
    store.set_last_seen("C2", newer)
    assert store.last_seen("C2") == newer
    assert store.last_seen("C1") == newer


def test_last_seen_keeps_the_first_spelling_of_an_equal_ts(store: Store) -> None:
    store.set_last_seen("C1", "1700000000.100000")
    store.set_last_seen("C1", "1700000000.1")
    assert store.last_seen("C1") == "1700000000.100000"


def test_concurrent_set_last_seen_keeps_the_newest(opener: Opener) -> None:
    stores = [opener() for _ in range(4)]
    values = [f"1700000000.{i:06d}" for i in range(200)]
    start = threading.Barrier(len(stores))

    def write(k: int) -> None:
        start.wait()
        for ts in values[k :: len(stores)][::-1]:
            stores[k].set_last_seen("C1", ts)

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(write, range(len(stores))))
    assert stores[0].last_seen("C1") == values[-1]


# -- health and migrations -------------------------------------------------------------------
def test_ping(store: Store) -> None:
    store.ping()


def test_reopening_keeps_rows_and_applies_no_migration_twice(opener: Opener) -> None:
    first = opener()
    assert first.schema_version() == len(MIGRATIONS)
    assert _receive(first) is ReceiveOutcome.NEW
    first.take_event(event_id="Ev1", team="T1", body=b"x", at=AT)
    first.close()
    second = opener()
    third = opener()  # a second open while the first is live
    for store in (second, third):
        assert store.schema_version() == len(MIGRATIONS)
        assert _receive(store) is ReceiveOutcome.DUPLICATE
        assert store.pending_events() == [("Ev1", b"x")]
