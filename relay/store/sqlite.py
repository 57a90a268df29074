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

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()
