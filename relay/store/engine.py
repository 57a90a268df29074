"""What every SQL role shares: the connection a backend supplies, one transaction per contract
method, group commit, and the numbered migrations.

A backend (:mod:`relay.store.sqlite`, :mod:`relay.store.postgres`) opens the connection and
implements :meth:`SqlEngine._execute` (translate the ``$n`` text, run it, return the rows) and
the transaction edges. Each contract method is one transaction, under a lock, so one store
can be shared by threads (a thread pool, :mod:`relay.store.aio`): calls are serialised on
its one connection. The schema version lives in a ``schema_version`` table.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from relay.store import sql

__all__ = ["Result", "SqlEngine"]


@dataclass(frozen=True, slots=True)
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int


class SqlEngine(ABC):
    """The connection and its transactions; the role classes (``sql_*``) run their SQL on it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._group_thread: int | None = None  # the thread inside ``group``, if any
        self._savepoints = 0

    @abstractmethod
    def _execute(self, query: str, params: Sequence[object] = ()) -> Result:
        """Run one statement written with ``$n`` placeholders inside the open transaction."""

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def _lock_migrations(self) -> None:
        """Keep a second process from migrating at the same time (inside the transaction)."""

    @abstractmethod
    def _lock_key(self, key: str) -> None:
        """Keep other connections' transactions that lock ``key`` waiting until this one
        ends (inside the transaction): a read-then-write (a quota) that must not interleave."""

    @abstractmethod
    def _unversioned_schema(self) -> int:
        """The version of a database that has no ``schema_version`` row yet."""

    @abstractmethod
    def _close(self) -> None: ...

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One contract method's transaction; inside :meth:`group`, a savepoint of the
        group's transaction (its failure undoes only its own writes)."""
        with self._lock:
            if self._group_thread == threading.get_ident():
                self._savepoints += 1
                name = f"relay_sp{self._savepoints}"
                self._execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    self._execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self._execute(f"RELEASE SAVEPOINT {name}")
                    raise
                self._execute(f"RELEASE SAVEPOINT {name}")
                return
            self._begin()
            try:
                yield
                self._commit()
            except BaseException:
                self._rollback()  # also after a failed commit: never leave one open
                raise

    def unit(self) -> AbstractContextManager[None]:
        """One unit of work: a transaction, or inside :meth:`group` a savepoint (several
        contract methods that stand or fall together)."""
        return self._transaction()

    @contextmanager
    def group(self) -> Iterator[None]:
        """Run several contract methods in one transaction, committed once (group commit:
        one fsync for many acknowledgements). Each method is a savepoint; nothing is
        durable, and no caller may be answered, before the group commits."""
        with self._lock:
            self._begin()
            self._group_thread = threading.get_ident()
            try:
                yield
                self._group_thread = None
                self._commit()
            except BaseException:
                self._group_thread = None
                self._rollback()
                raise

    def _migrate(self) -> None:
        """Apply the numbered migrations this database lacks, in one transaction."""
        with self._transaction():
            self._lock_migrations()
            self._execute(sql.CREATE_SCHEMA_VERSION)
            rows = self._execute(sql.SELECT_SCHEMA_VERSION).rows
            if rows:
                version = int(rows[0][0])
            else:
                version = self._unversioned_schema()
                self._execute(sql.INSERT_SCHEMA_VERSION, (version,))
            if version > len(sql.MIGRATIONS):
                raise RuntimeError(
                    f"store schema version {version} is newer than this relay "
                    f"({len(sql.MIGRATIONS)}); upgrade the relay"
                )
            for number, statements in enumerate(sql.MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    self._execute(statement)
                self._execute(sql.UPDATE_SCHEMA_VERSION, (number,))

    def schema_version(self) -> int:
        with self._transaction():
            return int(self._execute(sql.SELECT_SCHEMA_VERSION).rows[0][0])

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        with self._transaction():
            self._execute(sql.PING)

    def close(self) -> None:
        with self._lock:
            self._close()
