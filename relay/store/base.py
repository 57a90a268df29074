"""The store contract implemented once over SQL; a backend supplies the connection.

A backend (:mod:`relay.store.sqlite`, :mod:`relay.store.postgres`) opens the connection and
implements :meth:`SqlStore._execute` (translate the ``$n`` text, run it, return the rows) and
the transaction edges. Each contract method is one transaction, under a lock, so one store
can be shared by threads. The schema version lives in a ``schema_version`` table.
"""

from __future__ import annotations

import datetime as dt
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from relay.store import sql
from relay.store.contract import ReceiveOutcome, RefusalRecord

__all__ = ["Result", "SqlStore", "ts_order"]


@dataclass(frozen=True, slots=True)
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int


def ts_order(ts: str) -> tuple[int, Decimal]:
    """Sort key for a Slack ts: exact decimal order, so ``"1700000000.000100"`` is newer than
    ``"1700000000.000099"`` on every backend (a float cast is only as exact as the float, and
    PostgreSQL's ``REAL`` is 4 bytes). A value that is not a finite number sorts lowest."""
    try:
        value = Decimal(ts)
    except InvalidOperation:
        return (0, Decimal(0))
    return (1, value) if value.is_finite() else (0, Decimal(0))


class SqlStore(ABC):
    """Implements :class:`relay.store.contract.Store`; subclasses connect and call
    :meth:`_migrate` at the end of ``__init__``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    # -- what a backend supplies ---------------------------------------------------------
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
    def _unversioned_schema(self) -> int:
        """The version of a database that has no ``schema_version`` row yet."""

    @abstractmethod
    def _close(self) -> None: ...

    # -- transactions and migrations -----------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._begin()
            try:
                yield
                self._commit()
            except BaseException:
                self._rollback()  # also after a failed commit: never leave one open
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

    # -- received envelopes and refusals -------------------------------------------------
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
        """Store a verified envelope and its dedupe row in one transaction (durable).

        Insert first, read only on a conflict: two writers racing on one id cannot both see
        "absent" (PostgreSQL makes the second insert wait for the first to commit)."""
        with self._transaction():
            inserted = self._execute(
                sql.INSERT_RECEIVED,
                (issuer, envelope_id, digest, sender, at.isoformat(), body),
            ).rowcount
            if inserted == 1:
                return ReceiveOutcome.NEW
            stored_digest, stored_sender = self._execute(
                sql.SELECT_RECEIVED, (issuer, envelope_id)
            ).rows[0]
        if stored_digest == digest:
            return ReceiveOutcome.DUPLICATE
        if stored_sender != sender:
            return ReceiveOutcome.OTHER_PATH
        return ReceiveOutcome.CONFLICT

    def record_refusal(self, record: RefusalRecord) -> None:
        with self._transaction():
            self._execute(
                sql.INSERT_REFUSAL,
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
        with self._transaction():
            rows = self._execute(sql.SELECT_REFUSALS).rows
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
        with self._transaction():
            result = self._execute(sql.INSERT_EVENT, (event_id, team, at.isoformat(), body))
        return result.rowcount == 1

    def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]:
        with self._transaction():
            rows = self._execute(sql.SELECT_PENDING, (limit,)).rows
        return [(r[0], bytes(r[1])) for r in rows]

    def finish_event(self, event_id: str) -> None:
        with self._transaction():
            self._execute(sql.FINISH_EVENT, (event_id,))

    # -- envelope -> Slack ts ------------------------------------------------------------
    def map_post(self, *, issuer: str, envelope_id: str, channel: str, ts: str) -> None:
        with self._transaction():
            self._execute(sql.UPSERT_POST, (issuer, envelope_id, channel, ts))

    def lookup_post(self, *, issuer: str, envelope_id: str) -> tuple[str, str] | None:
        with self._transaction():
            rows = self._execute(sql.SELECT_POST, (issuer, envelope_id)).rows
        return (rows[0][0], rows[0][1]) if rows else None

    # -- blobs ---------------------------------------------------------------------------
    def put_blob(self, *, sha256: str, mime: str, data: bytes) -> None:
        with self._transaction():
            self._execute(sql.INSERT_BLOB, (sha256, mime, data))

    def get_blob(self, sha256: str) -> tuple[str, bytes] | None:
        with self._transaction():
            rows = self._execute(sql.SELECT_BLOB, (sha256,)).rows
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    # -- catch-up ------------------------------------------------------------------------
    def last_seen(self, channel: str) -> str | None:
        with self._transaction():
            rows = self._execute(sql.SELECT_SEEN, (channel,)).rows
        return str(rows[0][0]) if rows else None

    def set_last_seen(self, channel: str, ts: str) -> None:
        """Keep the newest ts per channel: an older one never overwrites a newer one."""
        with self._transaction():
            if self._execute(sql.INSERT_SEEN, (channel, ts)).rowcount == 1:
                return
            (stored,) = self._execute(sql.SELECT_SEEN_FOR_UPDATE, (channel,)).rows[0]
            if ts_order(ts) > ts_order(stored):
                self._execute(sql.UPDATE_SEEN, (channel, ts))

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        with self._transaction():
            self._execute(sql.PING)

    def close(self) -> None:
        with self._lock:
            self._close()
