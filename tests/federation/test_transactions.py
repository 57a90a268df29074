"""Transactions: several envelopes in one ``POST /v1/transactions``, each answered on its own;
the outbox sends its batches that way, and one by one to a relay without the endpoint."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay.core.backoff import Backoff
from relay.core.keys import Keyring
from relay.core.receipt import ReceiptStatus, verify_receipt
from relay.errors import DeliveryError, TransactionsUnsupported
from relay.federation.client import SendResult
from relay.federation.tls import client_context
from relay.flow.outbox import Dispatcher
from relay.flow.queues import QueueTuning
from relay.store.aio import AsyncStore
from relay.store.contract import OutboxItem
from relay.store.sqlite import SqliteStore
from tests.federation.harness import Federation
from tests.federation.test_refusals import CT, MA, RI, XX, _policies, envelope


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path, [CT, MA, RI, XX])
    await federation.start(_policies(), pins={MA: [CT, RI], RI: [CT, MA]})
    yield federation
    await federation.stop()


async def _transaction(
    fed: Federation, src: str, dst: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    relay = fed.relays[src]
    ctx: ssl.SSLContext = client_context(
        relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem"
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fed.relays[dst].url}/v1/transactions",
            data=body,
            ssl=ctx,
            headers={"Content-Type": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_each_envelope_of_a_transaction_is_answered_on_its_own(fed: Federation) -> None:
    good = envelope(fed, jti="tx-good").to_wire()
    other = envelope(fed, jti="tx-other").to_wire()
    misaddressed = envelope(fed, jti="tx-ri", audience=RI).to_wire()
    body = json.dumps({"envelopes": [good, good, misaddressed, other]}).encode()
    status, answer = await _transaction(fed, CT, MA, body)
    assert status == 200
    results = answer["results"]
    receipts = [r.pop("receipt", None) for r in results]
    assert results == [
        {"envelope": "tx-good", "status": "accepted"},
        {"envelope": "tx-good", "status": "duplicate"},
        {"error": "not_addressed"},
        {"envelope": "tx-other", "status": "accepted"},
    ]
    # each envelope taken is answered with Millbrook's signed receipt; a refusal is not
    assert receipts[2] is None
    ring = Keyring.of([fed.service(MA).pinned()])
    got = [verify_receipt(receipts[i], ring, fed.now()) for i in (0, 1, 3)]
    assert [(r.reporter, r.envelope_id, r.status) for r in got] == [
        (MA, "tx-good", ReceiptStatus.ACCEPTED),
        (MA, "tx-good", ReceiptStatus.ACCEPTED),
        (MA, "tx-other", ReceiptStatus.ACCEPTED),
    ]
    await fed.settle()
    ma = fed.relays[MA]
    assert sorted(ma.delivered.get_nowait().envelope.envelope_id for _ in range(2)) == [
        "tx-good",
        "tx-other",
    ]
    assert [r.reason for r in ma.store.refusals()] == ["not_addressed"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"envelopes": []}',
        b'{"envelopes": {}}',
        b'{"envelopes": [{}], "extra": 1}',
        json.dumps({"envelopes": [{}] * 101}).encode(),
    ],
    ids=["not-json", "list", "empty", "not-a-list", "extra-key", "too-many"],
)
async def test_a_request_that_is_not_a_transaction_is_refused_whole(
    fed: Federation, body: bytes
) -> None:
    status, answer = await _transaction(fed, CT, MA, body)
    assert (status, answer) == (400, {"error": "bad_request"})
    assert fed.relays[MA].delivered.empty()


async def test_a_stranger_cannot_send_a_transaction(fed: Federation) -> None:
    body = json.dumps({"envelopes": [envelope(fed, issuer=XX).to_wire()]}).encode()
    status, answer = await _transaction(fed, XX, MA, body)
    assert (status, answer) == (403, {"error": "peer_unknown"})


class _OlderRelay:
    """A partner relay from before transactions: ``POST /v1/transactions`` answers 404."""

    def __init__(self) -> None:
        self.singles: list[bytes] = []
        self.transactions = 0

    async def send_transaction_once(
        self, partner: str, bodies: list[bytes]
    ) -> list[SendResult | DeliveryError]:
        self.transactions += 1
        raise TransactionsUnsupported(partner)

    async def send_once(self, partner: str, body: bytes) -> SendResult:
        self.singles.append(body)
        return SendResult(status="accepted", envelope_id="")

    async def put_blob_once(self, partner: str, sha256: str, mime: str, data: bytes) -> None:
        raise AssertionError("no files here")


class _NewerRelay(_OlderRelay):
    async def send_transaction_once(
        self, partner: str, bodies: list[bytes]
    ) -> list[SendResult | DeliveryError]:
        self.transactions += 1
        answers: list[SendResult | DeliveryError] = [
            SendResult(status="accepted", envelope_id=""),
            DeliveryError("refused", code="key_not_pinned", retryable=False),
            DeliveryError("busy", code="unavailable", retryable=True),
        ]
        return answers[: len(bodies)]


def _queue(tmp_path: Path, n: int) -> SqliteStore:
    store = SqliteStore(tmp_path / "out.db")
    now = time.time()
    store.enqueue(
        [
            OutboxItem(
                partner=MA,
                envelope_id=f"e{i}",
                order_key=f"e{i}",
                body=json.dumps({"n": i}).encode(),
                expires_at=now + 3600,
            )
            for i in range(n)
        ],
        now=now,
    )
    return store


async def _drain(dispatcher: Dispatcher) -> None:
    task = asyncio.create_task(dispatcher.run())
    try:
        dispatcher.wake()
        await asyncio.wait_for(dispatcher.idle(), timeout=10)
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, timeout=10)


def _dispatcher(store: SqliteStore, sender: _OlderRelay) -> Dispatcher:
    return Dispatcher(
        AsyncStore(store),
        sender,
        lambda: [MA],
        owner="test",
        clock=time.time,
        tuning=QueueTuning(poll=0.05, backoff=Backoff(base=60.0, cap=60.0)),
    )


async def test_the_outbox_sends_one_by_one_to_a_relay_without_transactions(
    tmp_path: Path,
) -> None:
    store = _queue(tmp_path, 3)
    older = _OlderRelay()
    await _drain(_dispatcher(store, older))
    assert older.transactions == 1  # asked once, then remembered
    assert sorted(json.loads(b)["n"] for b in older.singles) == [0, 1, 2]
    assert {e.state for e in store.queue_entries()} == {"done"}
    store.close()


async def test_each_answer_of_a_transaction_settles_its_own_envelope(tmp_path: Path) -> None:
    store = _queue(tmp_path, 3)
    newer = _NewerRelay()
    await _drain(_dispatcher(store, newer))
    assert newer.transactions == 1
    assert newer.singles == []
    states = {e.envelope_id: (e.state, e.reason) for e in store.queue_entries()}
    assert states == {
        "e0": ("done", None),
        "e1": ("dead", "key_not_pinned"),
        "e2": ("pending", "unavailable"),
    }
    store.close()


class _Counting(_OlderRelay):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    async def send_transaction_once(
        self, partner: str, bodies: list[bytes]
    ) -> list[SendResult | DeliveryError]:
        self.sizes.append(len(bodies))
        return [SendResult(status="accepted", envelope_id="") for _ in bodies]


async def test_a_batch_larger_than_a_transaction_goes_in_several(tmp_path: Path) -> None:
    store = _queue(tmp_path, 150)
    counting = _Counting()
    dispatcher = Dispatcher(
        AsyncStore(store),
        counting,
        lambda: [MA],
        owner="test",
        clock=time.time,
        tuning=QueueTuning(poll=0.05, batch=200),
    )
    await _drain(dispatcher)
    assert counting.sizes == [100, 50]
    assert {e.state for e in store.queue_entries()} == {"done"}
    store.close()
