"""Receipts: what a partner did with each envelope, told back hop by hop to its origin.

A receiving relay owes the relay that sent it an envelope one signed receipt for what it did
(posted, withheld, refused by its policy, retracted, relayed, or failed after retries):
:meth:`ReceiptDesk.owe` signs it and the inbound queue stores it in the transaction that
settles the envelope. :meth:`ReceiptDesk.run` sends what is owed (``POST /v1/receipts``,
batched per peer, retried with backoff, each receipt deleted once the peer answered it).

A relay given receipts (:meth:`ReceiptDesk.take`) verifies each against its pinned keys. One
about its own envelope is kept (deduplicated by reporter, envelope and status) with a ledger
record, and the author's view is brought up to date (the ``seen`` port); one about an
envelope it passed on for another agency goes back to the relay it came from, unchanged
(still signed by the reporter, whose key the origin pins). Ids and codes only, never text.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Protocol

import structlog

from relay.core.backoff import Backoff
from relay.core.defaults import RECEIPT_BATCH
from relay.core.keys import Keyring
from relay.core.reasons import Reason
from relay.core.receipt import (
    Receipt,
    ReceiptStatus,
    receipt_id,
    sign_receipt,
    verify_receipt,
)
from relay.errors import DeliveryError, ReceiptError
from relay.federation.server import Accepted
from relay.flow.queues import Outcome
from relay.flow.records import Recorder
from relay.flow.wire import Signer
from relay.store.aio import AsyncStore
from relay.store.contract import ClaimedInbound, OwedReceipt, ReceiptRow

__all__ = ["MAX_RECEIPTS", "ReceiptDesk", "ReceiptSender"]

log = structlog.get_logger("relay.flow")

MAX_RECEIPTS: Final = RECEIPT_BATCH  # receipts in one POST /v1/receipts
_LEASE: Final = 30.0  # seconds a claimed batch is this instance's
_MAX_AGE: Final = 7 * 86400.0  # a receipt still owed after a week is given up (counted)

Seen = Callable[[Receipt], Awaitable[None]]  # a receipt about our own envelope, kept


class ReceiptSender(Protocol):
    """One attempt: each receipt's answer (None: taken; else the peer's reason code).
    Raises ``DeliveryError`` when the request as a whole failed."""

    async def send_receipts(self, peer: str, tokens: Sequence[str]) -> list[str | None]: ...


class ReceiptDesk:
    def __init__(
        self,
        *,
        agency: str,
        signer: Signer,
        keyring: Keyring,
        store: AsyncStore,
        recorder: Recorder,
        clock: Callable[[], dt.datetime],
        sender: ReceiptSender | None = None,
        seen: Seen | None = None,
        backoff: Backoff | None = None,
        poll: float = 1.0,
    ) -> None:
        self.agency = agency
        self.signer = signer
        self.keyring = keyring
        self.aio = store
        self.store = store.store  # blocking: only inside a durable write
        self.recorder = recorder
        self.clock = clock
        self.sender = sender
        self.seen = seen
        self.backoff = backoff or Backoff(base=1.0, cap=300.0)
        self.poll = poll
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()

    # -- the receiving side: what is owed ------------------------------------------------
    def owe(self, item: ClaimedInbound, outcome: Outcome) -> OwedReceipt | None:
        """The signed receipt for ``outcome`` of ``item``, owed to the relay that sent it
        (None: nothing is owed, e.g. our own envelope come back)."""
        if item.sender == self.agency:
            return None
        signed = self._sign(item.issuer, item.envelope_id, *outcome)
        if signed is None:
            return None
        self._wake.set()
        return OwedReceipt(id=signed[0], peer=item.sender, token=signed[1])

    def accepted(self, accepted: Accepted) -> str | None:
        """The ``accepted`` receipt answered with an envelope just stored (or a retry's)."""
        if not accepted.issuer or accepted.issuer == self.agency:
            return None
        signed = self._sign(accepted.issuer, accepted.envelope_id, ReceiptStatus.ACCEPTED, None)
        return signed[1] if signed else None

    def _sign(
        self, origin: str, envelope_id: str, status: str, reason: str | None
    ) -> tuple[str, str] | None:
        """(receipt id, token), or None for ids a receipt cannot name (counted)."""
        try:
            token = sign_receipt(
                self.signer.key,
                self.signer.kid,
                reporter=self.agency,
                origin=origin,
                envelope_id=envelope_id,
                status=ReceiptStatus(status),
                reason=reason,
                at=self.clock(),
            )
        except ValueError:
            self.recorder.problem("receipts", envelope_id, "receipt_invalid")
            return None
        return receipt_id(self.agency, origin, envelope_id, status), token

    def wake(self) -> None:
        self._wake.set()

    # -- the receiving side: sending what is owed ----------------------------------------
    async def run(self) -> None:
        """Send owed receipts until cancelled."""
        while True:
            self._wake.clear()
            try:
                sent = await self.send_due()
            except Exception as exc:  # noqa: BLE001 - the store away: try again later
                self.recorder.problem("receipts", "send", type(exc).__name__)
                sent = 0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()

    async def send_due(self) -> int:
        """Send one batch of due receipts per peer; how many were claimed."""
        if self.sender is None:
            return 0
        now = self.clock().timestamp()
        owed = await self.aio.claim_receipts(now=now, lease=_LEASE, limit=MAX_RECEIPTS * 4)
        by_peer: dict[str, list[OwedReceipt]] = defaultdict(list)
        for r in owed:
            by_peer[r.peer].append(r)
        done: list[str] = []
        retry: list[tuple[str, float]] = []
        for peer, receipts in by_peer.items():
            for start in range(0, len(receipts), MAX_RECEIPTS):
                batch = receipts[start : start + MAX_RECEIPTS]
                await self._send(peer, batch, now, done, retry)
        if done or retry:
            await self.aio.settle_receipts(done=done, retry=retry)
        return len(owed)

    async def _send(
        self,
        peer: str,
        batch: list[OwedReceipt],
        now: float,
        done: list[str],
        retry: list[tuple[str, float]],
    ) -> None:
        assert self.sender is not None  # noqa: S101 - checked by the caller
        metrics = self.recorder.metrics
        try:
            answers = await self.sender.send_receipts(peer, [r.token for r in batch])
        except DeliveryError as exc:
            for r in batch:
                if not exc.retryable or now - r.created_at > _MAX_AGE:
                    done.append(r.id)
                    metrics.receipt("sent", peer, exc.code)
                else:
                    wait = exc.retry_after
                    if wait is None:
                        wait = self.backoff.delay(r.attempts, random.random)
                    retry.append((r.id, now + wait))
            return
        for r, answer in zip(batch, answers, strict=True):
            done.append(r.id)  # answered: taken, or refused for good (counted)
            metrics.receipt("sent", peer, answer or "ok")

    # -- the sending side: receipts given to us ------------------------------------------
    async def take(self, peer: str, tokens: Sequence[object]) -> list[dict[str, str]]:
        """``POST /v1/receipts`` from ``peer``: each receipt's answer, in order."""
        now = self.clock()
        answers: list[dict[str, str]] = []
        kept: list[Receipt] = []
        for token in tokens:
            try:
                receipt = verify_receipt(token, self.keyring, now)
            except ReceiptError as exc:
                self.recorder.metrics.receipt("received", peer, exc.code)
                answers.append({"error": exc.code})
                continue
            assert isinstance(token, str)  # noqa: S101 - verified
            answer = await self._one(peer, receipt, token, now)
            self.recorder.metrics.receipt("received", peer, answer.get("error", "ok"))
            if answer.get("status") == "stored":
                kept.append(receipt)
            answers.append(answer)
        if kept and self.seen is not None:
            self.later(self._tell(kept))
        return answers

    async def _one(
        self, peer: str, receipt: Receipt, token: str, now: dt.datetime
    ) -> dict[str, str]:
        record = self.recorder.entry(
            "receipt",
            source=receipt.reporter,
            destination=self.agency,
            actor_agency=receipt.origin,
            envelope_id=receipt.envelope_id,
            digest=hashlib.sha256(token.encode()).hexdigest(),
            kid=receipt.kid,
            rules=(receipt.reason,) if receipt.reason else (),
            outcome=receipt.status.value,
        )
        store = self.store
        if receipt.origin == self.agency:
            row = ReceiptRow(
                id=receipt.id,
                envelope_id=receipt.envelope_id,
                reporter=receipt.reporter,
                status=receipt.status.value,
                reason=receipt.reason,
                at=receipt.at,
            )

            def keep() -> bool:
                new = store.record_receipt(row, received_at=now.isoformat())
                if new:
                    self.recorder.append(record)
                return new

            new = await self.aio.durable(keep)
            return {"status": "stored" if new else "duplicate"}
        back = await self.aio.sender_of(receipt.origin, receipt.envelope_id)
        if back is None or back == peer:
            return {"error": Reason.PARTNER_UNKNOWN}
        owed = OwedReceipt(id=receipt.id, peer=back, token=token)
        at = now.timestamp()

        def forward() -> None:
            store.queue_receipts([owed], now=at)
            self.recorder.append(record)

        await self.aio.durable(forward)
        self._wake.set()
        return {"status": "forwarded"}

    def later(self, work: Awaitable[None]) -> None:
        """Run ``work`` (the author's view) without holding up the caller; awaited by
        :meth:`settle`."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, kept: list[Receipt]) -> None:
        assert self.seen is not None  # noqa: S101
        for receipt in kept:
            try:
                await self.seen(receipt)
            except Exception as exc:  # noqa: BLE001 - the author's view is best effort
                self.recorder.problem("receipts", receipt.envelope_id, type(exc).__name__)

    async def close(self) -> None:
        """Stop what is under way for the author's views (a stop, a kill)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def settle(self) -> None:
        """Until the author's views started so far are brought up to date (tests, stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
