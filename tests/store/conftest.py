"""One store contract, every backend (mautrix ``crypto/store/tests/store_test.py`` style).

SQLite gets a fresh file per test, PostgreSQL a fresh ``test_<random>`` schema, dropped with
CASCADE afterwards. CI runs PostgreSQL, so it is never skipped: unreachable is a failure.
Point ``RELAY_TEST_POSTGRES_DSN`` elsewhere if it does not run on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import psycopg
import pytest
from psycopg import sql as pgsql

from relay.store.base import SqlStore
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SqliteStore

PG_DSN: Final = os.environ.get(
    "RELAY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for the store contract tests and is unreachable "
            f"({type(exc).__name__}); start it or set RELAY_TEST_POSTGRES_DSN"
        )


class Opener:
    """Opens stores on one database (file or schema) and closes them all at teardown."""

    def __init__(self, open_one: Callable[[], SqlStore]) -> None:
        self._open_one = open_one
        self.opened: list[SqlStore] = []

    def __call__(self) -> SqlStore:
        store = self._open_one()
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema, dropped with everything in it afterwards."""
    schema = f"test_{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    try:
        yield schema
    finally:
        with _admin() as admin:
            admin.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores of one backend, all on the same fresh database."""
    if request.param == "sqlite":
        path = tmp_path / "relay.db"
        result = Opener(lambda: SqliteStore(path))
    else:
        schema = request.getfixturevalue("pg_schema")
        result = Opener(lambda: PostgresStore(PG_DSN, schema=schema))
    try:
        yield result
    finally:
        result.close_all()


@pytest.fixture
def store(opener: Opener) -> SqlStore:
    return opener()
