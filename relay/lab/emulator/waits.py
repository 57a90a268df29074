"""Awaitable test conditions: they wake on every state change, never poll or sleep.

The public waits take ``timeout=`` (ruff ASYNC109 would have callers wrap them in
``asyncio.timeout``): a bounded default keeps a forgotten wait from hanging a test run, and the
``TimeoutError`` message says how far the condition got.
"""

from __future__ import annotations

from relay.lab.emulator.delivery import DeliveryRecord, DeliveryState, Dispatcher
from relay.lab.emulator.model import Json
from relay.lab.emulator.socket_mode import SocketHub
from relay.lab.emulator.state import EmulatorState
from relay.lab.emulator.users import UserActions

__all__ = ["Waits"]


class Waits(UserActions):
    state: EmulatorState
    dispatcher: Dispatcher
    sockets: SocketHub

    async def wait_for_posts(
        self,
        team_id: str,
        channel: str,
        n: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Json]:
        """The first ``n`` messages the app's bot posted in ``channel``, once there are ``n``."""
        ch = self.state.channel(team_id, channel)

        def enough() -> bool:
            return len(self.bot_posts(team_id, ch.id)) >= n

        try:
            await self.state.changes.wait_for(enough, timeout)
        except TimeoutError:
            have = len(self.bot_posts(team_id, ch.id))
            raise TimeoutError(f"{have}/{n} bot posts in {ch.id} after {timeout}s") from None
        return self.bot_posts(team_id, ch.id)[:n]

    def _counted(
        self, team_id: str, states: frozenset[DeliveryState] = frozenset(DeliveryState)
    ) -> list[DeliveryRecord]:
        bot = self.state.workspace(team_id).bot_user_id
        # the app's own reactions (the relay marking an author's message) come back as
        # events, as on Slack, but are not counted: a test counts what people did
        return [
            r
            for r in self.dispatcher.records.get(team_id, [])
            if r.state in states
            and not (
                r.event.get("type") in ("reaction_added", "reaction_removed")
                and r.event.get("user") == bot
            )
        ]

    def counted_events(self, team_id: str) -> int:
        """The events the workspace has delivered or is delivering so far, counted as the
        waits below count them: a caller adds what it does next to wait for that too."""
        return len(self._counted(team_id))

    async def _records(
        self, team_id: str, n: int, states: frozenset[DeliveryState], within: float
    ) -> list[DeliveryRecord]:
        def matching() -> list[DeliveryRecord]:
            return self._counted(team_id, states)

        try:
            await self.state.changes.wait_for(lambda: len(matching()) >= n, within)
        except TimeoutError:
            have = len(matching())
            wanted = ",".join(sorted(states))
            raise TimeoutError(
                f"{have}/{n} {wanted} events for {team_id} after {within}s"
            ) from None
        return matching()[:n]

    async def wait_for_event_acks(
        self,
        team_id: str,
        n: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[DeliveryRecord]:
        """The first ``n`` events the workspace's receiver acknowledged (2xx or socket ack)."""
        return await self._records(team_id, n, frozenset({DeliveryState.ACKED}), timeout)

    async def wait_for_settled_events(
        self,
        team_id: str,
        n: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[DeliveryRecord]:
        """The first ``n`` events that are acknowledged, given up on, or undeliverable."""
        settled = frozenset(DeliveryState) - {DeliveryState.PENDING}
        return await self._records(team_id, n, settled, timeout)

    async def wait_for_attempts(
        self,
        team_id: str,
        n: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[DeliveryRecord]:
        """Waits until ``n`` delivery attempts (first tries and retries) have finished."""

        def attempts() -> int:
            return sum(len(r.attempts) for r in self.dispatcher.records.get(team_id, []))

        try:
            await self.state.changes.wait_for(lambda: attempts() >= n, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{attempts()}/{n} attempts for {team_id} after {timeout}s"
            ) from None
        return list(self.dispatcher.records.get(team_id, []))

    async def wait_for_socket_connections(
        self,
        team_id: str,
        n: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        opened: int | None = None,
    ) -> None:
        """Until ``n`` live Socket Mode connections (and, if given, ``opened`` ever opened)."""

        def ready() -> bool:
            total = self.sockets.opened.get(team_id, 0)
            return self.sockets.connections(team_id) >= n and (opened is None or total >= opened)

        try:
            await self.state.changes.wait_for(ready, timeout)
        except TimeoutError:
            live = self.sockets.connections(team_id)
            raise TimeoutError(f"{live}/{n} socket connections for {team_id}") from None
