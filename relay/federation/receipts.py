"""Receipts between relays: ``POST /v1/receipts``.

``{"receipts": [token, ...]}`` (at most 100) from a pinned peer, exactly as envelopes come
(:func:`relay.federation.server.read_from_peer`: certificate pinning, rate limit, size and time
limits) and read as strictly (:func:`relay.federation.server.parse_body`: ``application/json``,
strict UTF-8, no name twice; else 400 with ``unsupported_media_type``, ``malformed`` or
``bad_request``). Each receipt is answered on its own, in order: ``{"status": "stored" |
"duplicate" | "forwarded"}`` or ``{"error": code}`` (a receipt that does not verify, or is
about an envelope this relay never passed on). A request that is not a list of receipts is
refused whole: 400 ``{"error": "bad_request"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from aiohttp import web

from relay.core.defaults import RECEIPT_BATCH, RECEIPT_BODY_BYTES
from relay.core.reasons import Reason
from relay.errors import AuditWriteError
from relay.federation.server import parse_body, read_from_peer

__all__ = ["RECEIPTS_PATH", "ReceiptHandler", "add_receipt_routes"]

RECEIPTS_PATH: Final = "/v1/receipts"
MAX_BATCH: Final = RECEIPT_BATCH


class ReceiptHandler(Protocol):
    """What the route hands receipts to (:class:`relay.flow.receipts.ReceiptDesk`)."""

    async def take(self, peer: str, tokens: Sequence[object]) -> list[dict[str, str]]: ...


RECEIPT_HANDLER: Final = web.AppKey("receipt_handler", ReceiptHandler)


async def _post(request: web.Request) -> web.Response:
    got = await read_from_peer(request, RECEIPT_BODY_BYTES)
    if isinstance(got, web.Response):
        return got
    peer, body = got
    doc = parse_body(request, body, RECEIPT_BODY_BYTES)  # as strict as an envelope's
    if isinstance(doc, Reason):
        status = 413 if doc is Reason.TOO_LARGE else 400
        return web.json_response({"error": doc}, status=status)
    tokens = doc.get("receipts") if isinstance(doc, dict) and len(doc) == 1 else None
    if not isinstance(tokens, list) or not 0 < len(tokens) <= MAX_BATCH:
        return web.json_response({"error": Reason.BAD_REQUEST}, status=400)
    try:
        results = await request.app[RECEIPT_HANDLER].take(peer, tokens)
    except AuditWriteError:
        return web.json_response({"error": Reason.UNAVAILABLE}, status=503)
    return web.json_response({"results": results})


def add_receipt_routes(app: web.Application, handler: ReceiptHandler) -> None:
    """Add the receipts route to a federation app (before it starts)."""
    app[RECEIPT_HANDLER] = handler
    app.router.add_post(RECEIPTS_PATH, _post)
