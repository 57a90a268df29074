"""A flood of refused requests at a real federation listener (mutual TLS on 127.0.0.1): an
unpinned certificate from the partners' own CA and a partner over its rate. The flood is
answered 403/429 (never 5xx), costs a counter per request, and leaves a bounded trace: two
ledger records per peer, reason and window (opened; closed with the count), the counts per
window, and at most the last refusals one by one. A genuine envelope after it is accepted
once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections import Counter
from typing import Any

import aiohttp
import pytest

from relay.federation.server import LIMITER
from relay.federation.tls import client_context
from relay.flow.refusal_tally import PER_WINDOW
from relay.store.sqlite import SqliteStore
from tests.attack.helpers import envelope, send
from tests.federation.harness import NOW, Federation, policy_text

CT, MA = "CT9990100", "MA9990200"
FLOOD = 300  # unpinned requests
OVER = 30  # the partner's requests over its rate
BURST = 20


@pytest.fixture
async def fed(tmp_path):
    federation = Federation(tmp_path, [CT, MA])
    await federation.start(
        {
            CT: policy_text(CT, [{"ori": MA}]),
            MA: policy_text(MA, [{"ori": CT}]),
        }
    )
    yield federation
    await federation.stop()


def _envelope(fed: Federation) -> dict[str, Any]:
    relay = fed.relays[CT]
    return envelope(
        issuer=CT,
        audience=MA,
        key=relay.key,
        kid=relay.kid,
        envelope_id="ct-after-the-flood",
        issued_at=NOW,
        expires_at=NOW + dt.timedelta(days=1),
    )


def _refusal_records(store: Any) -> list[tuple[str | None, str, int | None]]:
    return [
        (c.record.source, c.record.outcome, c.record.count)
        for c in store.audit_rows()
        if c.record.event == "refusal"
    ]


async def test_flood_of_unpinned_and_rate_limited_requests_leaves_an_aggregate_trace(fed):
    ma = fed.relays[MA]
    assert ma.running is not None
    limiter = ma.running.runner.app[LIMITER]
    limiter.rate, limiter.burst = 0.001, BURST  # nothing refills during the test
    limiter._buckets.clear()
    limiter._buckets[CT] = (0.0, limiter.clock())  # the partner is already over its rate

    intruder = fed.ca.issue_cert("127.0.0.1")  # the partners' CA, pinned by nobody
    bad = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    fed.ca.configure_trust(bad)
    intruder.configure_cert(bad)
    ct = fed.relays[CT]
    good = client_context(ct.dir / "cert.pem", ct.dir / "key.pem", ct.dir / "ca.pem")
    before = len(_refusal_records(ma.store))
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as session:
        flood, over = await asyncio.gather(
            send(session, ma.url, bad, b'{"payload": "x"}', FLOOD),
            send(session, ma.url, good, b"{}", OVER),
        )
        assert flood == {403: BURST, 429: FLOOD - BURST}, "the unpinned share one bucket"
        assert over == {429: OVER}
        assert not any(status >= 500 for status in (*flood, *over))

        await ma.running.drain()  # one batch: the opening records and the counts so far
        opened = _refusal_records(ma.store)[before:]
        assert sorted(opened, key=str) == sorted(
            [
                (None, "peer_unknown", None),
                (None, "rate_limited", None),
                (CT, "rate_limited", None),
            ],
            key=str,
        )
        windows = {
            (w.peer, w.reason): (w.count, w.closed) for w in ma.store.refusal_windows(limit=10)
        }
        assert windows == {
            ("unknown", "peer_unknown"): (BURST, False),
            ("unknown", "rate_limited"): (FLOOD - BURST, False),
            (CT, "rate_limited"): (OVER, False),
        }
        kept = Counter((r.peer, str(r.reason)) for r in ma.store.refusals())
        assert kept == {
            ("unknown", "peer_unknown"): BURST,
            ("unknown", "rate_limited"): PER_WINDOW,  # a flood keeps at most this many
            (CT, "rate_limited"): OVER,
        }
        refused = ma.metrics.refused
        assert refused.labels("unknown", "rate_limited")._value.get() == FLOOD - BURST
        assert refused.labels(CT, "rate_limited")._value.get() == OVER

        limiter.rate, limiter.burst = 1000.0, 1000
        limiter._buckets.clear()
        body = json.dumps(_envelope(fed)).encode()
        first = await send(session, ma.url, good, body, 1)
        again = await send(session, ma.url, good, body, 1)
    assert (first, again) == ({200: 1}, {200: 1})
    await fed.settle()
    assert ma.delivered.qsize() == 1, "accepted once, posted once"

    await fed.stop()  # the windows close: one record each with its count
    store = SqliteStore(ma.dir / "relay.db")
    try:
        records = _refusal_records(store)[before:]
        closed = store.refusal_windows(limit=10)
    finally:
        store.close()
    assert len(records) == 6, "two per peer and reason, whatever the flood's size"
    assert sorted((r for r in records if r[2] is not None), key=str) == sorted(
        [
            (None, "peer_unknown", BURST),
            (None, "rate_limited", FLOOD - BURST),
            (CT, "rate_limited", OVER),
        ],
        key=str,
    )
    assert all(w.closed for w in closed)


REPLAYS = 300


async def test_replayed_envelopes_leave_an_aggregate_trace_not_a_record_each(fed):
    """One envelope sent 1 + 300 times: each replay answered ``duplicate`` as before, with its
    receipt, but the ledger gets one ``receive ... duplicate`` record for the window's first
    replay and one closing record with the count."""
    ma, ct = fed.relays[MA], fed.relays[CT]
    good = client_context(ct.dir / "cert.pem", ct.dir / "key.pem", ct.dir / "ca.pem")
    body = json.dumps(_envelope(fed)).encode()
    before = len(ma.store.audit_rows())
    answers: Counter[str] = Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=20)) as session:

        async def one() -> None:
            async with session.post(
                f"{ma.url}/v1/envelopes",
                data=body,
                ssl=good,
                headers={"Content-Type": "application/json"},
            ) as resp:
                answer = await resp.json()
                assert resp.status == 200
                assert answer["envelope"] == "ct-after-the-flood"
                answers[answer["status"]] += 1
                assert ("receipt" in answer) == first_receipt

        first_receipt = "receipt" in await _accepted(session, ma.url, good, body)
        await asyncio.gather(*(one() for _ in range(REPLAYS)))
    assert answers == {"duplicate": REPLAYS}
    await fed.settle()
    assert ma.delivered.qsize() == 1, "accepted once, posted once"
    await fed.stop()  # the window closes with its count
    store = SqliteStore(ma.dir / "relay.db")
    try:
        receives = [
            (c.record.outcome, c.record.envelope_id, c.record.count)
            for c in store.audit_rows()[before:]
            if c.record.event == "receive"
        ]
    finally:
        store.close()
    assert receives == [
        ("new", "ct-after-the-flood", None),
        ("duplicate", "ct-after-the-flood", None),
        ("duplicate", None, REPLAYS),
    ]


async def _accepted(
    session: aiohttp.ClientSession, url: str, ctx: ssl.SSLContext, body: bytes
) -> dict[str, Any]:
    async with session.post(
        f"{url}/v1/envelopes", data=body, ssl=ctx, headers={"Content-Type": "application/json"}
    ) as resp:
        answer: dict[str, Any] = await resp.json()
    assert answer["status"] == "accepted"
    return answer
