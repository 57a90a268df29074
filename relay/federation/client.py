"""Sending envelopes to partner relays over mutual TLS.

Library errors are mapped once, here, to :class:`~relay.errors.DeliveryError` with a stable
code and whether a retry can help; response bodies are never logged or raised as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp

from relay.core import defaults
from relay.core.reasons import HTTP_REASONS, Reason
from relay.errors import DeliveryError, TransactionsUnsupported

__all__ = ["PeerClient", "RetryPolicy", "SendResult"]

T = TypeVar("T")
_RETRYABLE_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def _code(payload: dict[str, Any], status: int) -> str:
    """A partner's error string is partner-controlled: only a reason a relay answers over
    HTTP is kept as the code, anything else is ``http_<status>``."""
    reason = Reason.parse(payload.get("error"))
    return reason if reason in HTTP_REASONS else f"http_{status}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    status: str  # "accepted" or "duplicate"
    envelope_id: str
    receipt: str | None = None  # the partner's signed "accepted" receipt, if it sent one


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; only retryable failures are retried."""

    attempts: int = defaults.PEER_ATTEMPTS
    base: float = defaults.PEER_RETRY_BASE
    cap: float = defaults.PEER_RETRY_CAP

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        return float(rng() * min(self.cap, self.base * 2.0**attempt))


