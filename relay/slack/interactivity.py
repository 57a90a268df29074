"""Slack interactivity over HTTP: ``POST /slack/interactivity`` (issue 16).

The same edge as events (:mod:`relay.slack.signed`: bounded ASCII headers, v0 signature,
5-minute window) before anything is read; the body is a form with one field, ``payload``,
read as strictly as an event (:func:`relay.core.slack_request.form_payload`). Unauthenticated
input gets a 4xx with a reason code, counted; a signed payload the relay cannot read is
acknowledged 200 with its reason (Slack would otherwise show the user an error) and counted.
The handler (:meth:`relay.slack.review.ReviewDesk.interaction`) stores what must be kept
before it answers, within Slack's 3 seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, Protocol

import structlog
from aiohttp import web

from relay.core.json_strict import JsonRefused
from relay.core.slack_request import form_payload
from relay.core.slack_shape import MAX_EVENT_BYTES
from relay.slack.signed import Refusals, Rejected, read_signed_body

__all__ = ["ANSWER_WITHIN", "INTERACTIONS", "Interactions", "interactivity"]

log = structlog.get_logger("relay.slack")
ANSWER_WITHIN: Final = 2.5  # seconds: Slack waits 3 for the acknowledgement


class Interactions(Protocol):
    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What to answer (None: an empty 200)."""


INTERACTIONS: Final = web.AppKey("interactions", Interactions)


async def answer(handler: Interactions, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The handler's answer; :class:`TimeoutError` when it takes longer than Slack waits (a
    decision not known to be stored is never acknowledged as if it were)."""
    async with asyncio.timeout(ANSWER_WITHIN):
        return await handler.interaction(payload)


async def interactivity(
    request: web.Request, *, secret: bytes, now: float, refusals: Refusals
) -> web.Response:
    """``POST /slack/interactivity``."""
    try:
        body = await read_signed_body(request, secret=secret, now=now, max_bytes=MAX_EVENT_BYTES)
    except Rejected as rejected:
        refusals.slack_rejected(rejected.reason)
        return rejected.response()
    try:
        payload = form_payload(body, max_bytes=MAX_EVENT_BYTES)
    except JsonRefused as exc:
        refusals.slack_refused(exc.reason, None, "payload")
        return web.json_response({"error": exc.reason.value}, status=200)
    try:
        got = await answer(request.app[INTERACTIONS], payload)
    except Exception as exc:  # noqa: BLE001 - the store away: "cannot take work now"
        log.warning("slack_interaction_not_taken", exc_type=type(exc).__name__)
        return web.json_response({"error": "unavailable"}, status=503)
    return web.Response(status=200) if got is None else web.json_response(got)
