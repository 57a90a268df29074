"""Slack Events API over HTTP: ``POST /slack/events``.

Verifies Slack's request signature (v0 HMAC-SHA256, 5-minute window, constant-time compare,
slack-sdk's ``SignatureVerifier``) before reading anything else, answers ``url_verification``,
and acknowledges an ``event_callback`` only after it is stored durably. Slack's retries
(``X-Slack-Retry-Num``, same ``event_id``) find the event already taken and are acknowledged
without doing anything twice. A request that fails verification is answered 401 and nothing of
it is stored or logged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from aiohttp import web
from slack_sdk.signature import Clock, SignatureVerifier

from relay.slack.interactivity import INTERACTIONS, Interactions, interactivity_route

__all__ = ["EventSink", "build_events_app", "verify_request"]

MAX_EVENT_BYTES: Final = 1 << 20


class EventSink(Protocol):
    async def take_slack_event(
        self, *, team: str, event_id: str, body: bytes, doc: dict[str, Any] | None = None
    ) -> bool:
        """Store the event durably; False when it was already taken (a retry)."""


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


SINK: Final = web.AppKey("sink", EventSink)
VERIFIER: Final = web.AppKey("verifier", SignatureVerifier)


def _error(reason: str, status: int) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def verify_request(request: web.Request, body: bytes) -> web.Response | None:
    """Slack's signature over ``body`` (None: good), else the 401 to answer."""
    verifier = request.app[VERIFIER]
    if not request.headers.get("X-Slack-Request-Timestamp", "").isdigit():
        return _error("invalid_signature", 401)
    if not verifier.is_valid(
        body=body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
        signature=request.headers.get("X-Slack-Signature", ""),
    ):
        return _error("invalid_signature", 401)
    return None


async def _events(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        return _error("too_large", 413)
    try:
        async with asyncio.timeout(10):
            body = await request.read()
    except (TimeoutError, web.HTTPRequestEntityTooLarge):
        return _error("bad_request", 400)
    refused = verify_request(request, body)
    if refused is not None:
        return refused
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return _error("bad_request", 400)
    if not isinstance(doc, dict):
        return _error("bad_request", 400)
    kind = doc.get("type")
    if kind == "url_verification":
        return web.json_response({"challenge": str(doc.get("challenge", ""))})
    if kind == "event_callback":
        event_id = doc.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return _error("bad_request", 400)
        await request.app[SINK].take_slack_event(
            team=str(doc.get("team_id", "")), event_id=event_id, body=body, doc=doc
        )
    return web.Response(status=200)


def build_events_app(
    sink: EventSink,
    signing_secret: str,
    *,
    clock: Callable[[], float] = time.time,
    interactions: Interactions | None = None,
) -> web.Application:
    """``POST /slack/events``; with ``interactions``, ``POST /slack/interactivity`` too (the
    same signature check)."""
    app = web.Application(client_max_size=MAX_EVENT_BYTES)
    app[SINK] = sink
    app[VERIFIER] = SignatureVerifier(signing_secret, clock=_Clock(clock))
    app.router.add_post("/slack/events", _events)
    if interactions is not None:
        app[INTERACTIONS] = interactions
        app.router.add_post("/slack/interactivity", interactivity_route(verify_request))
    return app
