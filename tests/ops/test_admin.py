"""The admin listener: /metrics, /healthz, /readyz, /status and JSON errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

import relay.admin
from relay.admin import build_admin_app, start_admin
from relay.metrics import RelayMetrics
from relay.store.contract import QueueStat

MA = "MA9990200"


async def _ok() -> Mapping[str, bool]:
    return {"store": True, "policy": True}


@asynccontextmanager
async def _client(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_serves_the_registry_after_refreshing_the_queue_gauges() -> None:
    metrics = RelayMetrics()
    metrics.envelope_sent(MA, "accepted", 0.2)
    refreshed = []

    async def refresh() -> None:
        refreshed.append(True)
        metrics.queues(
            [QueueStat(queue="outbox", peer=MA, state="pending", count=3, oldest=100.0)],
            now=160.0,
            pending_events=2,
        )

    app = build_admin_app(metrics=metrics, checks=_ok, before_scrape=refresh)
    async with _client(app) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        samples = _samples(await response.text())
    assert refreshed == [True]
    labels = frozenset({"partner": MA, "outcome": "accepted"}.items())
    assert samples[("relay_envelopes_sent_total", labels)] == 1.0
    depth = frozenset({"queue": "outbox", "partner": MA, "state": "pending"}.items())
    assert samples[("relay_queue_depth", depth)] == 3.0
    assert samples[("relay_queue_oldest_age_seconds", frozenset(depth - {("state", "pending")}))]
    assert samples[("relay_slack_events_pending", frozenset())] == 2.0
    assert any(name == "relay_build_info" for name, _ in samples)


async def test_metrics_still_served_when_the_refresh_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = RelayMetrics()
    metrics.envelope_refused(None, "signature_invalid")

    async def broken() -> None:
        raise RuntimeError("store is gone: postgresql://user:secret@db")

    app = build_admin_app(metrics=metrics, checks=_ok, before_scrape=broken)
    async with _client(app) as client:
        response = await client.get("/metrics")
        text = await response.text()
        again = await client.get("/healthz")  # the listener is still there
    assert response.status == 200
    assert "relay_envelopes_refused_total" in text
    assert again.status == 200
    assert "secret" not in caplog.text


async def test_metrics_served_when_the_refresh_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay.admin, "SCRAPE_HOOK_TIMEOUT", 0.05)

    async def hang() -> None:
        await asyncio.Event().wait()

    app = build_admin_app(metrics=RelayMetrics(), checks=_ok, before_scrape=hang)
    async with _client(app) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert "relay_build_info" in await response.text()


async def test_healthz_is_alive() -> None:
    app = build_admin_app(metrics=RelayMetrics(), checks=_ok)
    async with _client(app) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"status": "alive"}
        assert response.headers["Cache-Control"] == "no-store"


async def test_readyz_ready_when_every_check_passes() -> None:
    app = build_admin_app(metrics=RelayMetrics(), checks=_ok)
    async with _client(app) as client:
        response = await client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {"ready": True, "checks": {"store": True, "policy": True}}


@pytest.mark.parametrize("value", [False, None, 1, "yes"])
async def test_readyz_not_ready_when_a_check_is_not_true(value: Any) -> None:
    async def checks() -> Mapping[str, Any]:
        return {"store": True, "partner_keys": value}

    app = build_admin_app(metrics=RelayMetrics(), checks=checks)
    async with _client(app) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert await response.json() == {
            "ready": False,
            "checks": {"store": True, "partner_keys": False},
            "error": "not_ready",
        }


async def test_readyz_not_ready_when_the_checks_raise_or_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay.admin, "CHECK_TIMEOUT", 0.05)

    async def raises() -> Mapping[str, bool]:
        raise OSError("disk full at /var/lib/relay")

    async def hangs() -> Mapping[str, bool]:
        await asyncio.Event().wait()
        return {}

    async def empty() -> Mapping[str, bool]:
        return {}

    for checks in (raises, hangs, empty):
        app = build_admin_app(metrics=RelayMetrics(), checks=checks)
        async with _client(app) as client:
            response = await client.get("/readyz")
            body = await response.json()
        assert response.status == 503, checks.__name__
        assert body["ready"] is False
        assert body["error"] == "not_ready"
        assert "disk" not in str(body)


async def test_status_from_the_relay_or_not_found() -> None:
    async def status() -> Mapping[str, Any]:
        return {"agency": "CT9990100", "partners": [MA], "outbox": {"pending": 0}}

    async def broken() -> Mapping[str, Any]:
        raise ValueError("text of a message")

    with_status = build_admin_app(metrics=RelayMetrics(), checks=_ok, status=status)
    without = build_admin_app(metrics=RelayMetrics(), checks=_ok)
    failing = build_admin_app(metrics=RelayMetrics(), checks=_ok, status=broken)
    async with _client(with_status) as client:
        response = await client.get("/status")
        assert response.status == 200
        assert (await response.json())["partners"] == [MA]
    async with _client(without) as client:
        response = await client.get("/status")
        assert response.status == 404
        assert await response.json() == {"error": "not_found"}
    async with _client(failing) as client:
        response = await client.get("/status")
        assert response.status == 503
        assert await response.json() == {"error": "status_unavailable"}


async def test_unknown_paths_and_methods_answer_json_errors() -> None:
    app = build_admin_app(metrics=RelayMetrics(), checks=_ok)
    async with _client(app) as client:
        response = await client.get("/nope")
        assert response.status == 404
        assert await response.json() == {"error": "not_found"}
        response = await client.post("/metrics", data=b"x")
        assert response.status == 405
        assert await response.json() == {"error": "method_not_allowed"}
        assert "GET" in response.headers["Allow"]


async def test_a_failing_handler_answers_internal_error_without_its_text() -> None:
    async def status() -> Mapping[str, Any]:
        return {"not_json": object()}  # the JSON encoder raises inside the handler

    app = build_admin_app(metrics=RelayMetrics(), checks=_ok, status=status)
    async with _client(app) as client:
        response = await client.get("/status")
        assert response.status == 500
        assert await response.json() == {"error": "internal_error"}


async def test_start_admin_on_a_free_loopback_port() -> None:
    runner, url = await start_admin(
        build_admin_app(metrics=RelayMetrics(), checks=_ok), "127.0.0.1", 0
    )
    try:
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/healthz") as response:
                assert response.status == 200
            async with session.get(f"{url}/metrics") as response:
                assert "relay_start_time_seconds" in await response.text()
    finally:
        await runner.cleanup()


async def test_start_admin_cleans_up_when_the_port_is_taken() -> None:
    first, url = await start_admin(
        build_admin_app(metrics=RelayMetrics(), checks=_ok), "127.0.0.1", 0
    )
    try:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="address already in use"):
            await start_admin(
                build_admin_app(metrics=RelayMetrics(), checks=_ok), "127.0.0.1", port
            )
    finally:
        await first.cleanup()
