"""Files held per partner and their sweep, against every backend (``store`` fixture: SQLite and
PostgreSQL, direct and through the async facade). Times are explicit POSIX seconds."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from relay.store.contract import Attempt, BlobHold, BlobUsage, OutboxItem, Store

T0: Final = 1_800_000_000.0
GRACE: Final = 3600.0
FAR: Final = T0 + 30 * 86400.0
PEER: Final = "MA9990200"
ISSUER: Final = "CT9990100"


def _blob(n: int, size: int = 100) -> tuple[str, bytes]:
    data = bytes([n % 256]) * size
    return hashlib.sha256(data).hexdigest(), data


def _hold(
    store: Store, n: int, *, at: float = T0, peer: str = PEER, size: int = 100, **quota: int
) -> tuple[str, BlobHold]:
    sha, data = _blob(n, size)
    limits = {"quota_bytes": 1000, "quota_files": 10} | quota
    return sha, store.hold_blob(
        sha256=sha, mime="image/png", data=data, peer=peer, at=at, **limits
    )


def _sweep(store: Store, now: float, limit: int = 100) -> int:
    return store.sweep_blobs(now=now, grace=GRACE, limit=limit).deleted


def _receive(store: Store, envelope_id: str, shas: list[str], *, at: float, exp: float) -> None:
    store.record_received(
        issuer=ISSUER,
        envelope_id=envelope_id,
        digest="d-" + envelope_id,
        sender=PEER,
        body=b"{}",
        at=dt.datetime.fromtimestamp(at, dt.UTC),
        expires_at=exp,
    )
    store.name_blobs(queue="inbound", party=ISSUER, envelope_id=envelope_id, sha256s=shas, at=at)


def test_a_partners_files_are_charged_to_it_and_refused_over_its_quota(store: Store) -> None:
    sha, got = _hold(store, 1, size=600)
    assert got is BlobHold.STORED
    assert _hold(store, 1, size=600)[1] is BlobHold.KEPT  # the same file again: not charged
    assert _hold(store, 2, size=500)[1] is BlobHold.OVER_QUOTA  # 1,100 bytes > 1,000
    assert _hold(store, 3, size=400)[1] is BlobHold.STORED  # 1,000 bytes: at the quota
    assert _hold(store, 4, size=1, quota_files=2)[1] is BlobHold.OVER_QUOTA
    assert _hold(store, 4, size=1, peer="NY9990300", quota_files=2)[1] is BlobHold.STORED
    assert store.get_blob(sha) == ("image/png", bytes([1]) * 600)
    store.put_blob(sha256=_blob(9)[0], mime="image/jpeg", data=_blob(9)[1])  # our own
    assert sorted(store.blob_usage(), key=lambda u: u.peer) == [
        BlobUsage(peer="", count=1, size=100),
        BlobUsage(peer=PEER, count=2, size=1000),
        BlobUsage(peer="NY9990300", count=1, size=1),
    ]


def test_a_file_never_named_is_deleted_after_the_grace_period(store: Store) -> None:
    sha, _ = _hold(store, 1)
    assert _sweep(store, T0 + GRACE - 1) == 0
    assert store.get_blob(sha) is not None
    assert _sweep(store, T0 + GRACE) == 1
    assert store.get_blob(sha) is None
    assert store.blob_usage() == []


def test_a_file_is_kept_while_an_envelope_naming_it_is_pending_then_deleted(
    store: Store,
) -> None:
    """Pushed, named by an accepted envelope, kept past the grace period while the envelope
    waits in the inbound queue; gone at the first sweep once the item is settled."""
    sha, _ = _hold(store, 1)
    other, _ = _hold(store, 2)
    _receive(store, "e1", [sha, other], at=T0 + 1, exp=FAR)
    _receive(store, "e2", [other], at=T0 + 2, exp=FAR)
    assert _sweep(store, T0 + 2 * GRACE) == 0
    (item,) = store.claim_inbound(owner="w", now=T0 + 3, lease=30.0, limit=1)
    assert item.envelope_id == "e1"
    store.complete_inbound(item.seq, owner="w", now=T0 + 4)
    assert _sweep(store, T0 + 5) == 1  # used and settled: no grace period to wait
    assert store.get_blob(sha) is None
    assert store.get_blob(other) is not None  # e2 still needs it
    (item,) = store.claim_inbound(owner="w", now=T0 + 6, lease=30.0, limit=1)
    store.settle_inbound(item.seq, Attempt(state="dead", reason="x"), owner="w", now=T0 + 7)
    assert _sweep(store, T0 + 8) == 1  # dead-lettered: settled here
    assert store.get_blob(other) is None


def test_an_expired_envelope_no_longer_holds_its_files(store: Store) -> None:
    sha, _ = _hold(store, 1)
    _receive(store, "e1", [sha], at=T0 + 1, exp=T0 + 100)
    assert _sweep(store, T0 + 99) == 0
    assert _sweep(store, T0 + 100) == 1


def test_a_file_pushed_again_after_it_was_used_waits_for_its_new_envelope(store: Store) -> None:
    """A partner pushes a file again for a second envelope after the first was settled: the
    sweep between the push and that envelope's arrival keeps it."""
    sha, _ = _hold(store, 1)
    _receive(store, "e1", [sha], at=T0 + 1, exp=FAR)
    (item,) = store.claim_inbound(owner="w", now=T0 + 2, lease=30.0, limit=1)
    store.complete_inbound(item.seq, owner="w", now=T0 + 3)
    assert _hold(store, 1, at=T0 + 4)[1] is BlobHold.KEPT
    assert _sweep(store, T0 + 5) == 0
    _receive(store, "e2", [sha], at=T0 + 6, exp=FAR)
    (item,) = store.claim_inbound(owner="w", now=T0 + 7, lease=30.0, limit=1)
    store.complete_inbound(item.seq, owner="w", now=T0 + 8)
    assert _sweep(store, T0 + 9) == 1


