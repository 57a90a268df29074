"""The :class:`Emulator`: server lifecycle and the admin side (workspaces, targets, faults)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from aiohttp import web

from relay.lab.emulator import api_chat, api_links, api_react, api_read, files, timeline
from relay.lab.emulator.api_views import ViewStore
from relay.lab.emulator.delivery import DeliveryRecord, DeliveryStats, Dispatcher
from relay.lab.emulator.interact_driver import InteractionDriver
from relay.lab.emulator.interaction import InteractionSender
from relay.lab.emulator.limits import Fault, Limit
from relay.lab.emulator.model import Channel, Json, TokenKind, Workspace
from relay.lab.emulator.server import build_app
from relay.lab.emulator.socket_mode import SocketHub
from relay.lab.emulator.spec import (
    ChannelSpec,
    DeliveryTarget,
    EventsApi,
    SocketMode,
    Timings,
    WorkspaceSpec,
)
from relay.lab.emulator.state import CallRecord, EmulatorState
from relay.lab.emulator.waits import Waits
from relay.lab.emulator.webhook import HttpTransport

__all__ = ["Emulator", "start_emulator"]


class Emulator(Waits, InteractionDriver):
    """Several Slack workspaces behind one aiohttp server on ``127.0.0.1``.

    ``async with Emulator([spec, ...]) as emu`` starts it; point slack-sdk at
    ``emu.api_url`` (``AsyncWebClient(token=..., base_url=emu.api_url)``).
    """

    def __init__(
        self,
        workspaces: Iterable[WorkspaceSpec] = (),
        *,
        timings: Timings | None = None,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.timings = timings or Timings()
        self.state = EmulatorState(tuple(workspaces), clock=clock)
        self.webhook = HttpTransport(self.state, self.timings)
        self.sockets = SocketHub(self.state, self.timings)
        self.dispatcher = Dispatcher(
            self.state, self.timings, http=self.webhook, socket=self.sockets
        )
        self.state.sink = self.dispatcher
        self.views = ViewStore(self.state)
        self.interactivity = InteractionSender(
            self.state, self.timings, http=self.webhook, socket=self.sockets
        )
        methods = {
            **api_chat.METHODS,
            **api_links.METHODS,
            **api_read.METHODS,
            **api_react.METHODS,
            **files.METHODS,
        }
        methods.update(self.sockets.methods())
        methods.update(self.views.methods())
        self._app = build_app(self.state, methods)
        files.add_file_routes(self._app, self.state)
        self.sockets.add_routes(self._app)
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.state.base_url = f"http://{self._host}:{port}"
        await self.webhook.start()

    async def close(self) -> None:
        await self.dispatcher.close()
        await self.sockets.close()
        await self.webhook.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``; the Web API lives under ``/api/``."""
        return self.state.base_url

    @property
    def api_url(self) -> str:
        return self.state.base_url + "/api/"

    # -- workspaces -------------------------------------------------------------------------

    def workspace(self, team_id: str) -> Workspace:
        return self.state.workspace(team_id)

    def add_workspace(self, spec: WorkspaceSpec) -> Workspace:
        return self.state.add_workspace(spec)

    def create_channel(self, team_id: str, spec: ChannelSpec) -> Channel:
        return self.state.add_channel(team_id, spec)

    def set_bot_member(self, team_id: str, channel: str, member: bool = True) -> None:
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        (ch.members.add if member else ch.members.discard)(ws.bot_user_id)
        self.state.changes.notify()

    def issue_bot_token(self, team_id: str, scopes: Iterable[str]) -> str:
        """Another token for the same bot with exactly ``scopes`` (for missing_scope tests)."""
        return self.state.issue_token(team_id, TokenKind.BOT, frozenset(scopes))

    def rename_channel(self, team_id: str, channel: str, name: str) -> None:
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        timeline.rename_channel(self.state, ws, ch, name)

    def change_channel_id(self, team_id: str, channel: str, new_id: str) -> None:
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        timeline.change_channel_id(self.state, ws, ch, new_id)

    # -- event delivery -----------------------------------------------------------------------

    def set_delivery(self, team_id: str, target: DeliveryTarget) -> None:
        self.state.workspace(team_id).delivery = target

    def set_event_url(self, team_id: str, url: str) -> None:
        self.set_delivery(team_id, EventsApi(url=url))

    def use_socket_mode(self, team_id: str) -> None:
        self.set_delivery(team_id, SocketMode())

    def set_delivery_failing(self, team_id: str, failing: bool = True) -> None:
        """While set, every delivery attempt to this workspace fails (``connection_failed``)."""
        self.state.workspace(team_id).delivery_failing = failing

    async def verify_event_url(self, team_id: str) -> bool:
        ws = self.state.workspace(team_id)
        if not isinstance(ws.delivery, EventsApi):
            raise ValueError(f"{team_id!r} has no Events API URL")
        return await self.webhook.verify_url(ws, ws.delivery.url)

    async def socket_disconnect(self, team_id: str, reason: str = "refresh_requested") -> None:
        await self.sockets.disconnect(team_id, reason)

    def events(self, team_id: str) -> list[DeliveryRecord]:
        return list(self.dispatcher.records.get(team_id, []))

    def delivery_stats(self, team_id: str) -> DeliveryStats:
        return self.dispatcher.stats(team_id)

    # -- faults and limits --------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str = "internal_error",
        status: int = 200,
        times: int = 1,
        retry_after: int = 1,
        team: str | None = None,
    ) -> None:
        """Force the next ``times`` calls of ``method`` (made with workspace ``team``'s tokens,
        if given; else by anyone): an error body, a 5xx, or (status 429) ``ratelimited`` with
        ``Retry-After``."""
        fault = Fault(error=error, status=status, retry_after=retry_after)
        self.state.faults.fail_next(method, fault, times, team)

    def set_rate_limit(self, method: str, limit: Limit | None) -> None:
        self.state.limiter.configure(method, limit)

    def disable_rate_limits(self) -> None:
        self.state.limiter.enabled = False

    def calls(self, method: str | None = None) -> list[CallRecord]:
        return [c for c in self.state.calls if method is None or c.method == method]

    def ephemeral(self, team_id: str) -> list[Json]:
        return list(self.state.workspace(team_id).ephemeral)


async def start_emulator(*workspaces: WorkspaceSpec, timings: Timings | None = None) -> Emulator:
    """Start an emulator; the caller must ``await emu.close()``."""
    emu = Emulator(workspaces, timings=timings)
    await emu.start()
    return emu
