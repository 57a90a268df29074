"""Malformed HTTP below the routes, over raw sockets to real listeners on 127.0.0.1: a
``Content-Encoding`` (gzip that is not gzip, a gzip bomb, br) and a broken chunk size, on
``/slack/events`` (unauthenticated) and on the federation listener (mutual TLS, a pinned
partner). A content-coded body is refused unread with 415 ``unsupported_media_type``; what
aiohttp refuses itself is counted in ``relay_http_bad_requests_total{listener}`` and logged
in one line, never with a traceback; a genuine request afterwards is served."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from relay.federation.tls import client_context
from relay.http_edge import LINES_PER_MINUTE
from tests.attack.helpers import BOMB, callback, message, raw, request, signature
from tests.attack.test_slack_ingress import _relay
from tests.federation.harness import Federation, policy_text

CT, MA = "CT9990100", "MA9990200"


def _bad_chunks(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n").encode("latin-1")


def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text
    loud = [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= 40]
    assert not loud, [r.getMessage() for r in loud]
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("aiohttp"))


async def test_slack_listener_refuses_encodings_and_counts_bad_framing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with _relay(tmp_path) as relay:
        port = int(relay.url.split(":")[2].split("/")[0])
        now = str(int(time.time()))
        unsigned = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64}
        coded = [
            (b"not gzip at all", "gzip", unsigned),
            (b"not brotli", "br", unsigned),
            (BOMB, "gzip", {"X-Slack-Request-Timestamp": now,
                            "X-Slack-Signature": signature(now, BOMB)}),
            (BOMB, "identity, gzip", unsigned),
        ]  # fmt: skip
        for body, coding, headers in coded:
            got = await raw(
                port, request("/slack/events", body, {**headers, "Content-Encoding": coding})
            )
            assert got == (415, json.dumps({"error": "unsupported_media_type"})), coding
        assert relay.rejected("unsupported_media_type") == len(coded)
        for _ in range(LINES_PER_MINUTE + 5):
            status, _ = await raw(port, _bad_chunks("/slack/events", unsigned))
            assert status == 400
        registry = relay.recorder.metrics.registry
        counted = registry.get_sample_value("relay_http_bad_requests_total", {"listener": "slack"})
        assert counted == LINES_PER_MINUTE + 5
        lines = [r for r in caplog.records if "http_bad_request" in r.getMessage()]
        assert len(lines) == LINES_PER_MINUTE  # the rest counted, not written
        genuine = json.dumps(callback(message("1700000000.000900"), "Ev0FRAME01")).encode()
        ts = str(int(time.time()))
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(ts, genuine)}
        assert (await raw(port, request("/slack/events", genuine, headers)))[0] == 200
        await asyncio.wait_for(relay.inbox.wait_idle(), timeout=10)
        assert relay.handled == ["Ev0FRAME01"]
    _quiet(caplog)


async def test_federation_listener_refuses_encodings_and_counts_bad_framing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fed = Federation(tmp_path, [CT, MA])
    await fed.start({CT: policy_text(CT, [{"ori": MA}]), MA: policy_text(MA, [{"ori": CT}])})
    try:
        ct = fed.relays[CT]
        ctx = client_context(ct.dir / "cert.pem", ct.dir / "key.pem", ct.dir / "ca.pem")
        port = int(fed.relays[MA].url.rsplit(":", 1)[1])
        json_type = {"Content-Type": "application/json"}
        for path, body, coding in [
            ("/v1/envelopes", b"not gzip", "gzip"),
            ("/v1/envelopes", b"not brotli", "br"),
            ("/v1/transactions", BOMB, "gzip"),
            ("/v1/receipts", BOMB, "deflate"),
        ]:
            headers = {**json_type, "Content-Encoding": coding}
            got = await raw(port, request(path, body, headers), ctx)
            assert got == (415, json.dumps({"error": "unsupported_media_type"})), (path, coding)
        for _ in range(3):
            status, _ = await raw(port, _bad_chunks("/v1/envelopes", json_type), ctx)
            assert status == 400
        metrics = fed.relays[MA].metrics.registry
        assert (
            metrics.get_sample_value("relay_http_bad_requests_total", {"listener": "federation"})
            == 3
        )
        status, answer = await raw(port, request("/healthz", b"", {}, "GET"), ctx)
        assert (status, json.loads(answer)) == (200, {"status": "ok"})
        await fed.settle()
        refused = [r.reason for r in fed.relays[MA].store.refusals()]
        assert refused.count("unsupported_media_type") == 4
    finally:
        await fed.stop()
    _quiet(caplog)
