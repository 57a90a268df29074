"""Socket Mode: events over slack-sdk's aiohttp websocket client instead of HTTP.

An ``events_api`` request is stored durably (the same way as over HTTP, keyed by the message
it is about) before its ``envelope_id`` is acknowledged; a redelivery after a lost ack finds
it taken. The client handles ``hello``, ``disconnect`` (``refresh_requested``, ``warning``)
and reconnects by itself; nothing is lost because nothing is acknowledged before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from relay.slack.events import EventSink
from relay.slack.interactivity import ANSWER_WITHIN, Interactions

__all__ = ["SocketModeReceiver"]


class SocketModeReceiver:
    def __init__(
        self,
        sink: EventSink,
        *,
        app_token: str,
        web_client: AsyncWebClient,
        interactions: Interactions | None = None,
    ) -> None:
        self.sink = sink
        self.interactions = interactions
        self.client = SocketModeClient(
            app_token=app_token, web_client=web_client, auto_reconnect_enabled=True
        )
        self.client.socket_mode_request_listeners.append(self._on_request)  # type: ignore[arg-type]
        self.acked = 0

    async def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        if req.type == "events_api" and isinstance(req.payload, dict):
            payload = req.payload
            await self.sink.take_slack_event(
                team=str(payload.get("team_id", "")),
                event_id=str(payload.get("event_id", "")),
                body=json.dumps(payload).encode(),
                doc=payload,
            )
        answer = None
        if req.type == "interactive" and self.interactions is not None:
            # stored before the ack (a decision), or a modal opened: within Slack's 3 seconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ANSWER_WITHIN):
                    answer = await self.interactions.interaction(req.payload)
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload=answer)
        )
        self.acked += 1

    async def start(self) -> None:
        await self.client.connect()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        await self.client.close()  # type: ignore[no-untyped-call]
