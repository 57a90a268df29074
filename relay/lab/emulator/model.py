"""Mutable emulator state: workspaces, channels, users, messages, files, tokens.

The emulator is a fake Slack, so its state is deliberately mutable (edits change messages in
place). Wire shapes are built from these records in :mod:`relay.lab.emulator.shapes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from relay.lab.emulator.spec import DeliveryTarget

__all__ = [
    "Channel",
    "Json",
    "Message",
    "StoredFile",
    "Token",
    "TokenKind",
    "TsClock",
    "User",
    "Workspace",
    "ts_key",
]

Json = dict[str, Any]
"""A Slack wire object. Only the emulator (a fake of the wire) builds these."""


class TokenKind(StrEnum):
    BOT = "bot"
    APP = "app"
    USER = "user"


@dataclass(slots=True, kw_only=True)
class Token:
    value: str
    kind: TokenKind
    team_id: str
    scopes: frozenset[str]
    user_id: str | None = None
    """The officer a user token acts as (``None`` for bot and app tokens)."""


@dataclass(slots=True, kw_only=True)
class User:
    id: str
    name: str
    display_name: str
    real_name: str
    is_bot: bool = False
    bot_id: str | None = None


@dataclass(slots=True, kw_only=True)
class Message:
    """One message in a channel; thread replies live in the same channel map."""

    ts: str
    text: str = ""
    user: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    subtype: str | None = None
    blocks: list[Json] | None = None
    attachments: list[Json] | None = None
    file_ids: list[str] = field(default_factory=list)
    thread_ts: str | None = None
    parent_user_id: str | None = None
    username: str | None = None
    icons: Json | None = None
    metadata: Json | None = None
    edited: Json | None = None
    client_msg_id: str | None = None
    upload: bool | None = None
    reply_ts: list[str] = field(default_factory=list)
    reply_users: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    """Reaction name -> the users who added it, in order (names in order of first use)."""
    tombstone: bool = False

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def in_history(self) -> bool:
        """Top-level messages and thread broadcasts show in ``conversations.history``."""
        return not self.is_reply or self.subtype == "thread_broadcast"


@dataclass(slots=True, kw_only=True)
class Channel:
    id: str
    name: str
    created: int
    creator: str
    is_private: bool
    members: set[str]
    messages: dict[str, Message] = field(default_factory=dict)
    previous_names: list[str] = field(default_factory=list)

    def ordered(self) -> list[Message]:
        """Every message, oldest first."""
        return sorted(self.messages.values(), key=lambda m: ts_key(m.ts))


@dataclass(slots=True, kw_only=True)
class StoredFile:
    id: str
    team_id: str
    user: str
    name: str
    title: str
    alt_txt: str | None
    length: int
    created: int
    content: bytes | None = None
    completed: bool = False
    shares: dict[str, list[Json]] = field(default_factory=dict)
    """channel id -> share records (``ts``, ``thread_ts``, ``channel_name``...)."""


@dataclass(slots=True, kw_only=True)
class Workspace:
    team_id: str
    name: str
    domain: str
    app_id: str
    bot_id: str
    bot_user_id: str
    bot_name: str
    bot_token: str
    app_token: str
    signing_secret: str
    verification_token: str
    delivery: DeliveryTarget
    echo_bot_messages: bool
    channels: dict[str, Channel] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    user_tokens: dict[str, str] = field(default_factory=dict)
    """user id -> that officer's user token (``xoxp-``)."""
    files: dict[str, StoredFile] = field(default_factory=dict)
    ephemeral: list[Json] = field(default_factory=list)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    """User group id (``S...``) -> its members' user ids."""
    delivery_failing: bool = False
    interactivity_url: str = ""
    """Where interaction payloads go over HTTP (unused while the app is in Socket Mode)."""

    def find_channel(self, ref: str) -> Channel | None:
        """By id, or by name with or without ``#`` (chat.postMessage accepts both)."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name), None)


def ts_key(ts: str) -> int:
    """Slack ts ``"1700000000.000100"`` -> microseconds, for ordering and comparisons."""
    seconds, _, fraction = ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6] or "0")


class TsClock:
    """Unique, increasing message timestamps in Slack's ``seconds.micros`` form."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> str:
        micros = max(int(self._clock() * 1_000_000), self._last + 1)
        self._last = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
