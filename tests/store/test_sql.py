"""The shared SQL and its translation for each driver."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from relay.core import defaults
from relay.store.contract import ReceiveOutcome
from relay.store.dialect import postgres_params, to_postgres, to_sqlite
from relay.store.sql import MIGRATIONS
from relay.store.sqlite import SqliteStore

AT = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_sqlite_reads_numbered_placeholders_and_its_type_names() -> None:
    assert to_sqlite("SELECT a FROM t WHERE b = $2 AND c = $1 AND d = $2") == (
        "SELECT a FROM t WHERE b = ?2 AND c = ?1 AND d = ?2"
    )
    assert to_sqlite("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, b BYTEA)") == (
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB)"
    )
    assert to_sqlite("SELECT ts FROM seen WHERE channel = $1 FOR UPDATE") == (
        "SELECT ts FROM seen WHERE channel = ?1"
    )


def test_psycopg_gets_ordered_parameters_and_escaped_percent() -> None:
    text, order = to_postgres("SELECT $2, $1, $2 WHERE x LIKE 'a%'")
    assert text == "SELECT %s, %s, %s WHERE x LIKE 'a%%'"
    assert postgres_params(order, ("one", "two")) == ("two", "one", "two")


def test_sqlite_database_from_before_schema_version_is_upgraded(tmp_path: Path) -> None:
    """A version-2 file (PRAGMA user_version) keeps its rows and its inbox order."""
    path = tmp_path / "legacy.db"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
        db.execute(to_sqlite(statement))
    db.execute("PRAGMA user_version=2")
    db.execute(
        "INSERT INTO received VALUES ('VA0000001', 'env-1', 'd1', 'VA0000001', ?, x'00')",
        (AT.isoformat(),),
    )
    for i, event_id in enumerate(["Ev9", "Ev1", "Ev5"]):
        at = (AT + dt.timedelta(seconds=i)).isoformat()
        db.execute(
            "INSERT INTO inbox (event_id, team, received_at, body, done) "
            "VALUES (?, 'T1', ?, ?, ?)",
            (event_id, at, event_id.encode(), int(event_id == "Ev1")),
        )
    db.execute("INSERT INTO seen VALUES ('C1', '1700000000.000100')")
    db.close()

    store = SqliteStore(path)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        outcome = store.record_received(
            issuer="VA0000001", envelope_id="env-1", digest="d1", sender="X", body=b"", at=AT
        )
        assert outcome is ReceiveOutcome.DUPLICATE
        assert store.pending_events() == [("Ev9", b"Ev9"), ("Ev5", b"Ev5")]
        assert store.take_event(event_id="Ev1", team="T1", body=b"", at=AT) is False
        assert store.take_event(event_id="Ev2", team="T1", body=b"Ev2", at=AT) is True
        assert [e for e, _ in store.pending_events()] == ["Ev9", "Ev5", "Ev2"]
        store.set_last_seen("C1", "1700000000.000099")
        assert store.last_seen("C1") == "1700000000.000100"
    finally:
        store.close()


def test_sqlite_keeps_wal_and_full_sync(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "relay.db")
    try:
        db = store._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()


def test_files_held_before_migration_11_are_sized_and_kept_for_the_legacy_hold(
    tmp_path: Path,
) -> None:
    """A file from a version-10 database: its size counted, nobody charged, and (never named
    by an envelope the new schema knows) kept FILES_LEGACY_HOLD from the first sweep."""
    path = tmp_path / "v10.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TABLE blob_names")
    db.execute("DROP INDEX blobs_peer")
    db.execute("DROP TABLE blobs")
    db.execute(to_sqlite(MIGRATIONS[1][2]))  # blobs as version 2 made it
    for table in ("reviews", "releases"):  # migration 12, made again on the way up
        db.execute(f"DROP TABLE {table}")
    db.execute("UPDATE schema_version SET version = 10")
    db.execute("INSERT INTO blobs VALUES ('ab', 'image/png', x'00010203')")
    db.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        assert [(u.peer, u.count, u.size) for u in store.blob_usage()] == [("", 1, 4)]
        now = 1_800_000_000.0
        assert store.sweep_blobs(now=now, grace=3600.0, limit=10).deleted == 0
        hold = defaults.FILES_LEGACY_HOLD
        assert store.sweep_blobs(now=now + hold - 1, grace=3600.0, limit=10).deleted == 0
        assert store.sweep_blobs(now=now + hold, grace=3600.0, limit=10).deleted == 1
    finally:
        store.close()
