"""The outbox role over SQL: signed envelopes per partner, leased for delivery, settled with
the attempt's outcome.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from relay.store.contract import Attempt, ClaimedEnvelope, OutboxItem
from relay.store.engine import SqlEngine
from relay.store.sql_blobs import name_rows
from relay.store.sql_inbox import FINISH_EVENT

__all__ = ["SqlOutbox", "enqueue_rows", "settle_params"]

# Durable delivery (migration 4; the inbound queue and the inbox leases work alike):
# Times in these tables are POSIX seconds (DOUBLE PRECISION): leases and backoff compare them.
# A lease's end is computed in SQL from a cast: psycopg sends a small Python int as smallint,
# and 30000 + 5000 would overflow it.
# States: 'pending' (due at next_at; leased while lease_until is in the future), 'done', 'dead'.
# A row is claimed only when no earlier pending row of the same order key exists, so an edit
# never overtakes its post and a reply never overtakes its thread's first message.
ENQUEUE: Final = (
    "INSERT INTO outbox (partner, envelope_id, order_key, body, blobs, created_at, next_at, "
    "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) "
    "ON CONFLICT (partner, envelope_id) DO NOTHING"
)
CLAIM_OUTBOX: Final = """
    UPDATE outbox SET lease_owner = $2, lease_until = CAST($3 AS DOUBLE PRECISION) + $4,
        attempts = attempts + 1
    WHERE seq IN (
        SELECT o.seq FROM outbox o
        WHERE o.partner = $1 AND o.state = 'pending' AND o.next_at <= $3
          AND (o.lease_until IS NULL OR o.lease_until <= $3)
          AND NOT EXISTS (
              SELECT 1 FROM outbox p
              WHERE p.partner = o.partner AND p.order_key = o.order_key
                AND p.state = 'pending' AND p.seq < o.seq)
        ORDER BY o.seq LIMIT $5 FOR UPDATE SKIP LOCKED)
    RETURNING seq, partner, envelope_id, body, blobs, created_at, expires_at, attempts
"""
SETTLE_OUTBOX: Final = (
    "UPDATE outbox SET state = $3, next_at = $4, reason = $5, finished_at = $6, "
    "lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND lease_owner = $2"
)
# Due: the earliest time a claim can return something. Only the first pending row of each order
# key counts: a row queued behind one that waits for its retry or lease is not due (a loop that
# sleeps until a time already past would spin); it follows once that row settles.
NEXT_DUE_OUTBOX: Final = """
    SELECT min(CASE WHEN o.lease_until IS NOT NULL AND o.lease_until > o.next_at
                    THEN o.lease_until ELSE o.next_at END)
    FROM outbox o
    WHERE o.partner = $1 AND o.state = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM outbox p
          WHERE p.partner = o.partner AND p.order_key = o.order_key
            AND p.state = 'pending' AND p.seq < o.seq)
"""


def settle_params(seq: int, owner: str, attempt: Attempt, now: float) -> tuple[object, ...]:
    finished = None if attempt.state == "pending" else now
    return (seq, owner, attempt.state, attempt.next_at, attempt.reason, finished)


def enqueue_rows(engine: SqlEngine, items: Sequence[OutboxItem], now: float) -> int:
    added = 0
    for item in items:
        added += engine._execute(
            ENQUEUE,
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
        if item.blobs:  # kept while this row may still be sent
            name_rows(
                engine,
                queue="outbox",
                party=item.partner,
                envelope_id=item.envelope_id,
                sha256s=[sha for sha, _ in item.blobs],
                at=now,
            )
    return added


class SqlOutbox(SqlEngine):
    def enqueue(
        self, items: Sequence[OutboxItem], *, now: float, finish_event: str | None = None
    ) -> int:
        """Queue envelopes (one per partner and id; a second copy is ignored) and, in the same
        transaction, mark the Slack event they came from processed. Returns rows added."""
        with self._transaction():
            added = enqueue_rows(self, items, now)
            if finish_event is not None:
                self._execute(FINISH_EVENT, (finish_event,))
        return added

    def claim_outbox(
        self, partner: str, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedEnvelope]:
        with self._transaction():
            rows = self._execute(CLAIM_OUTBOX, (partner, owner, now, lease, limit)).rows
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
                self._execute(SETTLE_OUTBOX, settle_params(seq, owner, attempt, now))

    def next_outbox_due(self, partner: str) -> float | None:
        with self._transaction():
            value = self._execute(NEXT_DUE_OUTBOX, (partner,)).rows[0][0]
        return None if value is None else float(value)
