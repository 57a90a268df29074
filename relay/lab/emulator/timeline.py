"""Changes to channels shared by Web API methods and simulated users; each one fires events."""

from __future__ import annotations

from relay.lab.emulator import events, shapes
from relay.lab.emulator.model import Channel, Json, Message, Workspace
from relay.lab.emulator.state import EmulatorState

__all__ = ["author", "change_channel_id", "delete", "edit", "post", "rename_channel"]


def author(ws: Workspace, msg: Message) -> str:
    """The user id behind a message (the bot user for the app's own posts)."""
    if msg.user is not None:
        return msg.user
    return ws.bot_user_id if msg.bot_id == ws.bot_id else (msg.bot_id or "")


def _render(state: EmulatorState, ws: Workspace, ch: Channel, msg: Message) -> Json:
    return shapes.message_json(ws, ch, msg, state.base_url)


def _emit_message_event(state: EmulatorState, ws: Workspace, ch: Channel, event: Json) -> None:
    """message.channels / message.groups reach the app only where its bot is a member."""
    if ws.bot_user_id in ch.members:
        state.sink.emit(ws, event)


def post(state: EmulatorState, ws: Workspace, ch: Channel, msg: Message) -> Message:
    """Store ``msg`` (threading it under its parent) and fire its ``message`` event."""
    if msg.thread_ts is not None:
        parent = ch.messages[msg.thread_ts]
        if parent.is_reply and parent.thread_ts is not None:
            parent = ch.messages[parent.thread_ts]
        msg.thread_ts = parent.ts
        msg.parent_user_id = author(ws, parent)
        parent.reply_ts.append(msg.ts)
        if author(ws, msg) not in parent.reply_users:
            parent.reply_users.append(author(ws, msg))
    ch.messages[msg.ts] = msg
    state.changes.notify()
    if msg.bot_id != ws.bot_id or ws.echo_bot_messages:
        _emit_message_event(state, ws, ch, events.message_event(ch, _render(state, ws, ch, msg)))
    return msg


def edit(
    state: EmulatorState,
    ws: Workspace,
    ch: Channel,
    msg: Message,
    *,
    text: str | None,
    blocks: list[Json] | None,
    editor: str,
) -> None:
    """Apply an edit and fire ``message_changed`` with the previous version."""
    previous = _render(state, ws, ch, msg)
    event_ts = state.ts.next()
    if text is not None:
        msg.text = text
    if blocks is not None:
        msg.blocks = blocks
    elif text is not None and msg.blocks and msg.blocks[0].get("type") == "rich_text":
        msg.blocks = shapes.rich_text(text, f"{msg.ts}:{event_ts}")
    msg.edited = {"user": editor, "ts": f"{event_ts.partition('.')[0]}.000000"}
    state.changes.notify()
    changed = events.message_changed(ch, _render(state, ws, ch, msg), previous, event_ts)
    _emit_message_event(state, ws, ch, changed)


def delete(state: EmulatorState, ws: Workspace, ch: Channel, msg: Message) -> None:
    """Delete; a thread parent with replies becomes a tombstone (``message_changed``)."""
    previous = _render(state, ws, ch, msg)
    event_ts = state.ts.next()
    if msg.reply_ts and not msg.is_reply:
        msg.tombstone = True
        state.changes.notify()
        tomb = _render(state, ws, ch, msg)
        _emit_message_event(state, ws, ch, events.message_changed(ch, tomb, previous, event_ts))
        return
    del ch.messages[msg.ts]
    if msg.is_reply and msg.thread_ts in ch.messages:
        parent = ch.messages[msg.thread_ts]
        parent.reply_ts.remove(msg.ts)
        remaining = {author(ws, ch.messages[t]) for t in parent.reply_ts}
        parent.reply_users = [u for u in parent.reply_users if u in remaining]
    state.changes.notify()
    _emit_message_event(state, ws, ch, events.message_deleted(ch, previous, event_ts))


def rename_channel(state: EmulatorState, ws: Workspace, ch: Channel, name: str) -> None:
    ch.previous_names.insert(0, ch.name)
    ch.name = name
    state.changes.notify()
    state.sink.emit(ws, events.channel_rename(ch, state.ts.next()))


def change_channel_id(state: EmulatorState, ws: Workspace, ch: Channel, new_id: str) -> None:
    """Slack re-ids a channel (e.g. private ``G...`` -> ``C...``); the old id stops working."""
    if new_id in ws.channels:
        raise ValueError(f"channel {new_id!r} already exists in {ws.team_id!r}")
    old_id = ch.id
    del ws.channels[old_id]
    ch.id = new_id
    ws.channels[new_id] = ch
    for f in ws.files.values():
        if old_id in f.shares:
            f.shares[new_id] = f.shares.pop(old_id)
    state.changes.notify()
    state.sink.emit(ws, events.channel_id_changed(old_id, new_id, state.ts.next()))
