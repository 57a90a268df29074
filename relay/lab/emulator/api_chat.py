"""chat.postMessage, chat.update, chat.delete, chat.postEphemeral."""

from __future__ import annotations

from typing import Final

from relay.lab.emulator import shapes, timeline
from relay.lab.emulator.call import BOT_OR_USER, Call, Method
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Json, Message
from relay.lab.emulator.validate import check_attachments, check_blocks, check_text

__all__ = ["METHODS"]

_CUSTOMIZE: Final = ("username", "icon_url", "icon_emoji")


def _content(call: Call) -> tuple[str | None, list[Json] | None, list[Json] | None]:
    text = call.args.text("text")
    check_text(text)
    blocks = check_blocks(call.args.structured("blocks", "invalid_blocks_format"))
    attachments = check_attachments(call.args.structured("attachments", "invalid_attachments"))
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    return text, blocks, attachments


def _metadata(call: Call) -> Json | None:
    raw = call.args.structured("metadata", "invalid_metadata_format")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("event_type"), str):
        raise SlackError("invalid_metadata_format")
    return {"event_type": raw["event_type"], "event_payload": raw.get("event_payload", {})}


def _icons(call: Call) -> Json | None:
    url, emoji = call.args.text("icon_url"), call.args.text("icon_emoji")
    if url:
        return {"image_48": url}
    if emoji:
        return {"emoji": emoji.strip(":")}
    return None


def _post_as_user(call: Call) -> Json:
    """An officer's user token: the message is the officer's, as if typed in a client (no
    ``bot_id``; ``username``/``icon_*`` do not apply to user tokens and are ignored)."""
    ch = call.member_channel()
    text, blocks, attachments = _content(call)
    metadata = _metadata(call)
    thread_ts = call.args.text("thread_ts") or None
    if thread_ts is not None and thread_ts not in ch.messages:
        raise SlackError("invalid_thread_ts")
    ws, state = call.ws, call.state
    ts = state.ts.next()
    broadcast = thread_ts is not None and call.args.flag("reply_broadcast")
    msg = Message(
        ts=ts,
        text=text or "",
        user=call.actor,
        subtype="thread_broadcast" if broadcast else None,
        blocks=blocks if blocks is not None else shapes.rich_text(text or "", ts),
        attachments=attachments,
        thread_ts=thread_ts,
        metadata=metadata,
    )
    timeline.post(state, ws, ch, msg)
    return {
        "channel": ch.id,
        "ts": ts,
        "message": shapes.message_json(ws, ch, msg, state.base_url),
    }


def _own(call: Call, msg: Message, error: str) -> None:
    """chat.update/chat.delete: a bot token changes the app's messages, a user token the
    officer's own."""
    if call.as_user:
        mine = msg.user == call.actor and msg.bot_id is None
    else:
        mine = msg.bot_id == call.ws.bot_id
    if not mine:
        raise SlackError(error)


async def post_message(call: Call) -> Json:
    if call.as_user:
        return _post_as_user(call)
    ch = call.member_channel()
    text, blocks, attachments = _content(call)
    customized = any(k in call.args for k in _CUSTOMIZE)
    if customized:
        call.require_scope("chat:write.customize")
    metadata = _metadata(call)
    thread_ts = call.args.text("thread_ts") or None
    if thread_ts is not None and thread_ts not in ch.messages:
        raise SlackError("invalid_thread_ts")
    ws, state = call.ws, call.state
    ts = state.ts.next()
    subtype = "bot_message" if customized else None
    if thread_ts is not None and call.args.flag("reply_broadcast"):
        subtype = "thread_broadcast"
    msg = Message(
        ts=ts,
        text=text or "",
        user=None if customized else ws.bot_user_id,
        bot_id=ws.bot_id,
        app_id=ws.app_id,
        subtype=subtype,
        blocks=blocks if blocks is not None else shapes.rich_text(text or "", ts),
        attachments=attachments,
        thread_ts=thread_ts,
        username=call.args.text("username") if customized else None,
        icons=_icons(call),
        metadata=metadata,
    )
    timeline.post(state, ws, ch, msg)
    return {
        "channel": ch.id,
        "ts": ts,
        "message": shapes.message_json(ws, ch, msg, state.base_url),
    }


async def update(call: Call) -> Json:
    ch = call.member_channel()
    msg = call.message(ch)
    _own(call, msg, "cant_update_message")
    text = call.args.text("text")
    check_text(text)
    blocks = check_blocks(call.args.structured("blocks", "invalid_blocks_format"))
    if text is None and blocks is None:
        raise SlackError("no_text")
    editor = call.actor if call.as_user else call.ws.bot_id
    timeline.edit(call.state, call.ws, ch, msg, text=text, blocks=blocks, editor=editor)
    message = shapes.message_json(call.ws, ch, msg, call.state.base_url)
    return {"channel": ch.id, "ts": msg.ts, "text": msg.text, "message": message}


async def delete(call: Call) -> Json:
    ch = call.member_channel()
    msg = call.message(ch)
    _own(call, msg, "cant_delete_message")
    timeline.delete(call.state, call.ws, ch, msg)
    return {"channel": ch.id, "ts": msg.ts}


async def post_ephemeral(call: Call) -> Json:
    ch = call.member_channel()
    user = call.args.text("user") or ""
    if user not in call.ws.users:
        raise SlackError("user_not_found")
    if user not in ch.members:
        raise SlackError("user_not_in_channel")
    text, blocks, _ = _content(call)
    ts = call.state.ts.next()
    call.ws.ephemeral.append(
        {"channel": ch.id, "user": user, "ts": ts, "text": text or "", "blocks": blocks}
    )
    call.state.changes.notify()
    return {"message_ts": ts}


METHODS: Final = {
    "chat.postMessage": Method(
        handler=post_message, scope="chat:write", tokens=BOT_OR_USER, json=True
    ),
    "chat.update": Method(handler=update, scope="chat:write", tokens=BOT_OR_USER, json=True),
    "chat.delete": Method(handler=delete, scope="chat:write", tokens=BOT_OR_USER, json=True),
    "chat.postEphemeral": Method(handler=post_ephemeral, scope="chat:write", json=True),
}
