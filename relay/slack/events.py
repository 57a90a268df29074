"""Slack Events API over HTTP: ``POST /slack/events``.

Verifies Slack's request signature (v0 HMAC-SHA256, 5-minute window, constant-time compare:
:mod:`relay.slack.signed`) before reading anything else, answers ``url_verification``, and
acknowledges an ``event_callback`` only after it is stored durably. Slack's retries
(``X-Slack-Retry-Num``, same ``event_id``) find the event already taken and are acknowledged
without doing anything twice.

No input gets a 5xx but "cannot take work now" (the store failing: 503 ``unavailable``):

- unauthenticated (too large, slow, bad or missing signing headers, a wrong signature): a 4xx
  with ``{"error": reason}``, counted, nothing of it stored or logged;
- signed but unusable (not strict UTF-8, not JSON, too deep, a duplicate key, a field of the
  wrong shape): 200 with ``{"error": reason}`` so Slack stops retrying, counted, logged with
  its reason, field path and event id only, never stored or forwarded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from relay.core.reasons import Reason
from relay.core.slack_shape import MAX_EVENT_BYTES, Refused, read_event
from relay.http_edge import listener_args
from relay.slack.interactivity import INTERACTIONS, Interactions, interactivity
from relay.slack.signed import Refusals, Rejected, read_signed_body

__all__ = ["MAX_EVENT_BYTES", "EventSink", "build_events_app"]

log = structlog.get_logger("relay.slack")


class EventSink(Protocol):
    async def take_slack_event(
        self, *, team: str, event_id: str, body: bytes, doc: dict[str, Any] | None = None
    ) -> bool:
        """Store the event durably; False when it was already taken (a retry)."""


class _Edge:
    def __init__(
        self, sink: EventSink, secret: bytes, refusals: Refusals, clock: Callable[[], float]
    ) -> None:
        self.sink, self.secret, self.refusals, self.clock = sink, secret, refusals, clock


EDGE: Final = web.AppKey("slack_edge", _Edge)


def _answer(reason: Reason, status: int) -> web.Response:
    return web.json_response({"error": reason.value}, status=status)


async def _events(request: web.Request) -> web.Response:
    edge = request.app[EDGE]
    try:
        body = await read_signed_body(
            request, secret=edge.secret, now=edge.clock(), max_bytes=MAX_EVENT_BYTES
        )
    except Rejected as rejected:
        edge.refusals.slack_rejected(rejected.reason)
        return rejected.response()
    doc = read_event(body)
    if isinstance(doc, Refused):  # signed: Slack would retry a 4xx, so acknowledged
        edge.refusals.slack_refused(doc.reason, doc.event_id, doc.field)
        return _answer(doc.reason, 200)
    kind = doc["type"]
    if kind == "url_verification":
        return web.json_response({"challenge": doc["challenge"]})
    if kind == "event_callback":
        try:
            await edge.sink.take_slack_event(
                team=str(doc.get("team_id") or ""), event_id=doc["event_id"], body=body, doc=doc
            )
        except Exception as exc:  # noqa: BLE001 - the store away: Slack retries later
            log.warning("slack_event_not_taken", exc_type=type(exc).__name__)
            return _answer(Reason.UNAVAILABLE, 503)
    return web.Response(status=200)


def build_events_app(
    sink: EventSink,
    signing_secret: str,
    *,
    refusals: Refusals,
    clock: Callable[[], float] = time.time,
    interactions: Interactions | None = None,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """``POST /slack/events``; with ``interactions``, ``POST /slack/interactivity`` too (the
    same signature check). ``registry``: where ``relay_http_bad_requests_total`` is counted."""
    # client_max_size one past the limit: a body of exactly the limit is read whole
    app = web.Application(
        client_max_size=MAX_EVENT_BYTES + 1, handler_args=listener_args("slack", registry)
    )
    edge = app[EDGE] = _Edge(sink, signing_secret.encode("utf-8"), refusals, clock)
    app.router.add_post("/slack/events", _events)
    if interactions is not None:
        app[INTERACTIONS] = interactions

        async def interact(request: web.Request) -> web.Response:
            return await interactivity(
                request, secret=edge.secret, now=edge.clock(), refusals=edge.refusals
            )

        app.router.add_post("/slack/interactivity", interact)
    return app
