"""Events API over HTTP: signed POSTs to the Request URL, Slack's retry headers and reasons."""

from __future__ import annotations

import hashlib
import hmac
import json

import aiohttp

from relay.lab.emulator.delivery import Attempt, DeliveryRecord
from relay.lab.emulator.model import Json, Workspace
from relay.lab.emulator.spec import EventsApi, Timings
from relay.lab.emulator.state import EmulatorState

__all__ = ["USER_AGENT", "HttpTransport", "sign"]

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 scheme: ``v0=`` + hex HMAC-SHA256 over ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class HttpTransport:
    def __init__(self, state: EmulatorState, timings: Timings) -> None:
        self._state = state
        self._timings = timings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self, ws: Workspace, body: bytes) -> dict[str, str]:
        timestamp = str(self._state.now())
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(ws.signing_secret, timestamp, body),
        }

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, bool]:
        if self._session is None:
            raise RuntimeError("emulator not started")
        timeout = aiohttp.ClientTimeout(total=self._timings.http_timeout)
        async with self._session.post(
            url, data=body, headers=headers, timeout=timeout, max_redirects=2
        ) as resp:
            content = await resp.read()
            return resp.status, content, resp.headers.get("X-Slack-No-Retry") == "1"

    async def post_form(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One POST of a form body (interactions); raises aiohttp/timeout errors as they come."""
        status, content, _ = await self._post(url, headers, body)
        return status, content

    async def attempt(
        self, ws: Workspace, record: DeliveryRecord, retry_num: int, reason: str
    ) -> Attempt:
        def failed(why: str, status: int | None = None, no_retry: bool = False) -> Attempt:
            return Attempt(
                retry_num=retry_num, ok=False, reason=why, status=status, no_retry=no_retry
            )

        if not isinstance(ws.delivery, EventsApi) or ws.delivery_failing:
            return failed("connection_failed")
        body = json.dumps(record.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._headers(ws, body)
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = reason
        try:
            status, _, no_retry = await self._post(ws.delivery.url, headers, body)
        except TimeoutError:
            return failed("http_timeout")
        except aiohttp.TooManyRedirects:
            return failed("too_many_redirects")
        except aiohttp.ClientSSLError:
            return failed("ssl_error")
        except aiohttp.ClientConnectionError:
            return failed("connection_failed")
        except aiohttp.ClientError:
            return failed("unknown_error")
        if 200 <= status < 300:
            return Attempt(retry_num=retry_num, ok=True, status=status)
        return failed("http_error", status, no_retry)

    async def verify_url(self, ws: Workspace, url: str) -> bool:
        """Send a signed ``url_verification`` challenge; True if it is echoed back."""
        challenge = self._state.new_id("challenge-")
        payload: Json = {
            "token": ws.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            status, content, _ = await self._post(url, self._headers(ws, body), body)
        except (TimeoutError, aiohttp.ClientError):
            return False
        if status != 200:
            return False
        if content.strip() == challenge.encode():
            return True
        try:
            answer = json.loads(content)
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("challenge") == challenge
