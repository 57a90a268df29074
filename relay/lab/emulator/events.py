"""Events API payloads: the inner events and the ``event_callback`` envelope around them."""

from __future__ import annotations

from relay.lab.emulator.model import Channel, Json, Workspace

__all__ = [
    "channel_id_changed",
    "channel_rename",
    "event_callback",
    "message_changed",
    "message_deleted",
    "message_event",
    "reaction_event",
]


def _channel_type(ch: Channel) -> str:
    return "group" if ch.is_private else "channel"


def message_event(ch: Channel, message: Json) -> Json:
    """``message`` (plain, bot, file_share, thread_broadcast, replies) as delivered."""
    event = dict(message)
    event["channel"] = ch.id
    event["event_ts"] = message["ts"]
    event["channel_type"] = _channel_type(ch)
    return event


def message_changed(ch: Channel, message: Json, previous: Json, event_ts: str) -> Json:
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": ch.id,
        "channel_type": _channel_type(ch),
        "ts": event_ts,
        "event_ts": event_ts,
        "message": message,
        "previous_message": previous,
    }


def message_deleted(ch: Channel, previous: Json, event_ts: str) -> Json:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": ch.id,
        "previous_message": previous,
        "deleted_ts": previous["ts"],
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": _channel_type(ch),
    }


def reaction_event(
    kind: str, *, user: str, name: str, ch: Channel, ts: str, item_user: str | None, event_ts: str
) -> Json:
    """``reaction_added`` / ``reaction_removed`` on a message. ``item_user`` is left out for
    messages no user authored (an app's customized posts, webhooks), as on Slack."""
    event: Json = {
        "type": kind,
        "user": user,
        "reaction": name,
        "item": {"type": "message", "channel": ch.id, "ts": ts},
    }
    if item_user is not None:
        event["item_user"] = item_user
    event["event_ts"] = event_ts
    return event


def channel_rename(ch: Channel, event_ts: str) -> Json:
    return {
        "type": "channel_rename",
        "channel": {"id": ch.id, "name": ch.name, "created": ch.created},
        "event_ts": event_ts,
    }


def channel_id_changed(old_id: str, new_id: str, event_ts: str) -> Json:
    return {
        "type": "channel_id_changed",
        "old_channel_id": old_id,
        "new_channel_id": new_id,
        "event_ts": event_ts,
    }


def event_callback(ws: Workspace, event: Json, *, event_id: str, event_time: int) -> Json:
    """The outer payload, as in ``events/event_callback_wrapper.json``."""
    return {
        "token": ws.verification_token,
        "team_id": ws.team_id,
        "context_team_id": ws.team_id,
        "context_enterprise_id": None,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{ws.team_id}-{event_id}",
    }