class PeerClient:
    """One ``ClientSession`` for every partner; create inside a running event loop."""

    def __init__(
        self,
        urls: Mapping[str, str],
        ssl_context: ssl.SSLContext,
        *,
        timeout: float = defaults.PEER_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._urls = urls  # read at send time: partners may be added while running
        self._ssl = ssl_context
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit_per_host=16),
        )

    async def close(self) -> None:
        await self._session.close()

    def _url(self, partner: str) -> str:
        """The partner's relay URL; ``partner_unknown`` (not retryable) when there is none."""
        url = self._urls.get(partner)
        if url is None:
            raise DeliveryError(
                f"no relay url for partner {partner}", code="partner_unknown", retryable=False
            )
        return url

    async def send(self, partner: str, envelope: Mapping[str, Any]) -> SendResult:
        """Send with retries: a retryable failure waits (``Retry-After`` if the partner gave
        one, else backoff with jitter) and tries again; the last error is raised."""
        body = json.dumps(envelope, separators=(",", ":")).encode()
        return await self._with_retries(lambda: self.send_once(partner, body))

    async def put_blob(self, partner: str, sha256: str, mime: str, data: bytes) -> None:
        """Push a file's bytes (content-addressed) before the envelope that names it."""
        url = self._url(partner)
        target = f"{url.rstrip('/')}/v1/files/{sha256}"
        await self._with_retries(lambda: _put_once(self._session, target, partner, mime, data))

    async def put_blob_once(self, partner: str, sha256: str, mime: str, data: bytes) -> None:
        """One attempt at pushing a file (the outbox does the retrying)."""
        url = self._url(partner)
        await _put_once(self._session, f"{url.rstrip('/')}/v1/files/{sha256}", partner, mime, data)

    async def send_checkpoint(self, partner: str, token: str) -> str:
        """One attempt at handing a signed audit checkpoint to a partner (the next interval
        sends a newer one); returns its ``status``: stored, conflict or stale."""
        payload = await self._audit_call(partner, "POST", {"token": token})
        status = payload.get("status")
        return status if status in ("stored", "conflict", "stale") else "unknown"

    async def fetch_checkpoints(self, partner: str) -> list[str]:
        """The checkpoint tokens ``partner`` keeps of this relay (verify them before use)."""
        payload = await self._audit_call(partner, "GET", None)
        tokens = payload.get("checkpoints")
        if not isinstance(tokens, list):
            return []
        return [t for t in tokens if isinstance(t, str)]

    async def _audit_call(
        self, partner: str, method: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        url = self._url(partner)
        async with (
            _mapped(partner),
            self._session.request(
                method, f"{url.rstrip('/')}/v1/audit/checkpoints", json=body
            ) as resp,
        ):
            payload = await _json(resp)
            if resp.status == 200:
                return payload
            raise DeliveryError(
                f"partner {partner} refused a checkpoint call ({resp.status})",
                code=_code(payload, resp.status),
                retryable=resp.status in _RETRYABLE_STATUS,
                retry_after=_seconds(resp.headers.get("Retry-After")),
            )

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(self._retry.attempts):
            try:
                return await attempt()
            except DeliveryError as exc:
                if not exc.retryable or number == self._retry.attempts - 1:
                    raise
                wait = exc.retry_after
                if wait is None:
                    wait = self._retry.delay(number, self._rng)
                await self._sleep(min(wait, self._retry.cap))
        raise AssertionError("unreachable")  # pragma: no cover

    async def send_receipts(self, partner: str, tokens: Sequence[str]) -> list[str | None]:
        """One ``POST /v1/receipts``: each receipt's answer (None: taken; else the partner's
        code). A partner without the endpoint (an older relay) answers every one
        ``receipts_unsupported``; a refusal of the whole request raises."""
        body = json.dumps({"receipts": list(tokens)}, separators=(",", ":")).encode()
        status, payload, headers = await self._post_json(partner, "/v1/receipts", body)
        if status == 404:
            return ["receipts_unsupported"] * len(tokens)
        results = payload.get("results")
        if status != 200 or not isinstance(results, list) or len(results) != len(tokens):
            code = _code(payload, status) if status != 200 else "delivery_failed"
            raise DeliveryError(
                f"partner {partner} refused receipts: {code} ({status})",
                code=code,
                retryable=status in _RETRYABLE_STATUS or status == 200,
                retry_after=_seconds(headers.get("Retry-After")),
            )
        return [
            None
            if isinstance(r, dict) and r.get("status") in ("stored", "duplicate", "forwarded")
            else _code(r if isinstance(r, dict) else {}, 400)
            for r in results
        ]

    async def send_transaction_once(
        self, partner: str, bodies: Sequence[bytes]
    ) -> list[SendResult | DeliveryError]:
        """One attempt at sending ``bodies`` (envelopes, as :meth:`send_once` takes them) in
        one ``POST /v1/transactions``: each answered on its own, in order. A refusal of the
        whole request raises; a partner without the endpoint (404) raises
        :class:`TransactionsUnsupported`."""
        body = b'{"envelopes":[' + b",".join(bodies) + b"]}"
        status, payload, headers = await self._post_json(partner, "/v1/transactions", body)
        if status == 404:
            raise TransactionsUnsupported(partner)
        results = payload.get("results")
        if status != 200 or not isinstance(results, list) or len(results) != len(bodies):
            # 200 with answers that do not fit: the partner's fault, tried again later
            code = _code(payload, status) if status != 200 else "delivery_failed"
            raise DeliveryError(
                f"partner {partner} refused a transaction: {code} ({status})",
                code=code,
                retryable=status in _RETRYABLE_STATUS or status == 200,
                retry_after=_seconds(headers.get("Retry-After")),
            )
        return [_answer(partner, r) for r in results]

    async def send_once(self, partner: str, body: bytes) -> SendResult:
        status, payload, headers = await self._post_json(partner, "/v1/envelopes", body)
        if status == 200:
            return SendResult(
                status=str(payload.get("status", "accepted")),
                envelope_id=str(payload.get("envelope", "")),
                receipt=_token(payload.get("receipt")),
            )
        code = _code(payload, status)
        reason = Reason.parse(code)
        raise DeliveryError(
            f"partner {partner} refused: {code} ({status})",
            code=code,
            # a retryable status, or a reason we know to be retryable (topic_not_mapped, a 422)
            retryable=status in _RETRYABLE_STATUS or (reason is not None and reason.retryable),
            retry_after=_seconds(headers.get("Retry-After")),
        )

    async def _post_json(
        self, partner: str, path: str, body: bytes
    ) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        """One POST of a JSON body to the partner: its status, JSON answer and headers."""
        url = self._url(partner)
        async with (
            _mapped(partner),
            self._session.post(
                f"{url.rstrip('/')}{path}",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            return resp.status, await _json(resp), resp.headers


def _answer(partner: str, result: object) -> SendResult | DeliveryError:
    """One envelope's answer within a transaction."""
    if isinstance(result, dict) and result.get("status") in ("accepted", "duplicate"):
        return SendResult(
            status=str(result["status"]),
            envelope_id=str(result.get("envelope", "")),
            receipt=_token(result.get("receipt")),
        )
    code = _code(result if isinstance(result, dict) else {}, 400)
    reason = Reason.parse(code)
    return DeliveryError(
        f"partner {partner} refused: {code}",
        code=code,
        retryable=reason.retryable if reason is not None else False,
    )


async def _put_once(
    session: aiohttp.ClientSession, url: str, partner: str, mime: str, data: bytes
) -> None:
    async with (
        _mapped(partner),
        session.put(url, data=data, headers={"Content-Type": mime}) as resp,
    ):
        payload = await _json(resp)
        if resp.status != 200:
            code = _code(payload, resp.status)
            raise DeliveryError(
                f"partner {partner} refused a file: {code}",
                code=code,
                retryable=resp.status in _RETRYABLE_STATUS,
                retry_after=_seconds(resp.headers.get("Retry-After")),
            )


@contextlib.asynccontextmanager
async def _mapped(partner: str) -> AsyncIterator[None]:
    """A call to ``partner``: the library's failures as a retryable :class:`DeliveryError`,
    ``tls_failed`` or ``unreachable``; a ``DeliveryError`` raised inside passes as it is."""
    try:
        yield
    except DeliveryError:
        raise
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        raise DeliveryError(
            f"TLS with partner {partner} failed",
            code=Reason.TLS_FAILED,
            retryable=True,
            cause=type(exc).__name__,
        ) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise DeliveryError(
            f"partner {partner} unreachable",
            code=Reason.UNREACHABLE,
            retryable=True,
            cause=type(exc).__name__,
        ) from None


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        value = await resp.json(content_type=None)
    except (ValueError, RecursionError, aiohttp.ContentTypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _token(value: object) -> str | None:
    """A receipt as the partner gave it (verified by whoever keeps it), if it is a string."""
    return value if isinstance(value, str) and len(value) <= 4096 else None


def _seconds(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None
