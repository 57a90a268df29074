"""An emulator with two agencies' workspaces, a slack-sdk client, and a signed-event receiver."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec

TEAM_A = "T0AGENCYA1"
TEAM_B = "T0AGENCYB1"
BOLO = "C0BOLO0001"
INTEL = "G0INTEL001"
LOBBY = "C0LOBBY001"
OFFICER = "U0OFFICER1"
OFFICER_2 = "U0OFFICER2"

FAST = Timings(
    http_timeout=0.5, retry_delays=(0.0, 0.05, 0.1), socket_ack_timeout=0.3, disconnect_grace=0.2
)


def agency_a() -> WorkspaceSpec:
    return WorkspaceSpec(
        team_id=TEAM_A,
        name="Agency A (fictional)",
        domain="agency-a-example",
        users=(
            UserSpec(id=OFFICER, name="officer.one", display_name="Officer One"),
            UserSpec(id=OFFICER_2, name="officer.two", display_name="Officer Two"),
        ),
        channels=(
            ChannelSpec(id=BOLO, name="bolo"),
            ChannelSpec(id=INTEL, name="intel", private=True),
            ChannelSpec(id=LOBBY, name="lobby", bot_member=False),
        ),
    )


def agency_b() -> WorkspaceSpec:
    return WorkspaceSpec(
        team_id=TEAM_B,
        name="Agency B (fictional)",
        users=(UserSpec(id="U0BOFFICER", name="b.officer"),),
        channels=(ChannelSpec(id="C0BBOLO001", name="bolo"),),
    )


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator([agency_a(), agency_b()], timings=FAST) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> AsyncWebClient:
    return AsyncWebClient(token=emu.workspace(TEAM_A).bot_token, base_url=emu.api_url)


@dataclass(frozen=True, slots=True)
class Received:
    headers: dict[str, str]
    body: bytes
    signature_valid: bool

    @property
    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class Receiver:
    """The relay's Request URL stand-in: verifies signatures with slack-sdk, answers with
    queued statuses (default 200), and lets tests await the n-th request."""

    def __init__(self, signing_secret: str) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.received: list[Received] = []
        self.statuses: deque[int] = deque()
        self.release = asyncio.Event()
        self.stall_next = 0
        self.no_retry_next = 0
        self._changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        valid = self.verifier.is_valid(
            body=body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=request.headers.get("X-Slack-Signature", ""),
        )
        async with self._changed:
            self.received.append(Received(dict(request.headers), body, valid))
            self._changed.notify_all()
        if self.stall_next:
            self.stall_next -= 1
            await self.release.wait()
        status = self.statuses.popleft() if self.statuses else 200
        headers = {}
        if self.no_retry_next:
            self.no_retry_next -= 1
            headers["X-Slack-No-Retry"] = "1"
        return web.Response(status=status, headers=headers)

    async def wait_for(self, n: int, within: float = 3.0) -> list[Received]:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= n)
        return self.received[:n]

    def events(self) -> list[dict[str, Any]]:
        return [r.json["event"] for r in self.received]


@pytest.fixture
async def receiver(emu: Emulator) -> AsyncIterator[Receiver]:
    """A receiver registered as workspace A's Events API Request URL."""
    rx = Receiver(emu.workspace(TEAM_A).signing_secret)
    app = web.Application()
    app.router.add_post("/slack/events", rx.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rx.url = f"http://{host}:{port}/slack/events"
    emu.set_event_url(TEAM_A, rx.url)
    yield rx
    rx.release.set()
    await runner.cleanup()
