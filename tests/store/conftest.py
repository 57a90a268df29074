"""One store contract, every backend (mautrix ``crypto/store/tests/store_test.py`` style).

SQLite gets a fresh file per test, PostgreSQL a fresh ``test_<random>`` schema, dropped with
CASCADE afterwards. The ``store`` fixture also runs each test through the async facade
(:class:`~relay.store.aio.AsyncStore`, on an event loop in another thread). CI runs
PostgreSQL, so it is never skipped: unreachable is a failure.
Point ``RELAY_TEST_POSTGRES_DSN`` elsewhere if it does not run on 127.0.0.1:5432.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Final, cast

import psycopg
import pytest
from psycopg import sql as pgsql

from relay.store.aio import AsyncStore
from relay.store.base import SqlStore
from relay.store.contract import ROLES, role_methods
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


_ROLE_METHODS: Final = frozenset(name for role in ROLES for name in role_methods(role))


class ThroughFacade:
    """A blocking store whose role methods go through :class:`AsyncStore`: each call is a
    coroutine run on ``loop`` (in another thread), which hands it to the facade's pool.

    Inside ``group()`` or ``unit()`` calls go straight to the store, as a group commit's
    writes do (they run in the thread that holds the group's transaction)."""

    def __init__(self, store: SqlStore, loop: asyncio.AbstractEventLoop) -> None:
        self._direct = store
        self._loop = loop
        self._facade = AsyncStore(store)
        self._inside = 0

    def __getattr__(self, name: str) -> Any:
        if name in ("group", "unit"):
            return lambda: self._enter(getattr(self._direct, name)())
        if name not in _ROLE_METHODS or self._inside:
            return getattr(self._direct, name)
        method = getattr(self._facade, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self._loop)
            return future.result(timeout=60)

        return call

    @contextmanager
    def _enter(self, inner: AbstractContextManager[None]) -> Iterator[None]:
        with inner:
            self._inside += 1
            try:
                yield
            finally:
                self._inside -= 1

    def shutdown(self) -> None:
        self._facade.shutdown()


@contextmanager
def loop_in_a_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="facade-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(params=["direct", "aio"])
def store(request: pytest.FixtureRequest, opener: Opener) -> Iterator[SqlStore]:
    """A store of each backend, called directly and through the async facade."""
    direct = opener()
    if request.param == "direct":
        yield direct
        return
    with loop_in_a_thread() as loop:
        through = ThroughFacade(direct, loop)
        try:
            yield cast(SqlStore, through)
        finally:
            through.shutdown()
