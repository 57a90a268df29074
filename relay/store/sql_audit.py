"""The audit log role over SQL: the hash chain, its head and retention anchor, and the signed
checkpoints (own and partners').
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any, Final

from relay.core import audit
from relay.store.contract import StoredCheckpoint
from relay.store.engine import SqlEngine

__all__ = ["SqlAuditLog", "audit_rows_values"]

# Record times are fixed-width RFC 3339 text (microseconds, Z), so text order is time order.
# The head row is locked FOR UPDATE by every append (SQLite: BEGIN IMMEDIATE already excludes
# other writers), so appends from several instances queue up on it and extend one chain.
SELECT_AUDIT_HEAD_FOR_UPDATE: Final = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
SELECT_AUDIT_HEAD: Final = "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1"
UPDATE_AUDIT_HEAD: Final = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1"
UPDATE_AUDIT_ANCHOR: Final = "UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1"
INSERT_AUDIT: Final = "INSERT INTO audit_log (seq, at, prev, hash, record) VALUES "


def audit_rows_values(count: int) -> str:
    """The VALUES list for ``count`` audit rows in one INSERT (one round trip per append)."""
    return ", ".join(
        f"(${5 * i + 1}, ${5 * i + 2}, ${5 * i + 3}, ${5 * i + 4}, ${5 * i + 5})"
        for i in range(count)
    )


SELECT_AUDIT_ROWS: Final = (
    "SELECT seq, prev, hash, record FROM audit_log WHERE seq > $1 AND seq <= $2 "
    "ORDER BY seq LIMIT $3"
)
SELECT_AUDIT_RAW: Final = (
    "SELECT seq, prev, hash, record, at FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
)
# A time window's seq range, found through the time column's index. The column is only a
# guide: from record version 2 on it is under the hash, and every row in the range is judged
# on its hashed time; a row whose column was moved shows in ``relay audit verify``.
SELECT_AUDIT_WINDOW: Final = (
    "SELECT min(seq), max(seq) FROM audit_log WHERE ($1 = '' OR at >= $1) AND ($2 = '' OR at < $2)"
)
DELETE_AUDIT_UPTO: Final = "DELETE FROM audit_log WHERE seq <= $1"
INSERT_CHECKPOINT: Final = (
    "INSERT INTO audit_checkpoints (issuer, seq, head, at, token, received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, seq, head) DO NOTHING"
)
SELECT_CHECKPOINTS: Final = (
    "SELECT issuer, seq, head, at, token, received_at FROM audit_checkpoints "
    "WHERE issuer = $1 ORDER BY seq, at, head"
)
# The newest $2 of an issuer (by seq), oldest first.
SELECT_CHECKPOINTS_NEWEST: Final = (
    "SELECT issuer, seq, head, at, token, received_at FROM ("
    "SELECT issuer, seq, head, at, token, received_at FROM audit_checkpoints "
    "WHERE issuer = $1 ORDER BY seq DESC, at DESC, head DESC LIMIT $2"
    ") AS newest ORDER BY seq, at, head"
)
# What a new checkpoint at seq $2 is compared with: those at the same seq, at the nearest seq
# below and above, and at the highest seq (each a primary-key lookup, never a scan of all).
SELECT_CHECKPOINTS_NEAR: Final = """
    SELECT issuer, seq, head, at, token, received_at FROM audit_checkpoints
    WHERE issuer = $1 AND seq IN (
        $2,
        (SELECT max(seq) FROM audit_checkpoints WHERE issuer = $1 AND seq < $2),
        (SELECT min(seq) FROM audit_checkpoints WHERE issuer = $1 AND seq > $2),
        (SELECT max(seq) FROM audit_checkpoints WHERE issuer = $1)
    )
    ORDER BY seq, at, head
"""
# Retention: checkpoints signed before $1, except those at each issuer's highest seq (the
# newest stays, so a rollback below it still shows).
DELETE_CHECKPOINTS_BEFORE: Final = """
    DELETE FROM audit_checkpoints
    WHERE at < $1 AND seq < (
        SELECT max(newest.seq) FROM audit_checkpoints AS newest
        WHERE newest.issuer = audit_checkpoints.issuer
    )
