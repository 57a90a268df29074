"""The receipts role of the store contract (:mod:`relay.store.contract`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["OwedReceipt", "ReceiptRow", "Receipts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OwedReceipt:
    """A signed receipt this relay owes ``peer`` (the relay that sent the envelope)."""

    id: str
    peer: str
    token: str
    created_at: float = 0.0
    attempts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptRow:
    """A receipt received about one of this agency's envelopes: ids and codes only."""

    envelope_id: str
    reporter: str
    status: str
    reason: str | None
    at: str
    id: str = ""


class Receipts(Protocol):
    """Receipts owed to senders, and receipts kept about this agency's own envelopes."""

    def queue_receipts(self, receipts: Sequence[OwedReceipt], *, now: float) -> None:
        """Owed from now (one per id: a second queueing of the same receipt is nothing)."""

    def claim_receipts(self, *, now: float, lease: float, limit: int) -> list[OwedReceipt]:
        """Due receipts, leased for ``lease`` seconds (oldest first)."""

    def settle_receipts(self, *, done: Sequence[str], retry: Sequence[tuple[str, float]]) -> None:
        """``done`` ids are forgotten; ``retry`` (id, time) wait until then."""

    def next_receipt_due(self) -> float | None: ...

    def record_receipt(self, row: ReceiptRow, *, received_at: str) -> bool:
        """Kept (True), or kept already (False)."""

    def message_receipts(self, envelope_id: str) -> list[ReceiptRow]:
        """Receipts about a post and its edits, oldest first."""

    def message_shared(self, envelope_id: str) -> list[tuple[str, str, str, str | None]]:
        """(partner, envelope id, outbox state, reason) for a post and its edits."""

    def sent_to(self, partner: str, envelope_id: str) -> bool:
        """Was ``envelope_id`` queued for ``partner``?"""

    def sender_of(self, issuer: str, envelope_id: str) -> str | None:
        """The relay that sent this relay ``envelope_id``."""
