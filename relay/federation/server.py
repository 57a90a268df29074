"""The federation listener: ``POST /v1/envelopes`` and ``/v1/transactions``, ``PUT /v1/files``,
``GET /v1/keys``, ``/healthz``, ``/readyz``.

HTTP concerns only (who the TLS peer is, rate, size, time, status codes); what an envelope
means is the flow's business (:class:`EnvelopeHandler`, ``relay.flow.door.Door``). Every
refusal is answered ``{"error": "<reason>"}`` with a stable reason and status, and counted
(ids and codes only; ``relay.flow.refusals`` writes them in aggregate, off the loop).
See ``docs/openapi.yaml``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

from relay.core import defaults
from relay.core.json_strict import JsonRefused, loads_strict
from relay.core.reasons import Reason
from relay.errors import RelayError, VerificationError
from relay.federation.tls import peer_fingerprint
from relay.http_edge import content_coded, listener_args
from relay.store.contract import BlobHold, RefusalRecord

__all__ = [
    "Accepted",
    "EnvelopeHandler",
    "RateLimiter",
    "admit",
    "build_federation_app",
    "parse_body",
    "read_body",
    "read_from_peer",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    envelope_id: str
    duplicate: bool
    issuer: str = ""  # the agency that wrote it


class EnvelopeHandler(Protocol):
    """What the federation listener hands a request body to (``relay.flow.door.Door``)."""

    agency: str

    async def handle_peer_envelope(
        self, body: bytes, *, peer: str, data: object | None = None
    ) -> Accepted:
        """Verify, store durably, then return; raise ``VerificationError`` to refuse.
        ``data``: the body already parsed (an envelope of a transaction)."""

    def partner_for_fingerprint(self, fingerprint: str) -> str | None: ...

    def receipt(self, accepted: Accepted) -> str | None:
        """The signed ``accepted`` receipt that goes with the answer (None: none)."""

    def public_jwks(self) -> dict[str, Any]: ...

    async def readiness(self) -> dict[str, bool]: ...

    async def record_refusal(self, record: RefusalRecord) -> None:
        """Counted at once, written later in a batch: nothing blocks or is written here."""

    async def store_blob(self, sha256: str, mime: str, data: bytes, *, peer: str) -> BlobHold:
        """A checked file kept, charged to ``peer`` (``relay.federation.files``)."""

    async def blob_room(self, sha256: str, size: int, *, peer: str) -> BlobHold:
        """What :meth:`store_blob` would answer now (a read, nothing kept)."""


UNKNOWN_PEER: Final = "unknown"  # every certificate nobody pinned: one peer, one bucket
MAX_BUCKETS: Final = 4096  # partners are few; a bound all the same


@dataclass(slots=True)
class RateLimiter:
    """A token bucket per peer: ``rate`` tokens a second, at most ``burst`` saved up. The
    certificates no partner pinned share one bucket (:data:`UNKNOWN_PEER`)."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, peer: str) -> float:
        """0 when allowed; otherwise the seconds to wait before trying again."""
        now = self.clock()
        if peer not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
            del self._buckets[next(iter(self._buckets))]  # the oldest: it starts full again
        tokens, last = self._buckets.get(peer, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[peer] = (tokens - 1.0, now)
            return 0.0
        self._buckets[peer] = (tokens, now)
        return (1.0 - tokens) / self.rate


MAX_TRANSACTION: Final = defaults.TRANSACTION_ENVELOPES  # envelopes in one transaction
TRANSACTION_BODIES: Final = 8  # a transaction's body: at most this many times max_body_bytes
HANDLER: Final = web.AppKey("handler", EnvelopeHandler)
LIMITER: Final = web.AppKey("limiter", RateLimiter)
LIMITS: Final = web.AppKey("limits", dict)


async def _refusal(
    request: web.Request,
    reason: Reason,
    *,
    peer: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    status = await _record(request, reason, peer=peer, body=body)
    return web.json_response({"error": reason}, status=status, headers=headers)


async def _record(request: web.Request, reason: Reason, *, peer: str, body: bytes | None) -> int:
    """A refusal counted (ids and codes only; logged and kept in aggregate); its HTTP
    status."""
    status = reason.http_status or 400
    await request.app[HANDLER].record_refusal(
        RefusalRecord(
            at=dt.datetime.now(dt.UTC),
            peer=peer,
            reason=reason,
            http_status=status,
            digest=hashlib.sha256(body).hexdigest() if body else None,
        )
    )
    return status


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Any exception: a JSON error and a status; nothing of the request is echoed."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except RelayError as exc:
        return web.json_response({"error": exc.code}, status=exc.http_status)
    except Exception:  # noqa: BLE001 - last line of defence: never a traceback to a peer
        return web.json_response({"error": Reason.INTERNAL}, status=500)


async def _admit(request: web.Request) -> str | web.Response:
    """Who the TLS peer is and its rate, before anything is read; or the refusal to answer
    (only counted: :meth:`EnvelopeHandler.record_refusal` writes nothing on the loop)."""
    handler = request.app[HANDLER]
    fingerprint = peer_fingerprint(request.transport)
    peer = handler.partner_for_fingerprint(fingerprint) if fingerprint else None
    wait = request.app[LIMITER].take(peer or UNKNOWN_PEER)
    if wait > 0:
        return await _refusal(
            request,
            Reason.RATE_LIMITED,
            peer=peer or UNKNOWN_PEER,
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    if peer is None:
        return await _refusal(request, Reason.PEER_UNKNOWN, peer=UNKNOWN_PEER)
    return peer


async def _read_body(request: web.Request, peer: str, limit: int) -> bytes | web.Response:
    """The body of an admitted peer's request within ``limit`` bytes and the time allowed, or
    the refusal to answer. A content-coded body is refused unread."""
    if content_coded(request):  # never decompressed (relay.http_edge)
        return await _refusal(request, Reason.UNSUPPORTED_MEDIA_TYPE, peer=peer)
    if request.content_length is not None and request.content_length > limit:
        return await _refusal(request, Reason.TOO_LARGE, peer=peer)
    try:
        async with asyncio.timeout(request.app[LIMITS]["read_timeout"]):
            body = await request.read()
    except TimeoutError:
        return await _refusal(request, Reason.TIMEOUT, peer=peer)
    except web.HTTPRequestEntityTooLarge:
        return await _refusal(request, Reason.TOO_LARGE, peer=peer)
    if len(body) > limit:
        return await _refusal(request, Reason.TOO_LARGE, peer=peer)
    return body


async def _read_from_peer(request: web.Request, limit: int) -> tuple[str, bytes] | web.Response:
    """Who the TLS peer is, its rate, and the body within ``limit`` bytes and the time
    allowed; or the refusal to answer. The peer and its rate are checked first."""
    peer = await _admit(request)
    if isinstance(peer, web.Response):
        return peer
    body = await _read_body(request, peer, limit)
    if isinstance(body, web.Response):
        return body
    return peer, body


admit: Final = _admit  # for routes that do more between the two (files: upload slots)
read_body: Final = _read_body
read_from_peer: Final = _read_from_peer  # for routes added elsewhere (audit checkpoints)


def _json_media_type(request: web.Request) -> bool:
    """``application/json``, with no charset or UTF-8 (RFC 8259 section 8.1)."""
    charset = request.charset
    return request.content_type == "application/json" and (
        charset is None or charset.lower() in ("utf-8", "utf8")
    )


def _parse_body(request: web.Request, body: bytes, limit: int) -> object | Reason:
    """The body as strict JSON (UTF-8, no duplicate names, bounded depth), or the reason."""
    if not _json_media_type(request):
        return Reason.UNSUPPORTED_MEDIA_TYPE
    try:
        doc: object = loads_strict(body, max_bytes=limit)
    except JsonRefused as exc:
        return exc.peer_code
    return doc


parse_body: Final = _parse_body  # for routes added elsewhere (receipts, audit checkpoints)


async def _post_envelope(request: web.Request) -> web.Response:
    got = await _read_from_peer(request, request.app[LIMITS]["max_body"])
    if isinstance(got, web.Response):
        return got
    peer, body = got
    data = _parse_body(request, body, request.app[LIMITS]["max_body"])
    if isinstance(data, Reason):
        return await _refusal(request, data, peer=peer, body=body)
    try:
        accepted = await request.app[HANDLER].handle_peer_envelope(body, peer=peer, data=data)
    except VerificationError as exc:
        return await _refusal(request, exc.code, peer=peer, body=body)
    answer = {
        "status": "duplicate" if accepted.duplicate else "accepted",
        "envelope": accepted.envelope_id,
    }
    receipt = request.app[HANDLER].receipt(accepted)
    if receipt is not None:
        answer["receipt"] = receipt
    return web.json_response(answer)


async def _post_transaction(request: web.Request) -> web.Response:
    """``POST /v1/transactions``: up to :data:`MAX_TRANSACTION` envelopes for this relay in one
    request, each accepted, refused or found a duplicate on its own (as ``POST /v1/envelopes``
    would answer it), in order. A request that is not a transaction is refused whole."""
    got = await _read_from_peer(request, request.app[LIMITS]["max_transaction"])
    if isinstance(got, web.Response):
        return got
    peer, body = got
    doc = _parse_body(request, body, request.app[LIMITS]["max_transaction"])
    if isinstance(doc, Reason):  # not JSON at all is "not a transaction": bad_request
        return await _refusal(request, doc, peer=peer, body=body)
    envelopes = doc.get("envelopes") if isinstance(doc, dict) and len(doc) == 1 else None
    if not isinstance(envelopes, list) or not 0 < len(envelopes) <= MAX_TRANSACTION:
        return await _refusal(request, Reason.BAD_REQUEST, peer=peer, body=body)
    handler = request.app[HANDLER]

    async def one(data: object) -> dict[str, str]:
        raw = json.dumps(data, separators=(",", ":")).encode()
        if len(raw) > request.app[LIMITS]["max_body"]:
            await _record(request, Reason.TOO_LARGE, peer=peer, body=None)
            return {"error": Reason.TOO_LARGE}
        try:
            accepted = await handler.handle_peer_envelope(raw, peer=peer, data=data)
        except VerificationError as exc:
            await _record(request, exc.code, peer=peer, body=raw)
            return {"error": exc.code}
        except RelayError as exc:
            return {"error": exc.code}
        except Exception:  # noqa: BLE001 - one envelope's failure is its own, retryable
            return {"error": Reason.INTERNAL}
        status = "duplicate" if accepted.duplicate else "accepted"
        answer = {"envelope": accepted.envelope_id, "status": status}
        receipt = handler.receipt(accepted)
        if receipt is not None:
            answer["receipt"] = receipt
        return answer

    # Verified in order before any is stored, and their writes share one commit: a thread's
    # envelopes are queued in the order they came.
    results = await asyncio.gather(*(one(data) for data in envelopes))
    return web.json_response({"results": results})


async def _keys(request: web.Request) -> web.Response:
    return web.json_response(request.app[HANDLER].public_jwks())


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    checks = await request.app[HANDLER].readiness()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


def build_federation_app(
    handler: EnvelopeHandler,
    *,
    max_body_bytes: int,
    read_timeout: float,
    rate_per_second: float,
    rate_burst: int,
    max_file_bytes: int = defaults.MAX_FILE_BYTES,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The listener's routes; ``registry``: where ``relay_http_bad_requests_total`` is
    counted (None: not counted)."""
    largest = max(max_body_bytes * TRANSACTION_BODIES, max_body_bytes, max_file_bytes)
    app = web.Application(
        middlewares=[_errors],
        client_max_size=largest,  # each route checks its own, smaller limit
        handler_args=listener_args("federation", registry),
    )
    app[HANDLER] = handler
    app[LIMITER] = RateLimiter(rate=rate_per_second, burst=rate_burst)
    app[LIMITS] = {
        "max_body": max_body_bytes,
        "max_transaction": max_body_bytes * TRANSACTION_BODIES,
        "max_file": max_file_bytes,
        "read_timeout": read_timeout,
    }
    app.router.add_post("/v1/envelopes", _post_envelope)
    app.router.add_post("/v1/transactions", _post_transaction)
    from relay.federation.files import add_file_routes  # it reads the app keys above

    add_file_routes(app)  # PUT /v1/files/{sha256}
    app.router.add_get("/v1/keys", _keys)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app
