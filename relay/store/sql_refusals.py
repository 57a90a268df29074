"""The refusals role over SQL: refused envelopes, ids and reason codes only."""

from __future__ import annotations

import datetime as dt
from typing import Final

from relay.store.contract import RefusalRecord
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
