"""chat.getPermalink, as Slack documents it: ``channel`` and ``message_ts`` in, ``{channel,
permalink}`` out; a thread reply's permalink carries ``?thread_ts=...&cid=...``. No scope
needed (bot or user token); ``channel_not_found`` for a channel the token cannot see,
``message_not_found`` for no message (or a deleted one) at that ts."""

from __future__ import annotations

from typing import Final

from relay.lab.emulator import shapes
from relay.lab.emulator.call import BOT_OR_USER, Call, Method
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Json

__all__ = ["METHODS"]


async def get_permalink(call: Call) -> Json:
    ch = call.channel()
    ts = call.args.text("message_ts")
    msg = ch.messages.get(ts) if ts else None
    if msg is None or msg.tombstone:
        raise SlackError("message_not_found")
    link = f"{shapes.workspace_url(call.ws)}archives/{ch.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
    return {"channel": ch.id, "permalink": link}


METHODS: Final = {"chat.getPermalink": Method(handler=get_permalink, tokens=BOT_OR_USER)}
