"""SQLite backend: the embedded default. WAL journal, ``synchronous=FULL`` (a committed row
survives power loss; ``NORMAL`` may lose the last transactions), numbered migrations.

The SQL is shared with PostgreSQL (:mod:`relay.store.sql`); each method runs in a
``BEGIN IMMEDIATE`` transaction, which takes the write lock up front.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from relay.store.base import Result, SqlStore
from relay.store.dialect import to_sqlite
from relay.store.sql import MIGRATIONS

__all__ = ["MIGRATIONS", "SqliteStore"]


class SqliteStore(SqlStore):
    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _execute(self, query: str, params: Sequence[object] = ()) -> Result:
        cur = self._db.execute(to_sqlite(query), tuple(params))
        rows = cur.fetchall() if cur.description is not None else []
        return Result(rows, cur.rowcount)

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._db.execute("COMMIT")

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _lock_migrations(self) -> None:
        """``BEGIN IMMEDIATE`` already excludes every other writer."""

    def _lock_key(self, key: str) -> None:
        """``BEGIN IMMEDIATE`` already excludes every other writer."""

    def _unversioned_schema(self) -> int:
        # Databases from before the schema_version table counted in PRAGMA user_version.
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _close(self) -> None:
        self._db.close()
