"""Audit checkpoints between partners: ``POST`` and ``GET /v1/audit/checkpoints``.

A relay signs its audit chain head at an interval and sends the token to its partners, who
keep it (:meth:`relay.ledger.Ledger.receive_checkpoint`). A partner holding our checkpoints
can later show that our log was truncated or rewritten. ``GET`` answers the requesting peer
the checkpoints this relay keeps *of that peer* (the newest
:data:`~relay.ledger.SERVED_CHECKPOINTS`, 1000, oldest first), so a relay can collect what
others hold of it. The peer is the one its pinned TLS client certificate names, exactly as
for envelopes (:func:`relay.federation.server.read_from_peer`: pinning, rate limit, size and
time limits), the body read as strictly (:func:`relay.federation.server.parse_body`:
``application/json``, strict UTF-8, no name twice).

Answers: ``200 {"status": "stored"|"conflict"|"stale"}``, ``200 {"checkpoints": [token,
...]}``; refusals ``{"error": code}`` with 400 (``bad_request``, ``malformed``,
``unsupported_media_type``, ...), 403 (``signature_invalid``, ``key_not_pinned``,
``issuer_mismatch``, ``peer_unknown``, ...) or 503 (``unavailable``: this relay's audit writes
are failing).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Final, Protocol

from aiohttp import web

from relay.core.defaults import CHECKPOINT_BODY_BYTES
from relay.core.reasons import Reason
from relay.errors import AuditWriteError, CheckpointError
from relay.federation.server import HANDLER, parse_body, read_from_peer
from relay.ledger import SERVED_CHECKPOINTS
from relay.store.contract import RefusalRecord

__all__ = ["CHECKPOINTS_PATH", "CheckpointHandler", "add_checkpoint_routes"]

CHECKPOINTS_PATH: Final = "/v1/audit/checkpoints"
MAX_CHECKPOINT_BODY: Final = CHECKPOINT_BODY_BYTES


class CheckpointHandler(Protocol):
    """What the routes hand checkpoints to (:class:`relay.ledger.Ledger`); called in a
    worker thread (the store is synchronous)."""

    def receive_checkpoint(self, partner: str, token: str) -> str: ...

    def kept_tokens(self, issuer: str) -> list[str]:
        """The newest checkpoints kept of ``issuer`` (at most ``SERVED_CHECKPOINTS``)."""


CHECKPOINT_HANDLER: Final = web.AppKey("checkpoint_handler", CheckpointHandler)


def _status(reason: Reason) -> int:
    """A refused checkpoint is answered 403 when the table says 403 (a key or signature that
    is not good enough), else 400: a checkpoint call is not an envelope, and a checkpoint
    whose key or time does not fit is a bad request, not a 422."""
    return 403 if reason.http_status == 403 else 400


async def _refuse(request: web.Request, code: Reason, *, peer: str, body: bytes) -> web.Response:
    status = _status(code)
    await request.app[HANDLER].record_refusal(
        RefusalRecord(
            at=dt.datetime.now(dt.UTC),
            peer=peer,
            reason=code,
            http_status=status,
            digest=hashlib.sha256(body).hexdigest() if body else None,
        )
    )
    return web.json_response({"error": code}, status=status)


async def _post(request: web.Request) -> web.Response:
    got = await read_from_peer(request, MAX_CHECKPOINT_BODY)
    if isinstance(got, web.Response):
        return got
    peer, body = got
    value = parse_body(request, body, MAX_CHECKPOINT_BODY)  # as strict as an envelope's
    if isinstance(value, Reason):
        return await _refuse(request, value, peer=peer, body=body)
    token = value.get("token") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(token, str):
        return await _refuse(request, Reason.BAD_REQUEST, peer=peer, body=body)
    handler = request.app[CHECKPOINT_HANDLER]
    try:
        status = await asyncio.to_thread(handler.receive_checkpoint, peer, token)
    except CheckpointError as exc:
        return await _refuse(request, exc.code, peer=peer, body=body)
    except AuditWriteError:
        return web.json_response({"error": Reason.UNAVAILABLE}, status=503)
    return web.json_response({"status": status})


async def _get(request: web.Request) -> web.Response:
    got = await read_from_peer(request, 0)
    if isinstance(got, web.Response):
        return got
    peer, _ = got
    tokens = await asyncio.to_thread(request.app[CHECKPOINT_HANDLER].kept_tokens, peer)
    # the newest only, whatever the handler gave: a year of them would be ~105,000
    return web.json_response({"checkpoints": tokens[-SERVED_CHECKPOINTS:]})


def add_checkpoint_routes(app: web.Application, handler: CheckpointHandler) -> None:
    """Add the checkpoint routes to a federation app (before it starts)."""
    app[CHECKPOINT_HANDLER] = handler
    app.router.add_post(CHECKPOINTS_PATH, _post)
    app.router.add_get(CHECKPOINTS_PATH, _get)
