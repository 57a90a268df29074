"""The forwarding client retries retryable failures only, with backoff and jitter."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relay.errors import DeliveryError
from relay.federation.client import PeerClient, RetryPolicy


class Flaky:
    def __init__(self, failures: list[int], retry_after: str | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        await request.read()
        if self.failures:
            status = self.failures.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return web.json_response({"error": f"e{status}"}, status=status, headers=headers)
        return web.json_response({"status": "accepted", "envelope": "x1"})


@contextlib.asynccontextmanager
async def _client_for(flaky: Flaky) -> AsyncIterator[tuple[PeerClient, list[float]]]:
    """A client of ``flaky`` that records its back-off sleeps instead of sleeping."""
    sleeps: list[float] = []
    app = web.Application()
    app.router.add_post("/v1/envelopes", flaky.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = PeerClient(
        {"MA9990200": str(server.make_url("/")).rstrip("/")},
        ssl.create_default_context(),
        retry=RetryPolicy(attempts=4, base=0.5, cap=4.0),
        sleep=sleep,
        rng=lambda: 1.0,
    )
    try:
        yield client, sleeps
    finally:
        await client.close()
        await server.close()


async def test_retryable_failures_back_off_exponentially_then_succeed():
    flaky = Flaky([503, 502, 500])
    async with _client_for(flaky) as (client, sleeps):
        result = await client.send("MA9990200", {"payload": "x", "signatures": []})
    assert result.status == "accepted"
    assert flaky.calls == 4
    assert sleeps == [0.5, 1.0, 2.0]


async def test_retry_after_is_honoured():
    flaky = Flaky([429], retry_after="3")
    async with _client_for(flaky) as (client, sleeps):
        await client.send("MA9990200", {})
    assert sleeps == [3.0]


async def test_a_refusal_is_not_retried():
    flaky = Flaky([403])
    async with _client_for(flaky) as (client, sleeps):
        with pytest.raises(DeliveryError) as err:
            await client.send("MA9990200", {})
    assert (err.value.code, err.value.retryable) == ("http_403", False), "unknown codes closed"
    assert flaky.calls == 1
    assert sleeps == []


async def test_gives_up_after_the_last_attempt_with_a_retryable_error():
    flaky = Flaky([503] * 10)
    async with _client_for(flaky) as (client, sleeps):
        with pytest.raises(DeliveryError) as err:
            await client.send("MA9990200", {})
    assert err.value.retryable
    assert flaky.calls == 4
    assert sleeps == [0.5, 1.0, 2.0]


async def test_unreachable_partner_is_a_retryable_delivery_error():
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = PeerClient(
        {"MA9990200": "http://127.0.0.1:9"},
        ssl.create_default_context(),
        retry=RetryPolicy(attempts=2, base=0.1),
        sleep=sleep,
        rng=lambda: 0.5,
    )
    try:
        with pytest.raises(DeliveryError) as err:
            await client.send("MA9990200", {})
    finally:
        await client.close()
    assert (err.value.code, err.value.retryable) == ("unreachable", True)
    assert sleeps == [0.05]
