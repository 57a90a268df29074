"""The :class:`~relay.store.contract.Receipts` and :class:`~relay.store.contract.Reviews`
roles, awaitable (see :mod:`relay.store.aio`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from relay.store.aio_pool import Facade
from relay.store.contract import OwedReceipt, ReceiptRow, Receipts, ReviewRow, Reviews

__all__ = ["AsyncReceipts", "AsyncReviews"]


class AsyncReceipts(Facade):
    """The :class:`~relay.store.contract.Receipts` role, awaitable."""

    def __init__(
        self, receipts: Receipts, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._receipts = receipts

    async def queue_receipts(self, receipts: Sequence[OwedReceipt], *, now: float) -> None:
        return await self.run(self._receipts.queue_receipts, receipts, now=now)

    async def claim_receipts(self, *, now: float, lease: float, limit: int) -> list[OwedReceipt]:
        return await self.run(self._receipts.claim_receipts, now=now, lease=lease, limit=limit)

    async def settle_receipts(
        self, *, done: Sequence[str], retry: Sequence[tuple[str, float]]
    ) -> None:
        return await self.run(self._receipts.settle_receipts, done=done, retry=retry)

    async def next_receipt_due(self) -> float | None:
        return await self.run(self._receipts.next_receipt_due)

    async def record_receipt(self, row: ReceiptRow, *, received_at: str) -> bool:
        return await self.run(self._receipts.record_receipt, row, received_at=received_at)

    async def message_receipts(self, envelope_id: str) -> list[ReceiptRow]:
        return await self.run(self._receipts.message_receipts, envelope_id)

    async def message_shared(self, envelope_id: str) -> list[tuple[str, str, str, str | None]]:
        return await self.run(self._receipts.message_shared, envelope_id)

    async def sent_to(self, partner: str, envelope_id: str) -> bool:
        return await self.run(self._receipts.sent_to, partner, envelope_id)

    async def sender_of(self, issuer: str, envelope_id: str) -> str | None:
        return await self.run(self._receipts.sender_of, issuer, envelope_id)


class AsyncReviews(Facade):
    """The :class:`~relay.store.contract.Reviews` role, awaitable."""

    def __init__(
        self, reviews: Reviews, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._reviews = reviews

    async def open_review(self, row: ReviewRow) -> bool:
        return await self.run(self._reviews.open_review, row)

    async def review(self, review_id: str) -> ReviewRow | None:
        return await self.run(self._reviews.review, review_id)

    async def reviews_to_post(self, *, limit: int) -> list[ReviewRow]:
        return await self.run(self._reviews.reviews_to_post, limit=limit)

    async def review_posted(self, review_id: str, *, channel: str, ts: str) -> None:
        return await self.run(self._reviews.review_posted, review_id, channel=channel, ts=ts)

    async def decide_review(
        self, review_id: str, *, outcome: str, by: str, reason: str, mode: str, at: float
    ) -> bool:
        return await self.run(
            self._reviews.decide_review,
            review_id,
            outcome=outcome,
            by=by,
            reason=reason,
            mode=mode,
            at=at,
        )

    async def update_review(self, review_id: str, *, digest: str, partners: str) -> bool:
        return await self.run(
            self._reviews.update_review, review_id, digest=digest, partners=partners
        )

    async def close_review(self, review_id: str, *, outcome: str, at: float) -> bool:
        return await self.run(self._reviews.close_review, review_id, outcome=outcome, at=at)

    async def cards_to_refresh(self, *, limit: int) -> list[ReviewRow]:
        return await self.run(self._reviews.cards_to_refresh, limit=limit)

    async def card_refreshed(self, review_id: str, *, state: str) -> None:
        return await self.run(self._reviews.card_refreshed, review_id, state=state)

    async def expire_reviews(self, *, now: float, limit: int) -> list[ReviewRow]:
        return await self.run(self._reviews.expire_reviews, now=now, limit=limit)

    async def review_stats(self) -> tuple[int, float | None]:
        return await self.run(self._reviews.review_stats)

    async def record_release(self, envelope_id: str, partner: str, mode: str) -> None:
        return await self.run(self._reviews.record_release, envelope_id, partner, mode)

    async def released_mode(self, envelope_id: str, partner: str) -> str | None:
        return await self.run(self._reviews.released_mode, envelope_id, partner)
