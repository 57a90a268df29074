"""The refusals role over SQL: refused envelopes, ids and reason codes only; the last ones
one by one, and all of them as counts per peer, reason and window of time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

from relay.store.contract import RefusalRecord
from relay.store.contract_refusals import RefusalWindow
from relay.store.engine import SqlEngine

__all__ = ["SqlRefusals"]

INSERT_REFUSAL: Final = (
    "INSERT INTO refusals (at, peer, reason, http_status, issuer, envelope_id, digest) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
SELECT_REFUSALS: Final = (
    "SELECT at, peer, reason, http_status, issuer, envelope_id, digest FROM refusals ORDER BY id"
)
# The last $1, still in the order recorded.
SELECT_LAST_REFUSALS: Final = (
    "SELECT at, peer, reason, http_status, issuer, envelope_id, digest FROM ("
    "SELECT id, at, peer, reason, http_status, issuer, envelope_id, digest FROM refusals "
    "ORDER BY id DESC LIMIT $1) AS r ORDER BY id"
)

# Everything older than the ``$1``-th newest refusal (by id): none while fewer are kept.
PRUNE_REFUSALS: Final = (
    "DELETE FROM refusals WHERE id < (SELECT id FROM refusals ORDER BY id DESC LIMIT 1 OFFSET $1)"
)
DELETE_REFUSALS: Final = "DELETE FROM refusals"
UPSERT_WINDOW: Final = (
    "INSERT INTO refusal_windows (peer, reason, started_at, ended_at, count, closed) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (peer, reason, started_at) DO UPDATE SET "
    "ended_at = excluded.ended_at, count = excluded.count, closed = excluded.closed"
)
SELECT_WINDOWS: Final = (
    "SELECT peer, reason, started_at, ended_at, count, closed FROM refusal_windows "
    "ORDER BY started_at DESC, peer, reason LIMIT $1"
)
# Closed windows older than the ``$1``-th newest window.
PRUNE_WINDOWS: Final = (
    "DELETE FROM refusal_windows WHERE closed = 1 AND started_at < "
    "(SELECT started_at FROM refusal_windows ORDER BY started_at DESC LIMIT 1 OFFSET $1)"
)
WINDOWS_KEPT: Final = 10_000  # windows kept (a year of one-minute windows is ~525,000)


def _utc(at: dt.datetime) -> str:
    """Fixed-offset UTC text: it sorts in time order."""
    return at.astimezone(dt.UTC).isoformat()


class SqlRefusals(SqlEngine):
    def record_refusal(self, record: RefusalRecord) -> None:
        with self._transaction():
            self._execute(
                INSERT_REFUSAL,
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
                rows = self._execute(SELECT_REFUSALS).rows
            else:
                rows = self._execute(SELECT_LAST_REFUSALS, (int(limit),)).rows
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

    def record_refusals(
        self, records: Sequence[RefusalRecord], windows: Sequence[RefusalWindow], *, keep: int
    ) -> None:
        if keep < 0:
            raise ValueError("keep must not be negative")
        with self._transaction():
            for record in records[max(0, len(records) - keep) :] if keep else ():
                self._execute(
                    INSERT_REFUSAL,
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
            if keep == 0:
                self._execute(DELETE_REFUSALS)
            elif records:
                self._execute(PRUNE_REFUSALS, (keep - 1,))
            for w in windows:
                self._execute(
                    UPSERT_WINDOW,
                    (
                        w.peer,
                        str(w.reason),
                        _utc(w.started),
                        _utc(w.ended),
                        int(w.count),
                        1 if w.closed else 0,
                    ),
                )
            if any(w.closed for w in windows):
                self._execute(PRUNE_WINDOWS, (WINDOWS_KEPT - 1,))

    def refusal_windows(self, *, limit: int) -> list[RefusalWindow]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        with self._transaction():
            rows = self._execute(SELECT_WINDOWS, (int(limit),)).rows
        return [
            RefusalWindow(
                peer=r[0],
                reason=r[1],
                started=dt.datetime.fromisoformat(r[2]),
                ended=dt.datetime.fromisoformat(r[3]),
                count=int(r[4]),
                closed=bool(r[5]),
            )
            for r in rows
        ]
