"""The audit ledger in the store, on every backend: append, head, rows, checkpoints, prune with
an anchor, savepoints, and several instances on one database extending one chain."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from relay.core.audit import GENESIS, AuditEvent, AuditRecord, rfc3339, verify_chain
from relay.store.base import SqlStore
from relay.store.contract import OutboxItem, Store
from relay.store.sql import MIGRATIONS
from tests.store.conftest import Opener

CT, MA = "CT9990100", "MA9990200"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = 86400.0


def rec(at: dt.datetime = T0, **kw: object) -> AuditRecord:
    fields: dict[str, object] = {"relay": CT, "outcome": "delivered", "destination": MA}
    fields.update(kw)
    return AuditRecord(event=AuditEvent.FORWARD, at=rfc3339(at), **fields)  # type: ignore[arg-type]


def verify(store: Store) -> tuple[bool, int, str | None]:
    verdict = verify_chain(
        store.audit_raw_rows(after_seq=0), [], store.audit_anchor(), head=store.audit_head()
    )
    return verdict.ok, verdict.records, verdict.reason


def test_migration_5_is_the_ledger(store: SqlStore) -> None:
    assert len(MIGRATIONS) >= 5
    assert store.schema_version() == len(MIGRATIONS)
    assert store.audit_head() == (0, GENESIS)
    assert store.audit_anchor() is None
    assert store.audit_rows() == []


def test_append_extends_the_chain(store: Store) -> None:
    seq, head = store.audit_append([rec(count=1), rec(count=2)])
    assert seq == 2
    assert store.audit_head() == (2, head)
    assert store.audit_append([]) == (2, head)
    seq3, head3 = store.audit_append([rec(count=3)])
    assert seq3 == 3
    rows = store.audit_rows()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert [r.record.count for r in rows] == [1, 2, 3]
    assert rows[0].prev == GENESIS
    assert rows[2].prev == head
    assert rows[2].hash == head3
    assert store.audit_rows(after_seq=1, limit=1)[0].seq == 2
    raw = store.audit_raw_rows(after_seq=2)
    assert [r.seq for r in raw] == [3]
    assert AuditRecord.from_json(__import__("json").loads(raw[0].record_json)) == rows[2].record
    assert verify(store) == (True, 3, None)


def test_rows_by_time_window(store: Store) -> None:
    store.audit_append([rec(T0 + dt.timedelta(days=d), count=d) for d in range(10)])
    since, until = (T0 + dt.timedelta(days=2)).timestamp(), (T0 + dt.timedelta(days=5)).timestamp()
    window = store.audit_rows(since=since, until=until)
    assert [r.record.count for r in window] == [2, 3, 4]
    assert [r.record.count for r in store.audit_rows(since=since + 0.5)] == list(range(3, 10))
    assert [r.record.count for r in store.audit_rows(until=since)] == [0, 1]


def test_append_rolls_back_with_the_enclosing_unit(store: SqlStore) -> None:
    store.audit_append([rec(count=1)])
    head = store.audit_head()
    item = OutboxItem(partner=MA, envelope_id="e1", order_key="e1", body=b"{}", expires_at=1e10)

    def failing_step() -> None:
        with store.unit():
            store.audit_append([rec(count=2)])
            store.enqueue([item], now=1.0)
            raise RuntimeError("the step failed")

    with store.group():
        with pytest.raises(RuntimeError, match="step"):
            failing_step()
        with store.unit():  # a later unit in the same group commits
            store.audit_append([rec(count=3)])
    assert store.queue_entries() == []
    rows = store.audit_rows()
    assert [r.record.count for r in rows] == [1, 3]
    assert rows[1].prev == head[1]
    assert verify(store) == (True, 2, None)


def test_a_failed_group_leaves_no_record(store: SqlStore) -> None:

    def failing_group() -> None:
        with store.group():
            store.audit_append([rec(count=1)])
            raise RuntimeError("commit never happens")

    with pytest.raises(RuntimeError, match="commit"):
        failing_group()
    assert store.audit_head() == (0, GENESIS)
    assert store.audit_rows() == []


def test_two_instances_extend_one_chain(opener: Opener) -> None:
    """Two stores on one database (two relay instances) append from two threads at once:
    one chain, no fork, no lost record, and it verifies."""
    stores = [opener(), opener()]
    per_thread, batch = 40, 3
    start = threading.Barrier(len(stores))

    def work(index: int) -> None:
        store = stores[index]
        start.wait()
        for i in range(per_thread):
            records = [rec(count=index * 10_000 + i * 10 + k) for k in range(batch)]
            if i % 2:
                with store.group(), store.unit():  # as the service's group writer does
                    store.audit_append(records)
            else:
                store.audit_append(records)

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(work, range(len(stores))))
    total = len(stores) * per_thread * batch
    rows = stores[0].audit_rows()
    assert [r.seq for r in rows] == list(range(1, total + 1))
    assert len({r.record.count for r in rows}) == total
    assert stores[1].audit_head() == (total, rows[-1].hash)
    assert verify(stores[1]) == (True, total, None)


def test_prune_keeps_an_anchor_and_the_chain_verifies(store: Store) -> None:
    store.audit_append([rec(T0 + dt.timedelta(days=d), count=d) for d in range(10)])
    before_prune = store.audit_rows()
    now = (T0 + dt.timedelta(days=365 + 4, hours=12)).timestamp()
    with pytest.raises(ValueError, match="365"):
        store.audit_prune(now - 364 * DAY, now=now)
    assert store.audit_prune(now - 365 * DAY, now=now) == 5  # days 0..4 are older
    assert store.audit_anchor() == (5, before_prune[4].hash)
    assert [r.seq for r in store.audit_rows()] == [6, 7, 8, 9, 10]
    assert verify(store) == (True, 5, None)
    assert store.audit_prune(now - 365 * DAY, now=now) == 0
    assert store.audit_anchor() == (5, before_prune[4].hash)
    store.audit_append([rec(T0 + dt.timedelta(days=20), count=20)])
    assert verify(store) == (True, 6, None)
    later = now + 100 * DAY
    assert store.audit_prune(later - 365 * DAY, now=later) == 6
    assert store.audit_rows() == []
    assert store.audit_anchor() == store.audit_head()
    assert verify(store) == (True, 0, None)
    seq, _ = store.audit_append([rec(count=30)])
    assert seq == 12
    assert verify(store) == (True, 1, None)


def test_prune_takes_only_a_prefix(store: Store) -> None:
    """A record out of time order (another instance's clock) stops the prefix there."""
    days = [0, 1, 9, 2, 3]
    store.audit_append([rec(T0 + dt.timedelta(days=d), count=d) for d in days])
    now = (T0 + dt.timedelta(days=365 + 5)).timestamp()
    assert store.audit_prune(now - 365 * DAY, now=now) == 2
    assert [r.record.count for r in store.audit_rows()] == [9, 2, 3]
    assert verify(store)[0]


def test_tampering_in_the_store_is_found(store: SqlStore) -> None:
    store.audit_append([rec(count=i) for i in range(4)])
    with store.unit():
        store._execute(
            "UPDATE audit_log SET record = replace(record, '\"count\":2', '\"count\":7')"
        )
    assert verify(store) == (False, 2, "edited")
    with store.unit():
        store._execute("DELETE FROM audit_log WHERE seq = 4")
    ok, _, reason = verify(store)
    assert (ok, reason) == (False, "edited")  # the first break wins


def test_checkpoints_are_kept_per_issuer(store: Store) -> None:
    at = rfc3339(T0)
    kw = {"at": at, "received_at": at}
    assert store.put_checkpoint(issuer=MA, seq=5, head="a" * 64, token="t5", **kw)
    assert not store.put_checkpoint(issuer=MA, seq=5, head="a" * 64, token="t5", **kw)
    assert store.put_checkpoint(issuer=MA, seq=5, head="b" * 64, token="t5b", **kw)  # a fork
    assert store.put_checkpoint(issuer=MA, seq=2, head="c" * 64, token="t2", **kw)
    assert store.put_checkpoint(issuer=CT, seq=9, head="d" * 64, token="own", **kw)
    kept = store.checkpoints(MA)
    assert [(c.seq, c.token) for c in kept] == [(2, "t2"), (5, "t5"), (5, "t5b")]
    assert kept[0].issuer == MA
    assert kept[0].at == at
    assert [c.token for c in store.checkpoints(CT)] == ["own"]
    assert store.checkpoints("NY9990300") == []


def _keep(store: Store, issuer: str, seq: int, day: float, head: str = "a") -> None:
    at = rfc3339(T0 + dt.timedelta(days=day))
    store.put_checkpoint(
        issuer=issuer,
        seq=seq,
        head=head * 64,
        at=at,
        token=f"{issuer}-{seq}-{head}",
        received_at=at,
    )


def test_the_newest_checkpoints_only(store: Store) -> None:
    for seq in range(1, 8):
        _keep(store, MA, seq, seq)
    _keep(store, MA, 7, 7.5, "b")  # a fork at the highest seq: both are the newest
    _keep(store, CT, 99, 1)
    assert [c.seq for c in store.checkpoints(MA, newest=3)] == [6, 7, 7]
    assert [c.token for c in store.checkpoints(MA, newest=2)] == [f"{MA}-7-a", f"{MA}-7-b"]
    assert [c.seq for c in store.checkpoints(MA, newest=100)] == [1, 2, 3, 4, 5, 6, 7, 7]
    assert store.checkpoints(MA, newest=0) == []
    assert store.checkpoints("NY9990300", newest=5) == []


def test_checkpoints_near_a_seq(store: Store) -> None:
    for seq in (10, 20, 30, 40, 50):
        _keep(store, MA, seq, seq / 10)
    _keep(store, MA, 30, 3, "b")
    _keep(store, CT, 35, 3)

    def near(seq: int) -> list[tuple[int, str]]:
        return [(c.seq, c.head[0]) for c in store.checkpoints_near(MA, seq)]

    # the same seq (every head), the nearest below and above, the highest
    assert near(30) == [(20, "a"), (30, "a"), (30, "b"), (40, "a"), (50, "a")]
    assert near(35) == [(30, "a"), (30, "b"), (40, "a"), (50, "a")]
    assert near(45) == [(40, "a"), (50, "a")]
    assert near(60) == [(50, "a")]
    assert near(5) == [(10, "a"), (50, "a")]
    assert near(10) == [(10, "a"), (20, "a"), (50, "a")]
    assert store.checkpoints_near("NY9990300", 5) == []


def test_prune_checkpoints_keeps_each_issuers_newest(store: Store) -> None:
    for day in range(6):
        _keep(store, MA, 100 + day, day)
        _keep(store, CT, 10 + day, day)
    _keep(store, "NY9990300", 7, 0)  # a partner that went silent long ago
    _keep(store, "NY9990300", 7, 0.5, "b")  # with a fork at its last seq
    _keep(store, "NY9990300", 6, 0.2)
    now = (T0 + dt.timedelta(days=365 + 3, hours=12)).timestamp()
    with pytest.raises(ValueError, match="365"):
        store.prune_checkpoints(now - 364 * DAY, now=now)
    # days 0..3 are older than the cut-off: MA's and CT's go; NY keeps what is at its top seq
    assert store.prune_checkpoints(now - 365 * DAY, now=now) == 4 + 4 + 1
    assert [c.seq for c in store.checkpoints(MA)] == [104, 105]
    assert [c.seq for c in store.checkpoints(CT)] == [14, 15]
    assert [(c.seq, c.head[0]) for c in store.checkpoints("NY9990300")] == [(7, "a"), (7, "b")]
    assert store.prune_checkpoints(now - 365 * DAY, now=now) == 0
    later = now + 100 * DAY
    assert store.prune_checkpoints(later - 365 * DAY, now=later) == 2  # 104 and 14: not 105, 15
    assert [c.seq for c in store.checkpoints(MA)] == [105]
    assert [c.seq for c in store.checkpoints(CT)] == [15]


def test_prune_goes_by_the_hashed_time_not_the_column(store: SqlStore) -> None:
    """A recent record whose time column was moved back a year is not pruned: retention reads
    the hashed time, and a record that does not verify stops the prefix (it is evidence)."""
    store.audit_append([rec(T0 + dt.timedelta(days=d), count=d) for d in range(6)])
    with store.unit():
        store._execute("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq >= 4")
    now = (T0 + dt.timedelta(days=365 + 2, hours=12)).timestamp()
    assert store.audit_prune(now - 365 * DAY, now=now) == 3  # days 0..2, by the hash
    assert [r.seq for r in store.audit_raw_rows()] == [4, 5, 6]
    later = now + 100 * DAY  # every record older now, but seq 4's row was tampered with
    assert store.audit_prune(later - 365 * DAY, now=later) == 0
    assert verify(store) == (False, 0, "edited")


def test_a_window_goes_by_the_hashed_time(store: SqlStore) -> None:
    store.audit_append([rec(T0 + dt.timedelta(days=d), count=d) for d in range(6)])
    with store.unit():
        store._execute("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 5")
    since, until = (T0 + dt.timedelta(days=2)).timestamp(), (T0 + dt.timedelta(days=5)).timestamp()
    assert [r.record.count for r in store.audit_rows(since=since, until=until)] == [2, 3, 4]
    assert store.audit_rows(until=(T0 - dt.timedelta(days=1)).timestamp()) == []
