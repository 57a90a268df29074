"""auth.test, conversations.history/replies/info, users.info."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Final

from relay.lab.emulator import directory, shapes
from relay.lab.emulator.call import BOT_OR_USER, Call, Method
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Channel, Json, Message, ts_key

__all__ = ["METHODS"]

_MAX_LIMIT: Final = 999
_NOW: Final = 2**63
"""``latest`` defaults to now; every stored message is older than this."""


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _cursor_key(cursor: str) -> int:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
        kind, _, digits = decoded.partition(":")
        if kind != "next_ts" or not digits.isdigit():
            raise ValueError(cursor)
        return int(digits)
    except (ValueError, binascii.Error):
        raise SlackError("invalid_cursor") from None


def _window(call: Call, *, latest_default: int) -> tuple[int, int, bool]:
    oldest = call.args.text("oldest")
    latest = call.args.text("latest")
    try:
        low = ts_key(oldest) if oldest else 0
        high = ts_key(latest) if latest else latest_default
    except ValueError:
        raise SlackError("invalid_ts_oldest" if oldest else "invalid_ts_latest") from None
    return low, high, call.args.flag("inclusive")


def _page(call: Call, ch: Channel, msgs: Sequence[Message], *, newest_first: bool) -> Json:
    """Slice ``msgs`` (already in answer order) by oldest/latest/inclusive/cursor/limit."""
    low, high, inclusive = _window(call, latest_default=_NOW)
    limit = min(max(call.args.number("limit", 100), 1), _MAX_LIMIT)
    in_range = [
        m
        for m in msgs
        if (low <= ts_key(m.ts) <= high if inclusive else low < ts_key(m.ts) < high)
    ]
    cursor = call.args.text("cursor")
    if cursor:
        start = _cursor_key(cursor)
        in_range = [
            m
            for m in in_range
            if (ts_key(m.ts) <= start if newest_first else ts_key(m.ts) >= start)
        ]
    page, rest = in_range[:limit], in_range[limit:]
    metadata = call.args.flag("include_all_metadata")
    ws, base = call.ws, call.state.base_url
    return {
        "messages": [shapes.message_json(ws, ch, m, base, metadata=metadata) for m in page],
        "has_more": bool(rest),
        "pin_count": 0,
        "response_metadata": {"next_cursor": _cursor(rest[0].ts) if rest else ""},
    }


async def auth_test(call: Call) -> Json:
    ws = call.ws
    if call.as_user:
        user = ws.users[call.actor]
        return {
            "url": shapes.workspace_url(ws),
            "team": ws.name,
            "user": user.name,
            "team_id": ws.team_id,
            "user_id": user.id,
            "is_enterprise_install": False,
        }
    return {
        "url": shapes.workspace_url(ws),
        "team": ws.name,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


async def history(call: Call) -> Json:
    ch = call.channel()
    call.history_scope(ch)
    newest_first = [m for m in reversed(ch.ordered()) if m.in_history]
    return _page(call, ch, newest_first, newest_first=True)


async def replies(call: Call) -> Json:
    ch = call.channel()
    call.history_scope(ch)
    ts = call.args.text("ts")
    msg = ch.messages.get(ts) if ts else None
    if msg is None:
        raise SlackError("thread_not_found")
    if msg.is_reply:
        return _page(call, ch, [msg], newest_first=False)
    thread = [msg] + [ch.messages[t] for t in msg.reply_ts if t in ch.messages]
    body = _page(call, ch, thread[1:], newest_first=False)
    body["messages"].insert(0, shapes.message_json(call.ws, ch, msg, call.state.base_url))
    return body


async def conversation_info(call: Call) -> Json:
    ch = call.channel()
    call.read_scope(ch)
    return {"channel": directory.channel_json(call.ws, ch)}


async def user_info(call: Call) -> Json:
    user = call.ws.users.get(call.args.text("user") or "")
    if user is None:
        raise SlackError("user_not_found")
    return {"user": directory.user_json(call.ws, user)}


METHODS: Final = {
    "auth.test": Method(handler=auth_test, tokens=BOT_OR_USER),
    "conversations.history": Method(handler=history, tokens=BOT_OR_USER),
    "conversations.replies": Method(handler=replies, tokens=BOT_OR_USER),
    "conversations.info": Method(handler=conversation_info, tokens=BOT_OR_USER),
    "users.info": Method(handler=user_info, scope="users:read", tokens=BOT_OR_USER),
}
