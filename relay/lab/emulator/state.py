"""The emulator's in-memory world: workspaces from specs, tokens, ids, limits, call log."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from relay.lab.emulator.limits import FaultInjector, RateLimiter
from relay.lab.emulator.model import Channel, Json, Token, TokenKind, TsClock, User, Workspace
from relay.lab.emulator.spec import APP_SCOPES, DEFAULT_USER_SCOPES, ChannelSpec, WorkspaceSpec

__all__ = ["CallRecord", "Changes", "EmulatorState", "EventSink", "PendingUpload"]


class EventSink(Protocol):
    def emit(self, ws: Workspace, event: Json) -> None: ...


class Changes:
    """Wakes every waiter whenever state changes; waiters re-check their predicate."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> None:
        """Return once ``predicate()`` holds; ``TimeoutError`` after ``within`` seconds."""
        async with asyncio.timeout(within):
            while True:
                event = self._event
                if predicate():
                    return
                await event.wait()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    method: str
    team_id: str | None
    error: str | None
    status: int


@dataclass(slots=True, kw_only=True)
class PendingUpload:
    team_id: str
    file_id: str


class _NoSink:
    def emit(self, ws: Workspace, event: Json) -> None:
        return None


def _derived(team_id: str, what: str) -> str:
    return hashlib.sha256(f"{team_id}:{what}".encode()).hexdigest()


class EmulatorState:
    def __init__(self, specs: tuple[WorkspaceSpec, ...], *, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.ts = TsClock(clock)
        self.limiter = RateLimiter()
        self.faults = FaultInjector()
        self.changes = Changes()
        self.calls: list[CallRecord] = []
        self.uploads: dict[str, PendingUpload] = {}
        self.tokens: dict[str, Token] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.sink: EventSink = _NoSink()
        self.base_url = ""
        self._ids = itertools.count(1)
        for spec in specs:
            self.add_workspace(spec)

    def now(self) -> int:
        return int(self.clock())

    def new_id(self, prefix: str) -> str:
        """Slack-looking ids (``F0EMU00001``), unique within the emulator."""
        return f"{prefix}0EMU{next(self._ids):05d}"

    def workspace(self, team_id: str) -> Workspace:
        try:
            return self.workspaces[team_id]
        except KeyError:
            raise KeyError(f"no emulated workspace {team_id!r}") from None

    def channel(self, team_id: str, channel_id: str) -> Channel:
        ws = self.workspace(team_id)
        found = ws.find_channel(channel_id)
        if found is None:
            raise KeyError(f"no channel {channel_id!r} in {team_id!r}")
        return found

    def issue_token(self, team_id: str, kind: TokenKind, scopes: frozenset[str]) -> str:
        prefix = "xoxb" if kind is TokenKind.BOT else "xapp-1"
        value = f"{prefix}-{team_id}-{next(self._ids)}-{_derived(team_id, 'extra')[:12]}"
        self.tokens[value] = Token(value=value, kind=kind, team_id=team_id, scopes=scopes)
        return value

    def add_workspace(self, spec: WorkspaceSpec) -> Workspace:
        tid = spec.team_id
        if tid in self.workspaces:
            raise ValueError(f"duplicate workspace {tid!r}")
        suffix = tid[1:]
        ws = Workspace(
            team_id=tid,
            name=spec.name,
            domain=spec.domain or tid.lower(),
            app_id=spec.app_id or f"A{suffix}",
            bot_id=spec.bot_id or f"B{suffix}",
            bot_user_id=spec.bot_user_id or f"U{suffix}BOT",
            bot_name=spec.bot_name,
            bot_token=spec.bot_token or f"xoxb-{tid}-{_derived(tid, 'bot')[:24]}",
            app_token=spec.app_token or f"xapp-1-{tid}-{_derived(tid, 'app')[:24]}",
            signing_secret=spec.signing_secret or _derived(tid, "signing")[:32],
            verification_token=_derived(tid, "verification")[:24],
            delivery=spec.delivery,
            echo_bot_messages=spec.echo_bot_messages,
            interactivity_url=spec.interactivity_url,
        )
        self.tokens[ws.bot_token] = Token(
            value=ws.bot_token, kind=TokenKind.BOT, team_id=tid, scopes=spec.bot_scopes
        )
        self.tokens[ws.app_token] = Token(
            value=ws.app_token, kind=TokenKind.APP, team_id=tid, scopes=APP_SCOPES
        )
        bot = User(
            id=ws.bot_user_id,
            name=spec.bot_name,
            display_name=spec.bot_name,
            real_name=spec.bot_name,
            is_bot=True,
            bot_id=ws.bot_id,
        )
        ws.users[bot.id] = bot
        for u in spec.users:
            ws.users[u.id] = User(
                id=u.id,
                name=u.name,
                display_name=u.display_name or u.name,
                real_name=u.real_name or u.display_name or u.name,
            )
            token = u.token or f"xoxp-{tid}-{u.id}-{_derived(f'{tid}:{u.id}', 'user')[:24]}"
            if token in self.tokens:
                raise ValueError(f"duplicate token for user {u.id!r} in {tid!r}")
            self.tokens[token] = Token(
                value=token,
                kind=TokenKind.USER,
                team_id=tid,
                scopes=DEFAULT_USER_SCOPES,
                user_id=u.id,
            )
            ws.user_tokens[u.id] = token
        for g in spec.usergroups:
            self.set_usergroup(ws, g.id, g.users)
        self.workspaces[tid] = ws
        for c in spec.channels:
            self.add_channel(tid, c)
        return ws

    def set_usergroup(self, ws: Workspace, group_id: str, users: Iterable[str]) -> None:
        members = list(dict.fromkeys(users))
        unknown = [u for u in members if u not in ws.users]
        if not group_id.startswith("S") or unknown:
            raise ValueError(f"bad user group {group_id!r} in {ws.team_id!r}: {unknown}")
        ws.usergroups[group_id] = members
        self.changes.notify()

    def add_channel(self, team_id: str, spec: ChannelSpec) -> Channel:
        ws = self.workspace(team_id)
        if spec.id in ws.channels:
            raise ValueError(f"duplicate channel {spec.id!r} in {team_id!r}")
        humans = [u.id for u in ws.users.values() if not u.is_bot]
        members = set(humans if spec.members is None else spec.members)
        if spec.bot_member:
            members.add(ws.bot_user_id)
        channel = Channel(
            id=spec.id,
            name=spec.name,
            created=self.now(),
            creator=humans[0] if humans else ws.bot_user_id,
            is_private=spec.private,
            members=members,
        )
        ws.channels[spec.id] = channel
        self.changes.notify()
        return channel
