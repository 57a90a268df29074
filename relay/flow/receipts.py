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
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

import structlog

from relay.core.backoff import Backoff
from relay.core.defaults import RECEIPT_BATCH
from relay.core.ids import issuer_of
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

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord

__all__ = ["MAX_RECEIPTS", "ReceiptDesk", "ReceiptSender"]

log = structlog.get_logger("relay.flow")

MAX_RECEIPTS: Final = RECEIPT_BATCH  # receipts in one POST /v1/receipts
_LEASE: Final = 30.0  # seconds a claimed batch is this instance's
# A receipt refused for now (a clock ahead, the partner's ledger away) is tried again.
_RETRY_CODES: Final = frozenset({"not_yet_valid", "unavailable", "internal"})
MAX_VIEWS: Final = 256  # authors' views being brought up to date at once, at most
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
        self._sending = asyncio.Lock()  # one batch of sends at a time (the loop, a drain)
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
            if reason is not None:  # a code a receipt cannot carry: the outcome goes alone
                return self._sign(origin, envelope_id, status, None)
            self.recorder.problem("receipts", envelope_id, "receipt_invalid")
            return None
        return receipt_id(self.agency, origin, envelope_id, status), token

    async def passed_on_failed(self, envelope_id: str, reason: str) -> None:
        """This relay gave up passing another agency's envelope on (a partner refused it,
        e.g. ``key_not_pinned``, or it aged out): a ``failed`` receipt goes back toward the
        origin, so its author is told."""
        origin = issuer_of(envelope_id)
        back = await self.aio.sender_of(origin, envelope_id)
        signed = self._sign(origin, envelope_id, ReceiptStatus.FAILED, reason) if back else None
        if back is None or signed is None:
            return
        owed = OwedReceipt(id=signed[0], peer=back, token=signed[1])
        at, store = self.clock().timestamp(), self.store
        await self.aio.durable(lambda: store.queue_receipts([owed], now=at))
        self._wake.set()

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
        async with self._sending:
            return await self._send_due()

    async def quiet(self) -> bool:
        """Nothing owed, nothing being sent, no author's view being brought up to date."""
        if self._sending.locked() or self._tasks:
            return False
        return await self.aio.next_receipt_due() is None

    async def _send_due(self) -> int:
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
            metrics.receipt("sent", peer, answer or "ok")
            if answer in _RETRY_CODES and now - r.created_at <= _MAX_AGE:
                retry.append((r.id, now + self.backoff.delay(r.attempts, random.random)))
            else:
                done.append(r.id)  # answered: taken, or refused for good (counted)

    # -- the sending side: receipts given to us ------------------------------------------
    async def take(self, peer: str, tokens: Sequence[object]) -> list[dict[str, str]]:
        """``POST /v1/receipts`` from ``peer`` (or the receipts answered with envelopes it
        took): each receipt's answer, in order. Verified one by one, kept in one write.

        Only a receipt about an envelope this relay sent ``peer`` counts (``partner_unknown``
        otherwise): a partner cannot speak for envelopes it never had, nor mark messages of
        this workspace that never left it. Each is kept (or passed back) once."""
        now = self.clock()
        answers: list[dict[str, str]] = [{} for _ in tokens]
        verified: list[tuple[int, Receipt, str]] = []
        for i, token in enumerate(tokens):
            try:
                receipt = verify_receipt(token, self.keyring, now)
            except ReceiptError as exc:
                answers[i] = {"error": exc.code}
                continue
            assert isinstance(token, str)  # noqa: S101 - verified
            verified.append((i, receipt, token))
        store, agency = self.store, self.agency

        def look() -> list[tuple[bool, str | None]]:
            """Per receipt: did we send ``peer`` its envelope? Where does it go back to?"""
            out = []
            for _, r, _ in verified:
                sent = store.sent_to(peer, r.envelope_id)
                back = None if r.origin == agency else store.sender_of(r.origin, r.envelope_id)
                out.append((sent, back))
            return out

        mine: list[tuple[int, Receipt, str]] = []
        onward: list[tuple[int, Receipt, str, str]] = []
        for (i, receipt, token), (sent, back) in zip(
            verified, await self.aio.run(look) if verified else [], strict=True
        ):
            if not sent:
                answers[i] = {"error": Reason.PARTNER_UNKNOWN}
            elif receipt.origin == self.agency:
                mine.append((i, receipt, token))
            elif back is not None and back != peer:
                onward.append((i, receipt, token, back))
            else:
                answers[i] = {"error": Reason.PARTNER_UNKNOWN}
        if mine or onward:
            await self._keep(mine, onward, now, answers)
        for answer in answers:
            self.recorder.metrics.receipt("received", peer, answer.get("error", "ok"))
        kept = [  # an "accepted" changes no author's view: only what a partner did does
            r
            for i, r, _ in mine
            if answers[i].get("status") == "stored" and r.status is not ReceiptStatus.ACCEPTED
        ]
        if kept and self.seen is not None:
            self.later(self._tell(kept))
        if onward:
            self._wake.set()
        return answers

    async def _keep(
        self,
        mine: list[tuple[int, Receipt, str]],
        onward: list[tuple[int, Receipt, str, str]],
        now: dt.datetime,
        answers: list[dict[str, str]],
    ) -> None:
        """One durable write: our own receipts kept and the others owed back, each once
        (a receipt passed back is kept as a mark too: a replay is not passed back again),
        each with its ledger record."""
        store, at = self.store, now.timestamp()
        records = {i: self._record(r, token) for i, r, token in mine}
        records |= {i: self._record(r, token) for i, r, token, _ in onward}

        def write() -> list[tuple[int, dict[str, str]]]:
            out = []
            for i, r, token, back in [(*m, None) for m in mine] + onward:
                row = ReceiptRow(
                    id=r.id,
                    envelope_id=r.envelope_id,
                    reporter=r.reporter,
                    status=r.status.value,
                    reason=r.reason,
                    at=r.at,
                )
                if not store.record_receipt(row, received_at=now.isoformat()):
                    out.append((i, {"status": "duplicate"}))
                    continue
                self.recorder.append(records[i])
                if back is None:
                    out.append((i, {"status": "stored"}))
                else:
                    store.queue_receipts([OwedReceipt(id=r.id, peer=back, token=token)], now=at)
                    out.append((i, {"status": "forwarded"}))
            return out

        for i, answer in await self.aio.durable(write):
            answers[i] = answer

    def _record(self, receipt: Receipt, token: str) -> list[AuditRecord]:
        return self.recorder.entry(
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

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (the author's view) without holding up the caller; awaited by
        :meth:`settle`. Bounded: past :data:`MAX_VIEWS` under way, it is left out (counted;
        the next receipt about the message brings its view up to date)."""
        if len(self._tasks) >= MAX_VIEWS:
            work.close()
            self.recorder.problem("receipts", "views", "too_many")
            return
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

    async def settle(self) -> bool:
        """Until the author's views started so far are brought up to date (tests, the lab);
        True if there were any."""
        waited = False
        while self._tasks:
            waited = True
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return waited
