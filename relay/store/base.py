"""The store contract implemented once over SQL; a backend supplies the connection.

A backend (:mod:`relay.store.sqlite`, :mod:`relay.store.postgres`) opens the connection and
implements :meth:`SqlStore._execute` (translate the ``$n`` text, run it, return the rows) and
the transaction edges. Each contract method is one transaction, under a lock, so one store
can be shared by threads. The schema version lives in a ``schema_version`` table.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from relay.core import audit
from relay.store import sql
from relay.store.contract import (
    Attempt,
    ClaimedEnvelope,
    ClaimedInbound,
    OutboxItem,
    QueueEntry,
    QueueStat,
    ReceiveOutcome,
    RefusalRecord,
    StoredCheckpoint,
)

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


def _settle_params(seq: int, owner: str, attempt: Attempt, now: float) -> tuple[object, ...]:
    finished = None if attempt.state == "pending" else now
    return (seq, owner, attempt.state, attempt.next_at, attempt.reason, finished)


_RETENTION_FLOOR: Final = 365 * 86400.0  # seconds: CJIS AU-11 keeps audit records a year


def _at_text(seconds: float | None) -> str:
    """POSIX seconds as the records' fixed-width RFC 3339 text ('' for no bound)."""
    if seconds is None:
        return ""
    return audit.rfc3339(dt.datetime.fromtimestamp(seconds, dt.UTC))


def _checkpoint_rows(rows: Sequence[Sequence[Any]]) -> list[StoredCheckpoint]:
    return [
        StoredCheckpoint(
            issuer=str(r[0]),
            seq=int(r[1]),
            head=str(r[2]),
            at=str(r[3]),
            token=str(r[4]),
            received_at=str(r[5]),
        )
        for r in rows
    ]


def _entry(entry_id: str) -> tuple[str, int]:
    """``out-12`` -> ("out", 12); ``ValueError`` for anything else."""
    queue, _, number = entry_id.partition("-")
    if queue not in ("out", "in") or not number.isdigit():
        raise ValueError(f"queue id {entry_id!r} is not out-<n> or in-<n>")
    return queue, int(number)


_AUDIT_ROWS_PER_INSERT: Final = 100  # rows per INSERT statement (5 parameters each)