"""

_RETENTION_FLOOR: Final = 365 * 86400.0  # seconds: CJIS AU-11 keeps audit records a year
_AUDIT_ROWS_PER_INSERT: Final = 100  # rows per INSERT statement (5 parameters each)
SELECT_AUDIT_RECORD: Final = "SELECT record FROM audit_log WHERE seq = $1"
_PAGE: Final = 1000  # rows read at a time by a window and by retention
_NO_END: Final = 2**62


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


class SqlAuditLog(SqlEngine):
    def audit_append(self, records: Sequence[audit.AuditRecord]) -> tuple[int, str]:
        """Chain ``records`` after the head in one transaction (inside :meth:`group`, a
        savepoint: it stands or falls with the caller's unit). The head row is locked first,
        so appends from several instances on one database queue up and extend one chain."""
        with self._transaction():
            seq, head = self._execute(SELECT_AUDIT_HEAD_FOR_UPDATE).rows[0]
            chained = audit.chain(int(seq), str(head), records)
            if not chained:
                return int(seq), str(head)
            for start in range(0, len(chained), _AUDIT_ROWS_PER_INSERT):
                part = chained[start : start + _AUDIT_ROWS_PER_INSERT]
                self._execute(
                    INSERT_AUDIT + audit_rows_values(len(part)),
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
            self._execute(UPDATE_AUDIT_HEAD, (last.seq, last.hash))
        return last.seq, last.hash

    def audit_head(self) -> tuple[int, str]:
        with self._transaction():
            seq, head, _, _ = self._execute(SELECT_AUDIT_HEAD).rows[0]
        return int(seq), str(head)

    def audit_anchor(self) -> tuple[int, str] | None:
        with self._transaction():
            _, _, seq, head = self._execute(SELECT_AUDIT_HEAD).rows[0]
        return (int(seq), str(head)) if int(seq) > 0 else None

    def audit_raw_rows(self, *, after_seq: int = 0, limit: int = 10_000) -> list[audit.RawRow]:
        with self._transaction():
            return self._raw_rows(after_seq, limit)

    def _raw_rows(self, after_seq: int, limit: int) -> list[audit.RawRow]:
        rows = self._execute(SELECT_AUDIT_RAW, (int(after_seq), int(limit))).rows
        return [audit.RawRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    def audit_rows(
        self,
        *,
        after_seq: int = 0,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[audit.ChainedRecord]:
        """Records in sequence order, ``since <= at < until`` by each record's hashed time;
        ``ValueError`` (field name only) for a stored record that no longer parses (``relay
        audit verify`` says which)."""
        bound = limit if limit is not None else _NO_END
        low, high = _at_text(since), _at_text(until)
        out: list[audit.ChainedRecord] = []
        with self._transaction():
            after, last = int(after_seq), _NO_END
            if low or high:
                first, last = self._execute(SELECT_AUDIT_WINDOW, (low, high)).rows[0]
                if first is None:
                    return []
                # widen by the neighbours whose hashed time is in the window (a row at the
                # edge whose column was moved out is still found)
                first, last = (
                    self._widen(int(first), -1, low, high),
                    self._widen(int(last), 1, low, high),
                )
                after = max(after, first - 1)
            while len(out) < bound:
                page = min(bound - len(out), _PAGE) if low or high else bound
                rows = self._execute(SELECT_AUDIT_ROWS, (after, last, page)).rows
                for r in rows:
                    record = audit.AuditRecord.from_json(json.loads(r[3]))
                    if (not low or record.at >= low) and (not high or record.at < high):
                        out.append(audit.ChainedRecord(int(r[0]), str(r[1]), str(r[2]), record))
                if len(rows) < page:
                    break
                after = int(rows[-1][0])
        return out

    def audit_prune(self, before: float, *, now: float) -> int:
        """Delete the records older than ``before`` by their *hashed* time (the chain's
        prefix up to the first one that is not, or that does not verify: see
        :func:`relay.core.audit.prunable`), keeping the last deleted record's ``(seq, hash)``
        as the anchor."""
        if before > now - _RETENTION_FLOOR:
            raise ValueError("audit retention must be at least 365 days")
        with self._transaction():
            self._execute(SELECT_AUDIT_HEAD_FOR_UPDATE)  # no append while the anchor moves
            _, _, anchor_seq, anchor_hash = self._execute(SELECT_AUDIT_HEAD).rows[0]
            anchor = (int(anchor_seq), str(anchor_hash)) if int(anchor_seq) > 0 else None
            end = audit.prunable(self._rows_from(int(anchor_seq)), anchor, _at_text(before))
            if end is None:
                return 0
            seq, head = end
            deleted = self._execute(DELETE_AUDIT_UPTO, (seq,)).rowcount
            self._execute(UPDATE_AUDIT_ANCHOR, (seq, head))
        return int(deleted)

    def _widen(self, seq: int, step: int, low: str, high: str) -> int:
        while True:
            rows = self._execute(SELECT_AUDIT_RECORD, (seq + step,)).rows
            if not rows:
                return seq
            at = audit.AuditRecord.from_json(json.loads(rows[0][0])).at
            if (low and at < low) or (high and at >= high):
                return seq
            seq += step

    def _rows_from(self, after_seq: int) -> Iterator[audit.RawRow]:
        """Raw rows after ``after_seq``, a page at a time (inside the caller's transaction)."""
        while True:
            page = self._raw_rows(after_seq, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after_seq = page[-1].seq

    def put_checkpoint(
        self, *, issuer: str, seq: int, head: str, at: str, token: str, received_at: str
    ) -> bool:
        with self._transaction():
            inserted = self._execute(
                INSERT_CHECKPOINT, (issuer, int(seq), head, at, token, received_at)
            ).rowcount
        return inserted == 1

    def checkpoints(self, issuer: str, *, newest: int | None = None) -> list[StoredCheckpoint]:
        with self._transaction():
            if newest is None:
                rows = self._execute(SELECT_CHECKPOINTS, (issuer,)).rows
            else:
                rows = self._execute(SELECT_CHECKPOINTS_NEWEST, (issuer, int(newest))).rows
        return _checkpoint_rows(rows)

    def checkpoints_near(self, issuer: str, seq: int) -> list[StoredCheckpoint]:
        with self._transaction():
            rows = self._execute(SELECT_CHECKPOINTS_NEAR, (issuer, int(seq))).rows
        return _checkpoint_rows(rows)

    def prune_checkpoints(self, before: float, *, now: float) -> int:
        """Delete the checkpoints signed before ``before``, except each issuer's newest."""
        if before > now - _RETENTION_FLOOR:
            raise ValueError("audit retention must be at least 365 days")
        with self._transaction():
            deleted = self._execute(DELETE_CHECKPOINTS_BEFORE, (_at_text(before),)).rowcount
        return int(deleted)
