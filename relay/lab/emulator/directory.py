"""Directory shapes: ``conversations.info`` channels and ``users.info`` users."""

from __future__ import annotations

from relay.lab.emulator.model import Channel, Json, User, Workspace
from relay.lab.emulator.shapes import BOT_UPDATED

__all__ = ["channel_json", "user_json"]


def channel_json(ws: Workspace, ch: Channel) -> Json:
    return {
        "id": ch.id,
        "name": ch.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": ch.is_private,
        "created": ch.created,
        "is_archived": False,
        "is_general": False,
        "unlinked": 0,
        "name_normalized": ch.name,
        "is_shared": False,
        "is_org_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "context_team_id": ws.team_id,
        "parent_conversation": None,
        "creator": ch.creator,
        "is_ext_shared": False,
        "is_member": ws.bot_user_id in ch.members,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": list(ch.previous_names),
        "num_members": len(ch.members),
    }


def user_json(ws: Workspace, user: User) -> Json:
    profile: Json = {
        "display_name": user.display_name,
        "display_name_normalized": user.display_name,
        "real_name": user.real_name,
        "real_name_normalized": user.real_name,
        "image_48": f"https://avatars.example.invalid/{user.id}_48.png",
        "team": ws.team_id,
    }
    if user.bot_id is not None:
        profile["bot_id"] = user.bot_id
    return {
        "id": user.id,
        "team_id": ws.team_id,
        "name": user.name,
        "deleted": False,
        "real_name": user.real_name,
        "tz": "America/New_York",
        "tz_label": "Eastern Standard Time",
        "tz_offset": -18000,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": BOT_UPDATED,
    }
