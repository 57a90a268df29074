"""Socket Mode with slack-sdk's aiohttp SocketModeClient: ack, redelivery, refresh."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMessage
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import Emulator

from .conftest import TEAM_B

CHANNEL = "C0BBOLO001"
OFFICER_B = "U0BOFFICER"


class Listener:
    """Collects events_api requests; acks all but the first ``skip`` deliveries."""

    def __init__(self, skip: int = 0) -> None:
        self.requests: list[SocketModeRequest] = []
        self.raw: list[dict[str, object]] = []
        self.skip = skip

    async def on_request(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        self.requests.append(req)
        if len(self.requests) > self.skip:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    async def on_frame(self, frame: WSMessage) -> None:
        """Every text frame, ``disconnect`` included (message listeners never see that one)."""
        self.raw.append(json.loads(frame.data))


@pytest.fixture
async def socket_client(emu: Emulator) -> AsyncIterator[tuple[SocketModeClient, Listener]]:
    emu.use_socket_mode(TEAM_B)
    listener = Listener()
    client = SocketModeClient(
        app_token=emu.workspace(TEAM_B).app_token,
        web_client=AsyncWebClient(base_url=emu.api_url),
    )
    client.socket_mode_request_listeners.append(listener.on_request)
    client.on_message_listeners.append(listener.on_frame)
    await client.connect()  # type: ignore[no-untyped-call]
    await emu.wait_for_socket_connections(TEAM_B)
    yield client, listener
    await client.close()  # type: ignore[no-untyped-call]


async def test_events_arrive_as_acked_envelopes(
    emu: Emulator, socket_client: tuple[SocketModeClient, Listener]
) -> None:
    _, listener = socket_client
    ts = emu.post_as_user(TEAM_B, CHANNEL, OFFICER_B, "BOLO over socket (fictional)")
    [record] = await emu.wait_for_event_acks(TEAM_B, 1)
    [req] = listener.requests
    assert (req.type, req.retry_attempt, req.retry_reason) == ("events_api", 0, "")
    assert req.payload["event_id"] == record.event_id
    assert req.payload["event"]["ts"] == ts
    assert emu.sockets.acked == [req.envelope_id]
    hello = next(m for m in listener.raw if m.get("type") == "hello")
    assert hello["num_connections"] == 1


async def test_unacked_envelope_is_redelivered(
    emu: Emulator, socket_client: tuple[SocketModeClient, Listener]
) -> None:
    _, listener = socket_client
    listener.skip = 1
    emu.post_as_user(TEAM_B, CHANNEL, OFFICER_B, "BOLO (fictional)")
    [record] = await emu.wait_for_event_acks(TEAM_B, 1)
    first, second = listener.requests
    assert first.payload["event_id"] == second.payload["event_id"] == record.event_id
    assert (second.retry_attempt, second.retry_reason) == (1, "timeout")
    assert [a.reason for a in record.attempts] == ["timeout", ""]


async def test_refresh_requested_disconnect_reconnects(
    emu: Emulator, socket_client: tuple[SocketModeClient, Listener]
) -> None:
    _, listener = socket_client
    await emu.socket_disconnect(TEAM_B, "refresh_requested")
    await emu.wait_for_socket_connections(TEAM_B, 1, opened=2)
    emu.post_as_user(TEAM_B, CHANNEL, OFFICER_B, "after refresh (fictional)")
    [record] = await emu.wait_for_event_acks(TEAM_B, 1)
    assert record.attempts[-1].ok
    assert [m["reason"] for m in listener.raw if m.get("type") == "disconnect"] == [
        "refresh_requested"
    ]
    assert sum(m.get("type") == "hello" for m in listener.raw) == 2
    assert [c.method for c in emu.calls("apps.connections.open")] == ["apps.connections.open"] * 2


async def test_events_wait_for_a_connection(emu: Emulator) -> None:
    """With no socket open, attempts fail as connection_failed and Slack gives up."""
    emu.use_socket_mode(TEAM_B)
    emu.post_as_user(TEAM_B, CHANNEL, OFFICER_B, "nobody listening (fictional)")
    [record] = await emu.wait_for_settled_events(TEAM_B, 1, timeout=5.0)
    assert [a.reason for a in record.attempts] == ["connection_failed"] * 4
