"""The receipts role over SQL: receipts owed to the relays that sent us envelopes (queued,
leased, sent and deleted), receipts received about our own envelopes (ids and codes), and
what the author's view of a message is built from (to whom it went, and what came back)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from relay.store.contract_receipts import OwedReceipt, ReceiptRow
from relay.store.engine import SqlEngine

__all__ = ["SqlReceipts"]

QUEUE_RECEIPT: Final = (
    "INSERT INTO receipts_out (id, peer, token, created_at, next_at) VALUES ($1, $2, $3, $4, $4) "
    "ON CONFLICT (id) DO NOTHING"
)
# Leased by moving next_at on: another instance skips them until the lease runs out.
CLAIM_RECEIPTS: Final = """
    UPDATE receipts_out SET next_at = CAST($1 AS DOUBLE PRECISION) + $2, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM receipts_out WHERE next_at <= $1
        ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
    RETURNING id, peer, token, created_at, attempts
"""
DELETE_OWED: Final = "DELETE FROM receipts_out WHERE id = $1"
RETRY_OWED: Final = "UPDATE receipts_out SET next_at = $2 WHERE id = $1"
NEXT_OWED: Final = "SELECT min(next_at) FROM receipts_out"
INSERT_RECEIPT: Final = (
    "INSERT INTO receipts (id, envelope_id, reporter, status, reason, at, received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING"
)
# A message's receipts: its post's and its edits' (``<post id>.e<ts>``).
SELECT_RECEIPTS: Final = (
    "SELECT envelope_id, reporter, status, reason, at FROM receipts "
    "WHERE envelope_id = $1 OR (envelope_id >= $2 AND envelope_id < $3) ORDER BY at, id"
)
SELECT_SHARED: Final = (
    "SELECT partner, envelope_id, state, reason FROM outbox "
    "WHERE envelope_id = $1 OR (envelope_id >= $2 AND envelope_id < $3) ORDER BY seq"
)
SELECT_SENT: Final = "SELECT 1 FROM outbox WHERE partner = $1 AND envelope_id = $2"
SELECT_SENDER: Final = "SELECT sender FROM received WHERE issuer = $1 AND envelope_id = $2"


def _family(envelope_id: str) -> tuple[str, str, str]:
    """A post's envelope id, and the range its edits' ids (``<id>.e<ts>``) fall in: a range
    both engines answer from the index (a LIKE pattern they may not)."""
    return envelope_id, f"{envelope_id}.e", f"{envelope_id}.f"


class SqlReceipts(SqlEngine):
    def queue_receipts(self, receipts: Sequence[OwedReceipt], *, now: float) -> None:
        with self._transaction():
            for r in receipts:
                self._execute(QUEUE_RECEIPT, (r.id, r.peer, r.token, now))

    def claim_receipts(self, *, now: float, lease: float, limit: int) -> list[OwedReceipt]:
        with self._transaction():
            rows = self._execute(CLAIM_RECEIPTS, (now, lease, int(limit))).rows
        return sorted(
            (
                OwedReceipt(id=r[0], peer=r[1], token=r[2], created_at=r[3], attempts=r[4])
                for r in rows
            ),
            key=lambda r: r.created_at,
        )

    def settle_receipts(self, *, done: Sequence[str], retry: Sequence[tuple[str, float]]) -> None:
        """``done``: sent (or given up): deleted. ``retry``: (id, when) to try again."""
        with self._transaction():
            for rid in done:
                self._execute(DELETE_OWED, (rid,))
            for rid, at in retry:
                self._execute(RETRY_OWED, (rid, at))

    def next_receipt_due(self) -> float | None:
        with self._transaction():
            rows = self._execute(NEXT_OWED).rows
        return rows[0][0] if rows and rows[0][0] is not None else None

    def record_receipt(self, row: ReceiptRow, *, received_at: str) -> bool:
        """Keep a receipt about one of our envelopes; False if it was already kept."""
        with self._transaction():
            count = self._execute(
                INSERT_RECEIPT,
                (
                    row.id,
                    row.envelope_id,
                    row.reporter,
                    row.status,
                    row.reason,
                    row.at,
                    received_at,
                ),
            ).rowcount
        return count > 0

    def message_receipts(self, envelope_id: str) -> list[ReceiptRow]:
        """The receipts kept about a post and its edits, oldest first."""
        with self._transaction():
            rows = self._execute(SELECT_RECEIPTS, _family(envelope_id)).rows
        return [
            ReceiptRow(envelope_id=r[0], reporter=r[1], status=r[2], reason=r[3], at=r[4])
            for r in rows
        ]

    def message_shared(self, envelope_id: str) -> list[tuple[str, str, str, str | None]]:
        """(partner, envelope id, outbox state, reason) of a post and its edits, in order."""
        with self._transaction():
            rows = self._execute(SELECT_SHARED, _family(envelope_id)).rows
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def sent_to(self, partner: str, envelope_id: str) -> bool:
        """Was ``envelope_id`` queued for ``partner`` (in any state)?"""
        with self._transaction():
            return bool(self._execute(SELECT_SENT, (partner, envelope_id)).rows)

    def sender_of(self, issuer: str, envelope_id: str) -> str | None:
        """The relay that sent us ``envelope_id`` (where its receipts go)."""
        with self._transaction():
            rows = self._execute(SELECT_SENDER, (issuer, envelope_id)).rows
        return str(rows[0][0]) if rows else None