def _out(envelope_id: str, sha: str, *, partner: str = PEER, exp: float = FAR) -> OutboxItem:
    return OutboxItem(
        partner=partner,
        envelope_id=envelope_id,
        order_key=envelope_id,
        body=b"{}",
        blobs=((sha, "image/jpeg"),),
        expires_at=exp,
    )


def test_our_own_file_is_kept_until_every_outbox_row_naming_it_is_sent(store: Store) -> None:
    """Kept while a row is unsent or waiting for a retry; gone once every row is sent or
    dead-lettered (or expired). The outbox rows themselves stay (receipts need them)."""
    sha, data = _blob(7)
    store.put_blob(sha256=sha, mime="image/jpeg", data=data)
    now, late = T0 + 10, T0 + 2 * GRACE
    store.enqueue([_out("o1", sha), _out("o2", sha, partner="NY9990300")], now=now)
    assert _sweep(store, late) == 0
    (a,) = store.claim_outbox(PEER, owner="w", now=late, lease=30.0, limit=5)
    store.settle_outbox(
        [(a.seq, Attempt(state="pending", next_at=late + 60))], owner="w", now=late
    )
    (b,) = store.claim_outbox("NY9990300", owner="w", now=late, lease=30.0, limit=5)
    store.settle_outbox([(b.seq, Attempt(state="dead", reason="x"))], owner="w", now=late + 1)
    assert _sweep(store, late + 2) == 0  # a retry pending for PEER
    (a,) = store.claim_outbox(PEER, owner="w", now=late + 60, lease=30.0, limit=5)
    store.settle_outbox([(a.seq, Attempt(state="done"))], owner="w", now=late + 61)
    assert _sweep(store, late + 62) == 1
    assert store.get_blob(sha) is None
    assert len(store.queue_entries()) == 2  # outbox rows are not pruned


def test_an_expired_outbox_row_no_longer_holds_its_file(store: Store) -> None:
    sha, data = _blob(8)
    store.put_blob(sha256=sha, mime="image/jpeg", data=data)
    store.enqueue([_out("o1", sha, exp=T0 + 2 * GRACE)], now=T0)
    assert _sweep(store, T0 + 2 * GRACE - 1) == 0
    assert _sweep(store, T0 + 2 * GRACE) == 1


def test_a_sweep_is_bounded(store: Store) -> None:
    for n in range(5):
        _hold(store, n, at=T0 + n)
    assert _sweep(store, T0 + 2 * GRACE, limit=2) == 2
    assert {u.count for u in store.blob_usage()} == {3}
    assert store.get_blob(_blob(0)[0]) is None  # oldest first
    assert _sweep(store, T0 + 2 * GRACE, limit=10) == 3


def test_settled_names_are_forgotten(store: Store) -> None:
    sha, _ = _hold(store, 1)
    _receive(store, "e1", [sha, "f" * 64], at=T0 + 1, exp=T0 + 50)
    report = store.sweep_blobs(now=T0 + 60, grace=GRACE, limit=10)
    assert (report.deleted, report.size, report.names_dropped) == (1, 100, 2)


def test_blob_room_answers_what_hold_blob_would_and_keeps_nothing(store: Store) -> None:
    limits = {"quota_bytes": 1000, "quota_files": 2}
    sha, _ = _hold(store, 1, size=600, quota_bytes=1000, quota_files=2)
    assert store.blob_room(sha256=sha, peer=PEER, size=600, **limits) is BlobHold.KEPT
    other = _blob(2, 500)[0]
    assert store.blob_room(sha256=other, peer=PEER, size=500, **limits) is BlobHold.OVER_QUOTA
    assert store.blob_room(sha256=other, peer=PEER, size=400, **limits) is BlobHold.STORED
    assert store.get_blob(other) is None  # a read: nothing kept
    assert store.blob_usage() == [BlobUsage(peer=PEER, count=1, size=600)]


def test_two_instances_cannot_both_pass_a_partners_quota(opener: Any) -> None:
    """Instances on one database pushing a partner's files at once: the quota holds (on
    PostgreSQL a per-partner advisory lock; SQLite has one writer)."""
    stores = [opener() for _ in range(6)]
    start = threading.Barrier(len(stores))

    def push(n: int) -> BlobHold:
        start.wait()
        return _hold(stores[n], 100 + n, size=100, quota_bytes=10_000, quota_files=3)[1]

    with ThreadPoolExecutor(len(stores)) as pool:
        got = list(pool.map(push, range(len(stores))))
    assert got.count(BlobHold.STORED) == 3
    assert stores[0].blob_usage() == [BlobUsage(peer=PEER, count=3, size=300)]
