"""Delivering interaction payloads, both ways Slack does, and what the app answered.

Over HTTP: ``POST <interactivity URL>``, ``Content-Type: application/x-www-form-urlencoded``,
body ``payload=<urlencoded JSON>``, signed with the v0 scheme over the raw form body like
events. Over Socket Mode: an ``interactive`` envelope with ``accepts_response_payload: true``;
the ack may carry a ``payload`` (``response_action``...). Either way the app has 3 seconds
(HTTP 200 / the ack); Slack does not retry an interaction, it shows the person an error.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import aiohttp

from relay.lab.emulator.model import Json, Workspace
from relay.lab.emulator.socket_mode import SocketHub
from relay.lab.emulator.spec import SocketMode, Timings
from relay.lab.emulator.state import EmulatorState
from relay.lab.emulator.webhook import USER_AGENT, HttpTransport, sign

__all__ = ["ACK_WINDOW", "Interaction", "InteractionSender", "form_body"]

ACK_WINDOW: Final = 3.0
"""Slack's: an interaction unacknowledged after 3 s fails for the person."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Interaction:
    """One delivered interaction and the app's answer."""

    team_id: str
    payload: Json
    via: str | None
    """``"http"``, ``"socket"``, or ``None`` when the app has no interactivity target."""
    acked: bool
    """HTTP 200, or a socket ack, within the ack window."""
    elapsed: float
    """Seconds from sending to the answer (or to giving up)."""
    status: int | None = None
    body: bytes = b""
    response: Json | None = None
    """The JSON the app answered with: the HTTP body, or the socket ack's ``payload``."""
    reason: str = ""
    """Why not acknowledged: ``http_error``, ``http_timeout``, ``connection_failed``,
    ``timeout`` (socket), ``no_target``."""

    @property
    def trigger_id(self) -> str:
        value = self.payload.get("trigger_id")
        return value if isinstance(value, str) else ""

    def acked_within(self, seconds: float = ACK_WINDOW) -> bool:
        return self.acked and self.elapsed <= seconds


def form_body(payload: Json) -> bytes:
    """``payload=<urlencoded JSON>``, the body Slack signs and posts."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return urlencode({"payload": text}).encode()


def _json(content: bytes) -> Json | None:
    try:
        parsed: object = json.loads(content) if content.strip() else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class InteractionSender:
    def __init__(
        self, state: EmulatorState, timings: Timings, *, http: HttpTransport, socket: SocketHub
    ) -> None:
        self._state = state
        self._timings = timings
        self._http = http
        self._socket = socket
        self.records: dict[str, list[Interaction]] = {}

    async def deliver(
        self,
        ws: Workspace,
        payload: Json,
        *,
        secret: str | None = None,
        timestamp: str | None = None,
        signature: str | None = None,
    ) -> Interaction:
        """Deliver to the workspace's target; ``secret``/``timestamp``/``signature`` forge the
        HTTP request (a wrong secret, a stale time, a made-up header) for 401 tests."""
        forged = (secret, timestamp, signature) != (None, None, None)
        if isinstance(ws.delivery, SocketMode):
            if forged:
                raise ValueError("Socket Mode interactions are not signed; nothing to forge")
            result = await self._over_socket(ws, payload)
        elif ws.interactivity_url:
            headers = self._headers(ws, payload, secret, timestamp, signature)
            result = await self._over_http(ws, ws.interactivity_url, payload, headers)
        else:
            result = Interaction(
                team_id=ws.team_id, payload=payload, via=None, acked=False, elapsed=0.0,
                reason="no_target",
            )  # fmt: skip
        self.records.setdefault(ws.team_id, []).append(result)
        self._state.changes.notify()
        return result

    def _headers(
        self,
        ws: Workspace,
        payload: Json,
        secret: str | None,
        timestamp: str | None,
        signature: str | None,
    ) -> dict[str, str]:
        stamp = timestamp if timestamp is not None else str(self._state.now())
        body = form_body(payload)
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or sign(secret or ws.signing_secret, stamp, body),
        }

    async def _over_http(
        self, ws: Workspace, url: str, payload: Json, headers: dict[str, str]
    ) -> Interaction:
        started = time.monotonic()

        def failed(reason: str, status: int | None = None, body: bytes = b"") -> Interaction:
            return Interaction(
                team_id=ws.team_id, payload=payload, via="http", acked=False,
                elapsed=time.monotonic() - started, status=status, body=body, reason=reason,
            )  # fmt: skip

        if ws.delivery_failing:
            return failed("connection_failed")
        try:
            status, content = await self._http.post_form(url, form_body(payload), headers)
        except TimeoutError:
            return failed("http_timeout")
        except aiohttp.ClientConnectionError:
            return failed("connection_failed")
        except aiohttp.ClientError:
            return failed("unknown_error")
        if status != 200:
            return failed("http_error", status, content)
        return Interaction(
            team_id=ws.team_id, payload=payload, via="http", acked=True,
            elapsed=time.monotonic() - started, status=status, body=content,
            response=_json(content),
        )  # fmt: skip

    async def _over_socket(self, ws: Workspace, payload: Json) -> Interaction:
        started = time.monotonic()
        if not self._socket.connections(ws.team_id) or ws.delivery_failing:
            return Interaction(
                team_id=ws.team_id, payload=payload, via="socket", acked=False,
                elapsed=0.0, reason="connection_failed",
            )  # fmt: skip
        ack = await self._socket.interactive(ws, payload)
        elapsed = time.monotonic() - started
        if ack is None:
            return Interaction(
                team_id=ws.team_id, payload=payload, via="socket", acked=False,
                elapsed=elapsed, reason="timeout",
            )  # fmt: skip
        answer = ack.get("payload")
        return Interaction(
            team_id=ws.team_id, payload=payload, via="socket", acked=True, elapsed=elapsed,
            body=json.dumps(ack).encode(), response=answer if isinstance(answer, dict) else None,
        )  # fmt: skip
