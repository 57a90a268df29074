"""One authenticated Web API call as a method handler sees it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from relay.lab.emulator.errors import SlackError, missing_scope
from relay.lab.emulator.model import Channel, Json, Message, Token, TokenKind, Workspace
from relay.lab.emulator.request import Args
from relay.lab.emulator.state import EmulatorState

__all__ = ["BOT_OR_USER", "Call", "Handler", "Method"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    state: EmulatorState
    ws: Workspace
    token: Token
    args: Args

    @property
    def actor(self) -> str:
        """Who the token acts as: the officer for a user token, else the app's bot user."""
        return self.token.user_id or self.ws.bot_user_id

    @property
    def as_user(self) -> bool:
        return self.token.kind is TokenKind.USER

    def require_scope(self, scope: str) -> None:
        if scope not in self.token.scopes:
            raise missing_scope(scope, self.token.scopes)

    def channel(self, name: str = "channel", *, ref: str | None = None) -> Channel:
        """A channel the token can see: unknown ids and private channels without the bot are
        ``channel_not_found``, as on Slack. ``ref`` overrides the argument named ``name``."""
        ref = ref if ref is not None else self.args.text(name)
        found = self.ws.find_channel(ref) if ref else None
        if found is None or (found.is_private and self.actor not in found.members):
            raise SlackError("channel_not_found")
        return found

    def history_scope(self, ch: Channel) -> None:
        self.require_scope("groups:history" if ch.is_private else "channels:history")

    def read_scope(self, ch: Channel) -> None:
        self.require_scope("groups:read" if ch.is_private else "channels:read")

    def member_channel(self, name: str = "channel", *, ref: str | None = None) -> Channel:
        """A channel the token may post in: a member, or (bot tokens) a public one with
        chat:write.public."""
        ch = self.channel(name, ref=ref)
        if self.actor not in ch.members and not (
            not ch.is_private and "chat:write.public" in self.token.scopes
        ):
            raise SlackError("not_in_channel")
        return ch

    def message(self, ch: Channel, name: str = "ts") -> Message:
        ts = self.args.text(name)
        msg = ch.messages.get(ts) if ts else None
        if msg is None or msg.tombstone:
            raise SlackError("message_not_found")
        return msg


Handler = Callable[[Call], Awaitable[Json]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    handler: Handler
    scope: str | None = None
    tokens: frozenset[TokenKind] = field(default_factory=lambda: frozenset({TokenKind.BOT}))
    json: bool = False
    """Takes a JSON body ("most write methods" on Slack). Otherwise only query and form
    arguments count: a JSON body's arguments are not seen, as on Slack."""


BOT_OR_USER: frozenset[TokenKind] = frozenset({TokenKind.BOT, TokenKind.USER})
"""Methods an officer's user token may call too."""
