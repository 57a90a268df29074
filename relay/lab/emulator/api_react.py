"""reactions.add, reactions.remove, reactions.get and usergroups.users.list, and the change a
reaction makes (shared with simulated users): it fires ``reaction_added``/``reaction_removed``."""

from __future__ import annotations

import re
from typing import Final

from relay.lab.emulator import events, shapes
from relay.lab.emulator.call import BOT_OR_USER, Call, Method
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Channel, Json, Message, Workspace
from relay.lab.emulator.state import EmulatorState

__all__ = ["MAX_EMOJI", "MAX_PER_USER", "METHODS", "add", "check_name", "remove"]

MAX_EMOJI: Final = 50
"""Distinct reactions one message may carry (``too_many_emoji``)."""
MAX_PER_USER: Final = 23
"""Reactions one person may add to one message (``too_many_reactions``)."""
_NAME: Final = re.compile(r"[a-z0-9_+'-]{1,100}(::skin-tone-[2-6])?")
_TS: Final = re.compile(r"\d{1,12}\.\d{1,6}")


def check_name(name: str | None) -> str:
    """An emoji name as Slack takes it: no colons around it (``thumbsup``, ``+1``,
    ``wave::skin-tone-3``); anything else is ``invalid_name``."""
    if name is None or _NAME.fullmatch(name) is None:
        raise SlackError("invalid_name")
    return name


def _emit(
    state: EmulatorState, ws: Workspace, ch: Channel, msg: Message, user: str, name: str, kind: str
) -> None:
    """Reaction events reach the app where its bot is a member and it has ``reactions:read``
    (the scope Slack requires to subscribe to them)."""
    bot = state.tokens.get(ws.bot_token)
    if ws.bot_user_id not in ch.members or bot is None or "reactions:read" not in bot.scopes:
        return
    event = events.reaction_event(
        kind,
        user=user,
        name=name,
        ch=ch,
        ts=msg.ts,
        item_user=msg.user,  # none for customized app posts, as on Slack
        event_ts=state.ts.next(),
    )
    state.sink.emit(ws, event)


def add(
    state: EmulatorState, ws: Workspace, ch: Channel, msg: Message, user: str, name: str
) -> None:
    """``user`` reacts with ``name``; :class:`SlackError` as reactions.add would answer."""
    users = msg.reactions.get(name, [])
    if user in users:
        raise SlackError("already_reacted")
    if name not in msg.reactions and len(msg.reactions) >= MAX_EMOJI:
        raise SlackError("too_many_emoji")
    if sum(user in u for u in msg.reactions.values()) >= MAX_PER_USER:
        raise SlackError("too_many_reactions")
    msg.reactions.setdefault(name, []).append(user)
    state.changes.notify()
    _emit(state, ws, ch, msg, user, name, "reaction_added")


def remove(
    state: EmulatorState, ws: Workspace, ch: Channel, msg: Message, user: str, name: str
) -> None:
    users = msg.reactions.get(name, [])
    if user not in users:
        raise SlackError("no_reaction")
    users.remove(user)
    if not users:
        del msg.reactions[name]
    state.changes.notify()
    _emit(state, ws, ch, msg, user, name, "reaction_removed")


def _item(call: Call, *, member: bool) -> tuple[Channel, Message]:
    """The message named by ``channel`` + ``timestamp``, checked in Slack's terms."""
    ref, ts = call.args.text("channel"), call.args.text("timestamp")
    if not ref or not ts:
        if call.args.text("file") or call.args.text("file_comment"):
            raise SlackError("file_not_found")
        raise SlackError("no_item_specified")
    ch = call.channel(ref=ref)
    if _TS.fullmatch(ts) is None:
        raise SlackError("bad_timestamp")
    if member and call.actor not in ch.members:
        raise SlackError("not_in_channel")
    msg = ch.messages.get(ts)
    if msg is None or msg.tombstone:
        raise SlackError("message_not_found")
    return ch, msg


async def reactions_add(call: Call) -> Json:
    name = check_name(call.args.text("name"))
    ch, msg = _item(call, member=True)
    add(call.state, call.ws, ch, msg, call.actor, name)
    return {}


async def reactions_remove(call: Call) -> Json:
    name = check_name(call.args.text("name"))
    ch, msg = _item(call, member=True)
    remove(call.state, call.ws, ch, msg, call.actor, name)
    return {}


async def reactions_get(call: Call) -> Json:
    ch, msg = _item(call, member=False)
    message = shapes.message_json(call.ws, ch, msg, call.state.base_url, metadata=False)
    message["permalink"] = (
        f"{shapes.workspace_url(call.ws)}archives/{ch.id}/p{msg.ts.replace('.', '')}"
    )
    return {"type": "message", "channel": ch.id, "message": message}


async def usergroup_users(call: Call) -> Json:
    group = call.args.text("usergroup")
    if not group:
        raise SlackError("invalid_arguments")
    members = call.ws.usergroups.get(group)
    if members is None:
        raise SlackError("no_such_subteam")
    return {"users": list(members)}


METHODS: Final = {
    "reactions.add": Method(
        handler=reactions_add, scope="reactions:write", tokens=BOT_OR_USER, json=True
    ),
    "reactions.remove": Method(
        handler=reactions_remove, scope="reactions:write", tokens=BOT_OR_USER, json=True
    ),
    "reactions.get": Method(handler=reactions_get, scope="reactions:read", tokens=BOT_OR_USER),
    "usergroups.users.list": Method(
        handler=usergroup_users, scope="usergroups:read", tokens=BOT_OR_USER
    ),
}
