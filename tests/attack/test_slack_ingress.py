"""Attacks on the Slack side of the relay, over a real listener on loopback: ``POST
/slack/events`` with malformed headers and bodies (unauthenticated and signed), a poison
event already in the store, and Hypothesis-generated requests. Nothing may get a 5xx, crash
the inbox worker, be stored or forwarded; each refusal has its code and is counted; a genuine
event afterwards is processed once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.flow.queues import QueueTuning
from relay.slack.events import build_events_app
from relay.slack.inbox import Inbox, Published
from tests.attack.helpers import (
    CANARY,
    SECRET,
    callback,
    message,
    post,
    signed,
    signed_garbage,
    unauthenticated,
)
from tests.helpers import sqlite_recorder


class Relay:
    """A Slack listener in front of a real inbox (SQLite) and its worker; ``handled`` lists
    the events the worker handed on (what would be forwarded)."""

    def __init__(self, tmp_path: Path) -> None:
        self.store, self.aio, self.recorder = sqlite_recorder(tmp_path / "relay.db")
        self.handled: list[str] = []
        self.inbox = Inbox(
            store=self.aio,
            recorder=self.recorder,
            handler=self._handle,
            owner="me",
            tuning=QueueTuning(poll=0.05, lease=30.0),
            clock=lambda: dt.datetime.now(dt.UTC),
        )
        self.app = build_events_app(
            self.inbox, SECRET, refusals=self.recorder, registry=self.recorder.metrics.registry
        )
        self.url = ""

    async def _handle(self, key: str, doc: dict[str, Any]) -> Published | None:
        self.handled.append(doc["event_id"])
        return None

    def refused(self, reason: str) -> float:
        value = self.recorder.metrics.registry.get_sample_value(
            "relay_slack_events_refused_total", {"reason": reason}
        )
        return value or 0.0

    def rejected(self, reason: str) -> float:
        value = self.recorder.metrics.registry.get_sample_value(
            "relay_slack_requests_rejected_total", {"reason": reason}
        )
        return value or 0.0


@asynccontextmanager
async def _relay(tmp_path: Path) -> AsyncIterator[Relay]:
    relay = Relay(tmp_path)
    server = TestServer(relay.app, host="127.0.0.1", port=0)
    await server.start_server()
    relay.url = str(server.make_url("/slack/events"))
    worker = asyncio.create_task(relay.inbox.run())
    try:
        yield relay
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await server.close()
    assert not worker.done() or worker.cancelled(), "the inbox worker died"


@contextmanager
def _no_canary_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    assert CANARY not in caplog.text
    assert "Traceback" not in caplog.text


async def test_malformed_requests_get_codes_never_5xx_and_nothing_is_forwarded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _no_canary_in_logs(caplog):
        async with _relay(tmp_path) as relay, aiohttp.ClientSession() as session:
            for name, body, headers, status, code in unauthenticated():
                before = relay.rejected(code)
                got = await post(session, relay.url, body, headers)
                assert got == (status, json.dumps({"error": code})), name
                assert relay.rejected(code) == before + 1, name
            for name, body, code in signed_garbage():
                before = relay.refused(code)
                got = await post(session, relay.url, body, signed(body))
                assert got == (200, json.dumps({"error": code})), name
                assert CANARY not in got[1]
                assert relay.refused(code) == before + 1, name
            assert relay.store.pending_event_count() == 0
            # a genuine event afterwards: taken and handed on once, a retry changes nothing
            genuine = json.dumps(callback(message("1700000000.000300"), "Ev0GOOD01")).encode()
            for _ in range(2):
                assert await post(session, relay.url, genuine, signed(genuine)) == (200, "")
            await asyncio.wait_for(relay.inbox.wait_idle(), timeout=10)
            assert relay.handled == ["Ev0GOOD01"]
            problems = [p.reason for p in relay.recorder.recent]
            assert "malformed" in problems
            assert "json_too_deep" in problems


async def test_a_poison_event_in_the_store_is_set_aside_once(tmp_path: Path) -> None:
    """Stored before this check existed (or by another instance): the worker reads it as
    strictly as the listener, sets it aside with its reason and goes on."""
    async with _relay(tmp_path) as relay:
        at = dt.datetime.now(dt.UTC)
        poison = [
            ("post.C1.1.1", b"[" * 50_000),
            ("post.C1.1.2", json.dumps(callback([CANARY], "Ev0POISON1")).encode()),
            ("post.C1.1.3", b'{"type": "event_callback", "\xff": 1}'),
        ]
        for key, body in poison:
            relay.store.take_event(event_id=key, team="T1", body=body, at=at, order_key=key)
        genuine = json.dumps(callback(message("1700000000.000400"), "Ev0GOOD02")).encode()
        assert await relay.inbox.take_slack_event(team="T1", event_id="Ev0GOOD02", body=genuine)
        await asyncio.wait_for(relay.inbox.wait_idle(), timeout=10)
        assert relay.handled == ["Ev0GOOD02"]
        assert relay.store.pending_event_count() == 0  # set aside: never claimed again
        assert relay.refused("json_too_deep") == 1
        assert relay.refused("malformed") == 1
        assert relay.refused("encoding_invalid") == 1


# -- Hypothesis: any request, never a 5xx --------------------------------------------------
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=40
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    """A body (JSON-ish, mutated bytes or deep nesting) and headers, signed or not."""
    kind = draw(st.sampled_from(["json", "event", "bytes", "deep"]))
    if kind == "json":
        body = json.dumps(draw(_JSONISH)).encode()
    elif kind == "event":
        event = draw(st.dictionaries(st.sampled_from(list(message("1.1"))), _JSONISH))
        body = json.dumps(callback(event | {"type": "message"})).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = draw(st.sampled_from([b"[", b'{"a":'])) * draw(st.integers(50, 5000))
    with_signature = draw(st.booleans())
    if with_signature:
        headers = signed(body)
    else:
        headers = {
            "X-Slack-Request-Timestamp": draw(_HEADER_TEXT | st.just(str(int(time.time())))),
            "X-Slack-Signature": draw(_HEADER_TEXT),
        }
    return body, headers, with_signature


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=_requests())
def test_no_request_gets_a_5xx(
    tmp_path: Path, request: tuple[bytes, dict[str, str], bool]
) -> None:
    body, headers, with_signature = request

    async def run() -> tuple[int, str]:
        where = tmp_path / uuid.uuid4().hex
        where.mkdir()
        async with _relay(where) as relay, aiohttp.ClientSession() as session:
            return await post(session, relay.url, body, headers)

    status, text = asyncio.run(run())
    assert status < 500, text
    if with_signature:
        assert status == 200  # signed: acknowledged, used or refused
    else:
        assert status in (400, 401, 408, 413)
        assert json.loads(text)["error"]


# -- a partner's text: no invisible characters reach the workspace -------------------------
def test_inbound_text_title_alt_and_names_lose_invisible_characters() -> None:
    from relay.commands.policy import read_policy
    from relay.core.policy.content import envelope_content
    from relay.core.policy.engine import evaluate_inbound
    from relay.core.policy.outbound import rich_text_block
    from relay.slack.names import safe_name, safe_text

    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    policy = read_policy(str(Path(__file__).parents[2] / "policies" / "baseline.yaml"), now.date())
    sender = next(ori for ori, p in policy.partners.items() if p.accept)
    topic = sorted(policy.partners[sender].accept)[0]
    hidden = "\u200b\u202e\u2066\u3164\u115f\u00ad"
    line = f"(U) BOLO: white{hidden} van seen on Route 9 near the bridge, plate ABC{hidden}123."
    content = envelope_content(
        [line], [(f"Van{hidden} photo", f"alt{hidden} text", "image/jpeg", 9)]
    )
    decision = evaluate_inbound(content, policy, sender, topic, now=now)
    assert decision.message is not None
    posted = json.dumps(rich_text_block(decision.message.lines), ensure_ascii=False)
    shown = [decision.message.text, posted, safe_text(f"Van{hidden} photo", policy, now)]
    shown += [
        safe_text(f"alt{hidden} text", policy, now),
        safe_name(f"Sgt{hidden} Dunne", policy, now),
    ]
    shown += [f.title + f.alt_txt for f in decision.message.files]
    for text in shown:
        assert not set(hidden) & set(text), text
    assert "white van" in decision.message.text
    assert safe_name(f"Sgt{hidden} Dunne", policy, now) == "Sgt Dunne"
