"""What a test declares: workspaces, channels, officers, delivery targets and timings.

Frozen values; :class:`relay.lab.emulator.state.EmulatorState` turns them into mutable state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "APP_SCOPES",
    "DEFAULT_BOT_SCOPES",
    "DEFAULT_USER_SCOPES",
    "ChannelSpec",
    "DeliveryTarget",
    "EventsApi",
    "SocketMode",
    "Timings",
    "UserGroupSpec",
    "UserSpec",
    "WorkspaceSpec",
]

DEFAULT_BOT_SCOPES: Final = frozenset(
    {
        "chat:write",
        "chat:write.customize",
        "channels:history",
        "channels:read",
        "groups:history",
        "groups:read",
        "users:read",
        "files:read",
        "files:write",
        "reactions:read",
        "reactions:write",
        "usergroups:read",
    }
)
APP_SCOPES: Final = frozenset({"connections:write"})
DEFAULT_USER_SCOPES: Final = frozenset(
    {
        "chat:write",
        "channels:history",
        "channels:read",
        "groups:history",
        "groups:read",
        "users:read",
        "reactions:read",
        "reactions:write",
    }
)
"""What an officer's user token (``xoxp-``) may do: post, edit and delete their own messages,
read the channels they belong to, add and remove their own reactions."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSpec:
    """An officer (a human user) in a workspace."""

    id: str
    name: str
    display_name: str = ""
    real_name: str = ""
    token: str = ""
    """The officer's user token (``xoxp-``); derived from the team and user id if empty."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserGroupSpec:
    """A user group (``S...``, e.g. the agency's supervisors); ``users`` are officers' ids."""

    id: str
    handle: str
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSpec:
    """A channel; ``members`` defaults to every officer of the workspace."""

    id: str
    name: str
    private: bool = False
    bot_member: bool = True
    members: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsApi:
    """Deliver events by signed HTTP POST to ``url`` (the relay's Request URL)."""

    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketMode:
    """Deliver events over Socket Mode websockets opened via ``apps.connections.open``."""


DeliveryTarget = EventsApi | SocketMode | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceSpec:
    """One Slack workspace (team) with the relay app installed.

    Tokens and secrets default to values derived from ``team_id`` so that tests can print
    them; pass explicit ones to mimic a real install.
    """

    team_id: str
    name: str
    domain: str = ""
    channels: tuple[ChannelSpec, ...] = ()
    users: tuple[UserSpec, ...] = ()
    usergroups: tuple[UserGroupSpec, ...] = ()
    app_id: str = ""
    bot_id: str = ""
    bot_user_id: str = ""
    bot_name: str = "relay"
    bot_token: str = ""
    app_token: str = ""
    signing_secret: str = ""
    bot_scopes: frozenset[str] = DEFAULT_BOT_SCOPES
    delivery: DeliveryTarget = None
    echo_bot_messages: bool = True
    """Slack delivers an app's own posts back to it as ``message`` events (with ``bot_id``)."""
    interactivity_url: str = ""
    """The app's Interactivity Request URL (``POST`` form ``payload``); with Socket Mode
    interactions go over the socket instead, as on Slack."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """Delivery timings. Slack retries at once, after 1 min and after 5 min; tests go faster."""

    http_timeout: float = 3.0
    """Slack gives a Request URL 3 s before it counts ``http_timeout`` and retries."""
    retry_delays: tuple[float, float, float] = (0.0, 0.25, 0.5)
    socket_ack_timeout: float = 3.0
    """How long an ``events_api`` envelope may stay unacknowledged before redelivery."""
    disconnect_grace: float = 1.0
    """After ``disconnect`` (refresh_requested/link_disabled) the socket is closed this late."""
