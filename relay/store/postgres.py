"""PostgreSQL backend (psycopg 3, synchronous): the same SQL and contract as SQLite.

One connection, autocommit off, one transaction per contract method under a lock (the flow
and the Slack side call the store from several threads). A connection the server dropped is
replaced at the start of the next method, so ``ping`` recovers once the server is back.
``schema`` sets ``search_path`` (tests use a fresh schema each); the schema must exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import psycopg
from psycopg import sql as pgsql

from relay.store.base import Result, SqlStore
from relay.store.dialect import postgres_params, to_postgres

__all__ = ["PostgresStore"]

# pg_advisory_xact_lock(key1, key2): key1 names the relay's migration lock, key2 the schema.
_MIGRATION_LOCK: Final = 0x52454C59  # "RELY"
_LOCK_MIGRATIONS: Final = (
    f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK}, hashtext(coalesce(current_schema(), '')))"
)

# Per key (a partner's ORI): a read-then-write that READ COMMITTED would let interleave.
_KEY_LOCK: Final = 0x424C4F42  # "BLOB"
_LOCK_KEY: Final = f"SELECT pg_advisory_xact_lock({_KEY_LOCK}, hashtext($1))"


class PostgresStore(SqlStore):
    def __init__(self, dsn: str, *, schema: str | None = None) -> None:
        super().__init__()
        self._dsn = dsn
        self._schema = schema
        self._conn = self._connect()
        self._migrate()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        # A database that has gone away must fail a call, not hang it: bounded connects, and
        # TCP keepalives so a dead peer is noticed (the URL may set its own values).
        conn = psycopg.connect(
            self._dsn,
            autocommit=False,
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        if self._schema is not None:
            conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self._schema)))
            conn.commit()
        return conn

    def _execute(self, query: str, params: Sequence[object] = ()) -> Result:
        text, order = to_postgres(query)
        cur = self._conn.execute(text, postgres_params(order, params))
        rows = cur.fetchall() if cur.description is not None else []
        return Result(rows, cur.rowcount)

    def _begin(self) -> None:
        # psycopg opens the transaction with the first statement (autocommit is off).
        if self._conn.broken:
            self._conn = self._connect()

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        if not (self._conn.closed or self._conn.broken):
            self._conn.rollback()

    def _lock_migrations(self) -> None:
        self._execute(_LOCK_MIGRATIONS)

    def _lock_key(self, key: str) -> None:
        self._execute(_LOCK_KEY, (key,))

    def _unversioned_schema(self) -> int:
        return 0

    def _close(self) -> None:
        self._conn.close()
