"""SQLite backend: the embedded default. WAL journal, ``synchronous=FULL`` (a committed row
survives power loss; ``NORMAL`` may lose the last transactions), numbered migrations."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Final

from relay.store.contract import ReceiveOutcome, RefusalRecord

__all__ = ["SqliteStore"]

MIGRATIONS: Final = (
    # 1: received envelopes and their dedupe key
    """
    CREATE TABLE received (
        issuer TEXT NOT NULL,
        envelope_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        sender TEXT NOT NULL,
        received_at TEXT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (issuer, envelope_id)
    );
    CREATE TABLE refusals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        peer TEXT NOT NULL,
        reason TEXT NOT NULL,
        http_status INTEGER NOT NULL,
        issuer TEXT,
        envelope_id TEXT,
        digest TEXT
    );
    """,
    # 2: Slack events taken (dedupe on event_id), envelope -> Slack ts, file blobs,
    #    last seen ts per channel (catch-up after an outage)
    """
    CREATE TABLE inbox (
        event_id TEXT PRIMARY KEY,
        team TEXT NOT NULL,
        received_at TEXT NOT NULL,
        body BLOB NOT NULL,
        done INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE posted (
        issuer TEXT NOT NULL,
        envelope_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        ts TEXT NOT NULL,
        PRIMARY KEY (issuer, envelope_id)
    );
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        mime TEXT NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE seen (
        channel TEXT PRIMARY KEY,
        ts TEXT NOT NULL
    );
    """,
)


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.execute("BEGIN IMMEDIATE")
                for statement in sql.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")
                self._db.execute("COMMIT")

    def record_received(
        self,
        *,
        issuer: str,
        envelope_id: str,
        digest: str,
        sender: str,
        body: bytes,
        at: dt.datetime,
    ) -> ReceiveOutcome:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT digest, sender FROM received WHERE issuer = ? AND envelope_id = ?",
                    (issuer, envelope_id),
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO received VALUES (?, ?, ?, ?, ?, ?)",
                        (issuer, envelope_id, digest, sender, at.isoformat(), body),
                    )
                    outcome = ReceiveOutcome.NEW
                elif row[0] == digest:
                    outcome = ReceiveOutcome.DUPLICATE
                elif row[1] != sender:
                    outcome = ReceiveOutcome.OTHER_PATH
                else:
                    outcome = ReceiveOutcome.CONFLICT
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return outcome

    def record_refusal(self, record: RefusalRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO refusals (at, peer, reason, http_status, issuer, envelope_id, "
                "digest) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.at.isoformat(),
                    record.peer,
                    record.reason,
                    record.http_status,
                    record.issuer,
                    record.envelope_id,
                    record.digest,
                ),
            )

    def refusals(self) -> list[RefusalRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, peer, reason, http_status, issuer, envelope_id, digest "
                "FROM refusals ORDER BY id"
            ).fetchall()
        return [
            RefusalRecord(
                at=dt.datetime.fromisoformat(r[0]),
                peer=r[1],
                reason=r[2],
                http_status=r[3],
                issuer=r[4],
                envelope_id=r[5],
                digest=r[6],
            )
            for r in rows
        ]

    # -- Slack inbox ---------------------------------------------------------------------
    def take_event(self, *, event_id: str, team: str, body: bytes, at: dt.datetime) -> bool:
        """Store a Slack event before it is acknowledged; False if already taken."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO inbox (event_id, team, received_at, body) "
                "VALUES (?, ?, ?, ?)",
                (event_id, team, at.isoformat(), body),
            )
            return cur.rowcount == 1

    def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, body FROM inbox WHERE done = 0 ORDER BY rowid LIMIT ?", (limit,)
            ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def finish_event(self, event_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE inbox SET done = 1 WHERE event_id = ?", (event_id,))

    # -- envelope -> Slack ts --------------------------------------------------------------
    def map_post(self, *, issuer: str, envelope_id: str, channel: str, ts: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO posted VALUES (?, ?, ?, ?)",
                (issuer, envelope_id, channel, ts),
            )

    def lookup_post(self, *, issuer: str, envelope_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT channel, ts FROM posted WHERE issuer = ? AND envelope_id = ?",
                (issuer, envelope_id),
            ).fetchone()
        return (row[0], row[1]) if row else None

    # -- blobs ----------------------------------------------------------------------------
    def put_blob(self, *, sha256: str, mime: str, data: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", (sha256, mime, data))

    def get_blob(self, sha256: str) -> tuple[str, bytes] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT mime, data FROM blobs WHERE sha256 = ?", (sha256,)
            ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    # -- catch-up -------------------------------------------------------------------------
    def last_seen(self, channel: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT ts FROM seen WHERE channel = ?", (channel,)).fetchone()
        return row[0] if row else None

    def set_last_seen(self, channel: str, ts: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO seen VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET ts = "
                "excluded.ts WHERE CAST(excluded.ts AS REAL) > CAST(seen.ts AS REAL)",
                (channel, ts),
            )

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()
