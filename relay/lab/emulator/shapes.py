"""Wire shapes built from emulator records, following the reference payloads field by field."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from typing import Final
from urllib.parse import quote

from relay.lab.emulator.model import Channel, Json, Message, StoredFile, Workspace

__all__ = [
    "block_id",
    "bot_profile",
    "file_json",
    "message_json",
    "reactions_json",
    "rich_text",
    "workspace_url",
]

_PRETTY: Final = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "pdf": "PDF"}
BOT_UPDATED: Final = 1_700_000_000


def workspace_url(ws: Workspace) -> str:
    return f"https://{ws.domain}.slack.com/"


def block_id(seed: str) -> str:
    """Slack clients pick short random ids ("Ab1cD"); a hash keeps them stable in tests."""
    digest = hashlib.sha256(seed.encode()).digest()
    return base64.b64encode(digest).decode()[:5]


def rich_text(text: str, seed: str) -> list[Json]:
    """The ``rich_text`` block a Slack client sends for plain typed text."""
    if not text:
        return []
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": block_id(seed), "elements": [section]}]


def bot_profile(ws: Workspace) -> Json:
    icons = {f"image_{n}": f"https://avatars.example.invalid/bot_{n}.png" for n in (36, 48, 72)}
    return {
        "id": ws.bot_id,
        "app_id": ws.app_id,
        "name": ws.bot_name,
        "icons": icons,
        "deleted": False,
        "updated": BOT_UPDATED,
        "team_id": ws.team_id,
    }


def _file_kind(name: str) -> tuple[str, str, str, str]:
    """(mimetype, filetype, pretty_type, mode) from the file name."""
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    ext = name.rpartition(".")[2].lower() if "." in name else "binary"
    if mimetype.startswith("text/"):
        return mimetype, "text", "Plain Text", "snippet"
    return mimetype, ext, _PRETTY.get(ext, ext.upper()), "hosted"


def _snippet(f: StoredFile, permalink: str) -> Json:
    """Preview fields Slack adds to text files."""
    lines = (f.content or b"").decode("utf-8", "replace").splitlines()
    return {
        "edit_link": f"{permalink}/edit",
        "preview": "\n".join(lines[:5]),
        "lines": len(lines),
        "lines_more": max(len(lines) - 5, 0),
        "preview_is_truncated": len(lines) > 5,
    }


def file_json(ws: Workspace, f: StoredFile, base_url: str, *, full: bool = True) -> Json:
    """A file object; ``full=False`` is the lighter form embedded in messages (no shares)."""
    mimetype, filetype, pretty, mode = _file_kind(f.name)
    slug = quote(f.name.lower())
    pri = f"{base_url}/files-pri/{ws.team_id}-{f.id}"
    permalink = f"{workspace_url(ws)}files/{f.user}/{f.id}/{slug}"
    public = {cid: shares for cid, shares in f.shares.items() if not _private(ws, cid)}
    private = {cid: shares for cid, shares in f.shares.items() if _private(ws, cid)}
    body: Json = {
        "id": f.id,
        "created": f.created,
        "timestamp": f.created,
        "name": f.name,
        "title": f.title,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": pretty,
        "user": f.user,
        "user_team": ws.team_id,
        "editable": mode == "snippet",
        "size": f.length,
        "mode": mode,
        "is_external": False,
        "external_type": "",
        "is_public": bool(public),
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": f"{pri}/{slug}",
        "url_private_download": f"{pri}/download/{slug}",
        "permalink": permalink,
        "permalink_public": f"https://slack-files.com/{ws.team_id}-{f.id}-{block_id(f.id)}",
        "has_rich_preview": False,
        "file_access": "visible",
    }
    if f.alt_txt is not None:
        body["alt_txt"] = f.alt_txt
    if mode == "snippet":
        body.update(_snippet(f, permalink))
    if full:
        shares: Json = {}
        if public:
            shares["public"] = public
        if private:
            shares["private"] = private
        body.update(
            comments_count=0,
            is_starred=False,
            shares=shares,
            channels=sorted(public),
            groups=sorted(private),
            ims=[],
            has_more_shares=False,
        )
    return body


def _private(ws: Workspace, channel_id: str) -> bool:
    channel = ws.channels.get(channel_id)
    return channel is not None and channel.is_private


def _thread_fields(msg: Message) -> Json:
    if not msg.reply_ts:
        return {}
    return {
        "thread_ts": msg.ts,
        "reply_count": len(msg.reply_ts),
        "reply_users_count": len(msg.reply_users),
        "latest_reply": msg.reply_ts[-1],
        "reply_users": list(msg.reply_users),
        "is_locked": False,
    }


def reactions_json(msg: Message) -> list[Json]:
    """``reactions`` as history, replies and reactions.get show them."""
    return [
        {"name": name, "users": list(users), "count": len(users)}
        for name, users in msg.reactions.items()
    ]


def message_json(
    ws: Workspace, ch: Channel, msg: Message, base_url: str, *, metadata: bool = True
) -> Json:
    """A message as ``conversations.history`` and message events show it."""
    if msg.tombstone:
        return {
            "type": "message",
            "subtype": "tombstone",
            "hidden": True,
            "user": "USLACKBOT",
            "text": "This message was deleted.",
            "ts": msg.ts,
            **_thread_fields(msg),
        }
    body: Json = {"type": "message"}
    if msg.subtype is not None:
        body["subtype"] = msg.subtype
    if msg.user is not None:
        body["user"] = msg.user
    for key, value in (("bot_id", msg.bot_id), ("app_id", msg.app_id)):
        if value is not None:
            body[key] = value
    body["text"] = msg.text
    if msg.subtype != "bot_message":
        body["team"] = ws.team_id
    if msg.client_msg_id is not None:
        body["client_msg_id"] = msg.client_msg_id
    if msg.blocks:
        body["blocks"] = msg.blocks
    if msg.attachments:
        body["attachments"] = msg.attachments
    if msg.file_ids:
        found = (ws.files[i] for i in msg.file_ids if i in ws.files)
        body["files"] = [file_json(ws, f, base_url, full=False) for f in found]
        body["upload"] = bool(msg.upload)
        body["display_as_bot"] = False
    body["ts"] = msg.ts
    if msg.is_reply:
        body["thread_ts"] = msg.thread_ts
        body["parent_user_id"] = msg.parent_user_id
    body.update(_thread_fields(msg))
    if msg.subtype == "thread_broadcast" and msg.thread_ts in ch.messages:
        root = message_json(ws, ch, ch.messages[msg.thread_ts], base_url, metadata=False)
        body["root"] = root
    if msg.edited is not None:
        body["edited"] = dict(msg.edited)
    if msg.reactions:
        body["reactions"] = reactions_json(msg)
    if msg.username is not None:
        body["username"] = msg.username
    if msg.icons is not None:
        body["icons"] = dict(msg.icons)
    if msg.bot_id == ws.bot_id and msg.subtype != "bot_message":
        body["bot_profile"] = bot_profile(ws)
    if metadata and msg.metadata is not None:
        body["metadata"] = msg.metadata
    return body
