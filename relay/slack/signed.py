"""A request Slack signed, read at the HTTP edge: the body (bounded in size and time) and the
signing headers checked before anything else reads either. Shared by ``POST /slack/events``
and any later Slack endpoint with the same signature (``POST /slack/interactivity``: then
:func:`relay.core.slack_request.form_payload` on the body).

What refuses, and how: an unauthenticated request gets a 4xx with ``{"error": reason}`` and
is counted (:meth:`Refusals.slack_rejected`), never logged; a signed body the relay cannot
use is acknowledged by the endpoint (Slack stops retrying) and reported with
:meth:`Refusals.slack_refused`.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

from aiohttp import web

from relay.core.reasons import Reason
from relay.core.slack_request import MAX_SIGNATURE_HEADER, MAX_TIMESTAMP_DIGITS, check_signature
from relay.http_edge import content_coded

__all__ = ["BODY_TIMEOUT", "EDGE_STATUS", "Refusals", "Rejected", "read_signed_body"]

BODY_TIMEOUT: Final = 10.0  # seconds for the whole body to arrive
# The status of each refusal an unauthenticated request can get.
EDGE_STATUS: Final = {
    Reason.TOO_LARGE: 413,
    Reason.TIMEOUT: 408,
    Reason.BAD_REQUEST: 400,
    Reason.UNSUPPORTED_MEDIA_TYPE: 415,  # a Content-Encoding: bodies are never decompressed
    Reason.TIMESTAMP_INVALID: 401,
    Reason.TIMESTAMP_SKEWED: 401,
    Reason.SIGNATURE_INVALID: 401,
}
_SIGNATURE: Final = "X-Slack-Signature"
_TIMESTAMP: Final = "X-Slack-Request-Timestamp"


class Refusals(Protocol):
    """Where the Slack edges report what they refused (the flow's recorder)."""

    def slack_rejected(self, reason: str) -> None:
        """An unauthenticated request refused: counted only."""

    def slack_refused(self, reason: str, event_id: str | None, field: str | None = None) -> None:
        """A signed (or stored) event the relay cannot use: counted, logged with codes."""


class Rejected(Exception):
    """An unauthenticated request refused with ``reason`` (status :data:`EDGE_STATUS`)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.status = EDGE_STATUS[reason]

    def response(self) -> web.Response:
        return web.json_response({"error": self.reason.value}, status=self.status)


def _header(request: web.Request, name: str, limit: int) -> str | None:
    """The one value of header ``name`` if it is at most ``limit`` ASCII characters: None
    when absent, repeated, too long or not ASCII (the check refuses None)."""
    values = request.headers.getall(name, [])
    if len(values) != 1:
        return None
    value = values[0]
    return value if len(value) <= limit and value.isascii() else None


async def read_signed_body(
    request: web.Request, *, secret: bytes, now: float, max_bytes: int
) -> bytes:
    """The body of a request Slack signed, or :class:`Rejected`."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise Rejected(Reason.TOO_LARGE)
    if content_coded(request):  # Slack sends none; never decompressed (relay.http_edge)
        raise Rejected(Reason.UNSUPPORTED_MEDIA_TYPE)
    # Headers first: a request without a plausible signature is not read at all.
    timestamp = _header(request, _TIMESTAMP, MAX_TIMESTAMP_DIGITS)
    signature = _header(request, _SIGNATURE, MAX_SIGNATURE_HEADER)
    if timestamp is None:
        raise Rejected(Reason.TIMESTAMP_INVALID)
    if signature is None:
        raise Rejected(Reason.SIGNATURE_INVALID)
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            body = await request.read()  # the app's client_max_size bounds it
    except TimeoutError:
        raise Rejected(Reason.TIMEOUT) from None
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(Reason.TOO_LARGE) from None
    except Exception:  # noqa: BLE001 - a broken chunked or compressed body: the sender's
        raise Rejected(Reason.BAD_REQUEST) from None
    if len(body) > max_bytes:
        raise Rejected(Reason.TOO_LARGE)
    refused = check_signature(secret, timestamp=timestamp, signature=signature, body=body, now=now)
    if refused is not None:
        raise Rejected(refused)
    return body
