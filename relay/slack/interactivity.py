"""Slack interactivity over HTTP: ``POST /slack/interactivity`` (issue 16).

The same signature check as events (v0 HMAC-SHA256 over the raw body, 5-minute window) before
anything is read; the body is a form with one field, ``payload`` (JSON). A request that fails
the check is answered 401 and nothing of it is kept. A signed payload the relay cannot parse
is acknowledged 200 (Slack would otherwise show the user an error and nothing changes) and
counted. The handler (:meth:`relay.slack.review.ReviewDesk.interaction`) stores what must be
kept before it answers, within Slack's 3 seconds.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any, Final, Protocol

import structlog
from aiohttp import web

__all__ = ["INTERACTIONS", "Interactions", "interactivity_route", "read_payload"]

log = structlog.get_logger("relay.slack")
MAX_FORM_BYTES: Final = 1 << 20
ANSWER_WITHIN: Final = 2.5  # seconds: Slack waits 3 for the acknowledgement


class Interactions(Protocol):
    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What to answer (None: an empty 200)."""


INTERACTIONS: Final = web.AppKey("interactions", Interactions)


def read_payload(body: bytes) -> dict[str, Any] | None:
    """The ``payload`` object of a form body; None when it is not exactly that."""
    try:
        form = urllib.parse.parse_qs(
            body.decode("utf-8", errors="strict"),
            strict_parsing=True,
            max_num_fields=8,
        )
        values = form.get("payload")
        if not values or len(values) != 1:
            return None
        doc = json.loads(values[0])
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def interactivity_route(verify: Any) -> Any:
    """The ``POST /slack/interactivity`` handler; ``verify(request, body)`` is the events
    listener's signature check (None when good, else the refusal to answer)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            return web.json_response({"error": "too_large"}, status=413)
        try:
            async with asyncio.timeout(10):
                body = await request.read()
        except (TimeoutError, web.HTTPRequestEntityTooLarge):
            return web.json_response({"error": "bad_request"}, status=400)
        refused = verify(request, body)
        if refused is not None:
            return refused  # type: ignore[no-any-return]
        payload = read_payload(body)
        if payload is None:
            log.warning("slack_interaction_refused", reason="malformed_payload")
            return web.json_response({"error": "malformed_payload"}, status=200)
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                answer = await request.app[INTERACTIONS].interaction(payload)
        except TimeoutError:
            log.warning("slack_interaction_slow")
            answer = None
        if answer is None:
            return web.Response(status=200)
        return web.json_response(answer)

    return handle
