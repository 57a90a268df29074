"""The inbound queue role over SQL: verified envelopes stored with their dedupe row, then
leased to be judged, posted and passed on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

from relay.store.contract import Attempt, ClaimedInbound, OutboxItem, ReceiveOutcome
from relay.store.engine import SqlEngine
from relay.store.sql_outbox import enqueue_rows, settle_params

__all__ = ["SqlInboundQueue"]

# Times, states, leases and order keys as in :mod:`relay.store.sql_outbox` (migration 4).
INSERT_RECEIVED: Final = (
    "INSERT INTO received (issuer, envelope_id, digest, sender, received_at, body) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, envelope_id) DO NOTHING"
)
SELECT_RECEIVED: Final = (
    "SELECT digest, sender FROM received WHERE issuer = $1 AND envelope_id = $2"
)
INSERT_INBOUND: Final = (
    "INSERT INTO inbound (issuer, envelope_id, sender, order_key, created_at, next_at, "
    "expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (issuer, envelope_id) DO NOTHING"
)
CLAIM_INBOUND: Final = """
    UPDATE inbound SET lease_owner = $1, lease_until = CAST($2 AS DOUBLE PRECISION) + $3,
        attempts = attempts + 1
    WHERE seq IN (
        SELECT i.seq FROM inbound i
        WHERE i.state = 'pending' AND i.next_at <= $2
          AND (i.lease_until IS NULL OR i.lease_until <= $2)
          AND NOT EXISTS (
              SELECT 1 FROM inbound p
              WHERE p.order_key = i.order_key AND p.state = 'pending' AND p.seq < i.seq)
        ORDER BY i.seq LIMIT $4 FOR UPDATE SKIP LOCKED)
    RETURNING seq, issuer, envelope_id, sender, created_at, expires_at, attempts
"""
SELECT_RECEIVED_BODY: Final = "SELECT body FROM received WHERE issuer = $1 AND envelope_id = $2"
SETTLE_INBOUND: Final = (
    "UPDATE inbound SET state = $3, next_at = $4, reason = $5, finished_at = $6, "
    "lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND lease_owner = $2"
)
NEXT_DUE_INBOUND: Final = """
    SELECT min(CASE WHEN i.lease_until IS NOT NULL AND i.lease_until > i.next_at
                    THEN i.lease_until ELSE i.next_at END)
    FROM inbound i
    WHERE i.state = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM inbound p
          WHERE p.order_key = i.order_key AND p.state = 'pending' AND p.seq < i.seq)
"""


class SqlInboundQueue(SqlEngine):
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
                INSERT_RECEIVED,
                (issuer, envelope_id, digest, sender, at.isoformat(), body),
            ).rowcount
            if inserted == 1:
                self._execute(
                    INSERT_INBOUND,
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
                SELECT_RECEIVED, (issuer, envelope_id)
            ).rows[0]
        if stored_digest == digest:
            return ReceiveOutcome.DUPLICATE
        if stored_sender != sender:
            return ReceiveOutcome.OTHER_PATH
        return ReceiveOutcome.CONFLICT

    def claim_inbound(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedInbound]:
        out: list[ClaimedInbound] = []
        with self._transaction():
            rows = self._execute(CLAIM_INBOUND, (owner, now, lease, limit)).rows
            for r in sorted(rows):
                body = self._execute(SELECT_RECEIVED_BODY, (r[1], r[2])).rows[0][0]
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
            enqueue_rows(self, forwards, now)
            self._execute(SETTLE_INBOUND, settle_params(seq, owner, Attempt(state="done"), now))

    def settle_inbound(self, seq: int, attempt: Attempt, *, owner: str, now: float) -> None:
        with self._transaction():
            self._execute(SETTLE_INBOUND, settle_params(seq, owner, attempt, now))

    def next_inbound_due(self) -> float | None:
        with self._transaction():
            value = self._execute(NEXT_DUE_INBOUND).rows[0][0]
        return None if value is None else float(value)