class SqlStore(ABC):
    """Implements :class:`relay.store.contract.Store`; subclasses connect and call
    :meth:`_migrate` at the end of ``__init__``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._group_thread: int | None = None  # the thread inside ``group``, if any
        self._savepoints = 0

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
        order_key: str = "",
        expires_at: float | None = None,
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
                self._execute(
                    sql.INSERT_INBOUND,
                    (
                        issuer,
                        envelope_id,
                        sender,
                        order_key or f"{issuer}/{envelope_id}",
                        at.timestamp(),
                        expires_at if expires_at is not None else at.timestamp() + 30 * 86400,
                    ),
                )
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

    def refusals(self, *, limit: int | None = None) -> list[RefusalRecord]:
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        with self._transaction():
            if limit is None:
                rows = self._execute(sql.SELECT_REFUSALS).rows
            else:
                rows = self._execute(sql.SELECT_LAST_REFUSALS, (int(limit),)).rows
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
    def take_event(
        self, *, event_id: str, team: str, body: bytes, at: dt.datetime, order_key: str = ""
    ) -> bool:
        """Store a Slack event before it is acknowledged; False if already taken."""
        with self._transaction():
            result = self._execute(
                sql.INSERT_EVENT, (event_id, team, at.isoformat(), body, order_key)
            )
        return result.rowcount == 1

    def claim_events(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[tuple[str, bytes]]:
        """Lease pending events, oldest first, at most one per order key in flight."""
        with self._transaction():
            rows = self._execute(sql.CLAIM_EVENTS, (owner, now, lease, limit)).rows
        return [(r[1], bytes(r[2])) for r in sorted(rows)]

    def pending_event_count(self) -> int:
        with self._transaction():
            return int(self._execute(sql.COUNT_PENDING_EVENTS).rows[0][0])

    def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]:
        with self._transaction():
            rows = self._execute(sql.SELECT_PENDING, (limit,)).rows
        return [(r[0], bytes(r[1])) for r in rows]

    def finish_event(self, event_id: str) -> None:
        with self._transaction():
            self._execute(sql.FINISH_EVENT, (event_id,))

    # -- outbox ----------------------------------------------------------------------------
    def _enqueue(self, items: Sequence[OutboxItem], now: float) -> int:
        added = 0
        for item in items:
            added += self._execute(
                sql.ENQUEUE,
                (
                    item.partner,
                    item.envelope_id,
                    item.order_key,
                    item.body,
                    json.dumps([list(b) for b in item.blobs]),
                    now,
                    item.expires_at,
                ),
            ).rowcount
        return added

    def enqueue(
        self, items: Sequence[OutboxItem], *, now: float, finish_event: str | None = None
    ) -> int:
        """Queue envelopes (one per partner and id; a second copy is ignored) and, in the same
        transaction, mark the Slack event they came from processed. Returns rows added."""
        with self._transaction():
            added = self._enqueue(items, now)
            if finish_event is not None:
                self._execute(sql.FINISH_EVENT, (finish_event,))
        return added

    def claim_outbox(
        self, partner: str, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedEnvelope]:
        with self._transaction():
            rows = self._execute(sql.CLAIM_OUTBOX, (partner, owner, now, lease, limit)).rows
        return [
            ClaimedEnvelope(
                seq=int(r[0]),
                partner=r[1],
                envelope_id=r[2],
                body=bytes(r[3]),
                blobs=tuple((str(a), str(b)) for a, b in json.loads(r[4])),
                created_at=float(r[5]),
                expires_at=float(r[6]),
                attempts=int(r[7]),
            )
            for r in sorted(rows)
        ]

    def settle_outbox(
        self, results: Sequence[tuple[int, Attempt]], *, owner: str, now: float
    ) -> None:
        """Record attempts' outcomes (only rows this owner still leases)."""
        with self._transaction():
            for seq, attempt in results:
                self._execute(sql.SETTLE_OUTBOX, _settle_params(seq, owner, attempt, now))

    def next_outbox_due(self, partner: str) -> float | None:
        with self._transaction():
            value = self._execute(sql.NEXT_DUE_OUTBOX, (partner,)).rows[0][0]
        return None if value is None else float(value)

    # -- inbound queue -----------------------------------------------------------------------
    def claim_inbound(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedInbound]:
        out: list[ClaimedInbound] = []
        with self._transaction():
            rows = self._execute(sql.CLAIM_INBOUND, (owner, now, lease, limit)).rows
            for r in sorted(rows):
                body = self._execute(sql.SELECT_RECEIVED_BODY, (r[1], r[2])).rows[0][0]
                out.append(
                    ClaimedInbound(
                        seq=int(r[0]),
                        issuer=r[1],
                        envelope_id=r[2],
                        sender=r[3],
                        body=bytes(body),
                        created_at=float(r[4]),
                        expires_at=float(r[5]),
                        attempts=int(r[6]),
                    )
                )
        return out

    def complete_inbound(
        self, seq: int, *, owner: str, now: float, forwards: Sequence[OutboxItem] = ()
    ) -> None:
        """Queue the envelopes passed on and mark the inbound item done, in one transaction."""
        with self._transaction():
            self._enqueue(forwards, now)
            self._execute(
                sql.SETTLE_INBOUND, _settle_params(seq, owner, Attempt(state="done"), now)
            )

    def settle_inbound(self, seq: int, attempt: Attempt, *, owner: str, now: float) -> None:
        with self._transaction():
            self._execute(sql.SETTLE_INBOUND, _settle_params(seq, owner, attempt, now))

    def next_inbound_due(self) -> float | None:
        with self._transaction():
            value = self._execute(sql.NEXT_DUE_INBOUND).rows[0][0]
        return None if value is None else float(value)

    def renew(self, owner: str, *, until: float) -> int:
        """Extend every lease this owner holds to ``until`` (a heartbeat while it works: a
        batch may take longer than one lease). Returns the leases renewed."""
        with self._transaction():
            until_ = float(until)
            return sum(
                self._execute(query, (owner, until_)).rowcount
                for query in (sql.RENEW_OUTBOX, sql.RENEW_INBOUND, sql.RENEW_EVENTS)
            )

    def release(self, owner: str) -> None:
        """Give back every lease this owner holds (graceful shutdown)."""
        with self._transaction():
            self._execute(sql.RELEASE_OUTBOX, (owner,))
            self._execute(sql.RELEASE_INBOUND, (owner,))
            self._execute(sql.RELEASE_EVENTS, (owner,))

    # -- the queue as operators see it -------------------------------------------------------
    def queue_entries(
        self, *, state: str = "", peer: str = "", limit: int = 1000
    ) -> list[QueueEntry]:
        out: list[QueueEntry] = []
        with self._transaction():
            for queue, prefix, query in (
                ("outbox", "out", sql.LIST_OUTBOX),
                ("inbound", "in", sql.LIST_INBOUND),
            ):
                for r in self._execute(query, (state, peer, limit)).rows:
                    out.append(
                        QueueEntry(
                            id=f"{prefix}-{r[0]}",
                            queue=queue,
                            peer=r[1],
                            envelope_id=r[2],
                            state=r[3],
                            attempts=int(r[4]),
                            created_at=float(r[5]),
                            next_at=float(r[6]),
                            reason=r[7],
                        )
                    )
        return out

    def retry_entry(self, entry_id: str, *, now: float) -> bool:
        """A dead item back to pending, due now. False if there is no such dead item."""
        queue, seq = _entry(entry_id)
        query = sql.RETRY_OUTBOX if queue == "out" else sql.RETRY_INBOUND
        with self._transaction():
            return self._execute(query, (seq, now)).rowcount == 1

    def drop_entry(self, entry_id: str, *, now: float, reason: str) -> bool:
        """A pending item to the dead letters with ``reason``. False if none is pending."""
        queue, seq = _entry(entry_id)
        query = sql.DROP_OUTBOX if queue == "out" else sql.DROP_INBOUND
        with self._transaction():
            return self._execute(query, (seq, now, reason)).rowcount == 1

    def queue_stats(self) -> list[QueueStat]:
        out: list[QueueStat] = []
        with self._transaction():
            for queue, query in (("outbox", sql.STATS_OUTBOX), ("inbound", sql.STATS_INBOUND)):
                for peer, state, count, oldest in self._execute(query).rows:
                    out.append(
                        QueueStat(
                            queue=queue,
                            peer=peer,
                            state=state,
                            count=int(count),
                            oldest=float(oldest),
                        )
                    )
        return out

    def lease_counts(self, now: float) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        with self._transaction():
            for queue, query in (("outbox", sql.LEASED_OUTBOX), ("inbound", sql.LEASED_INBOUND)):
                for peer, count in self._execute(query, (now,)).rows:
                    out[(queue, str(peer))] = int(count)
        return out

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

    # -- audit ledger ------------------------------------------------------------------------
    def audit_append(self, records: Sequence[audit.AuditRecord]) -> tuple[int, str]:
        """Chain ``records`` after the head in one transaction (inside :meth:`group`, a
        savepoint: it stands or falls with the caller's unit). The head row is locked first,
        so appends from several instances on one database queue up and extend one chain."""
        with self._transaction():
            seq, head = self._execute(sql.SELECT_AUDIT_HEAD_FOR_UPDATE).rows[0]
            chained = audit.chain(int(seq), str(head), records)
            if not chained:
                return int(seq), str(head)
            for start in range(0, len(chained), _AUDIT_ROWS_PER_INSERT):
                part = chained[start : start + _AUDIT_ROWS_PER_INSERT]
                self._execute(
                    sql.INSERT_AUDIT + sql.audit_rows_values(len(part)),
                    [
                        value
                        for item in part
                        for value in (
                            item.seq,
                            item.record.at,
                            item.prev,
                            item.hash,
                            item.record.canonical().decode("utf-8"),
                        )
                    ],
                )
            last = chained[-1]
            self._execute(sql.UPDATE_AUDIT_HEAD, (last.seq, last.hash))
        return last.seq, last.hash

    def audit_head(self) -> tuple[int, str]:
        with self._transaction():
            seq, head, _, _ = self._execute(sql.SELECT_AUDIT_HEAD).rows[0]
        return int(seq), str(head)

    def audit_anchor(self) -> tuple[int, str] | None:
        with self._transaction():
            _, _, seq, head = self._execute(sql.SELECT_AUDIT_HEAD).rows[0]
        return (int(seq), str(head)) if int(seq) > 0 else None

    def audit_raw_rows(self, *, after_seq: int = 0, limit: int = 10_000) -> list[audit.RawRow]:
        with self._transaction():
            rows = self._execute(sql.SELECT_AUDIT_ROWS, (int(after_seq), "", "", limit)).rows
        return [audit.RawRow(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def audit_rows(
        self,
        *,
        after_seq: int = 0,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[audit.ChainedRecord]:
        """Records in sequence order; ``ValueError`` (field name only) for a stored record
        that no longer parses (``relay audit verify`` says which)."""
        bound = limit if limit is not None else 2**62
        with self._transaction():
            rows = self._execute(
                sql.SELECT_AUDIT_ROWS, (int(after_seq), _at_text(since), _at_text(until), bound)
            ).rows
        return [
            audit.ChainedRecord(
                seq=int(r[0]),
                prev=str(r[1]),
                hash=str(r[2]),
                record=audit.AuditRecord.from_json(json.loads(r[3])),
            )
            for r in rows
        ]

    def audit_prune(self, before: float, *, now: float) -> int:
        """Delete the records older than ``before`` (the chain's prefix up to the first one
        that is not), keeping the last deleted record's ``(seq, hash)`` as the anchor."""
        if before > now - _RETENTION_FLOOR:
            raise ValueError("audit retention must be at least 365 days")
        with self._transaction():
            self._execute(sql.SELECT_AUDIT_HEAD_FOR_UPDATE)  # no append while the anchor moves
            rows = self._execute(sql.SELECT_AUDIT_PRUNE_END, (_at_text(before),)).rows
            if not rows:
                return 0
            seq, head = int(rows[0][0]), str(rows[0][1])
            deleted = self._execute(sql.DELETE_AUDIT_UPTO, (seq,)).rowcount
            self._execute(sql.UPDATE_AUDIT_ANCHOR, (seq, head))
        return int(deleted)

    def put_checkpoint(
        self, *, issuer: str, seq: int, head: str, at: str, token: str, received_at: str
    ) -> bool:
        with self._transaction():
            inserted = self._execute(
                sql.INSERT_CHECKPOINT, (issuer, int(seq), head, at, token, received_at)
            ).rowcount
        return inserted == 1

    def checkpoints(self, issuer: str, *, newest: int | None = None) -> list[StoredCheckpoint]:
        with self._transaction():
            if newest is None:
                rows = self._execute(sql.SELECT_CHECKPOINTS, (issuer,)).rows
            else:
                rows = self._execute(sql.SELECT_CHECKPOINTS_NEWEST, (issuer, int(newest))).rows
        return _checkpoint_rows(rows)

    def checkpoints_near(self, issuer: str, seq: int) -> list[StoredCheckpoint]:
        with self._transaction():
            rows = self._execute(sql.SELECT_CHECKPOINTS_NEAR, (issuer, int(seq))).rows
        return _checkpoint_rows(rows)

    def prune_checkpoints(self, before: float, *, now: float) -> int:
        """Delete the checkpoints signed before ``before``, except each issuer's newest."""
        if before > now - _RETENTION_FLOOR:
            raise ValueError("audit retention must be at least 365 days")
        with self._transaction():
            deleted = self._execute(sql.DELETE_CHECKPOINTS_BEFORE, (_at_text(before),)).rowcount
        return int(deleted)

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        with self._transaction():
            self._execute(sql.PING)

    def close(self) -> None:
        with self._lock:
            self._close()
