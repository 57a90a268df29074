"""The shape of a Slack Events API body, checked before anything uses it: every object the
relay reads is an object, every id, ts and name it reads is a bounded string of the form Slack
gives it. Ids and ts end up in stored keys, logs and ``/status``; a ts that is an object, or
an id that is a paragraph, must never get that far.

:func:`event_problem` names the first field that is wrong by its dotted path (``event.message
.edited``), never its value; the event is then refused as ``malformed``. Content (blocks,
attachments, files) is left to :mod:`relay.core.slack_parse`'s allowlist, which blocks what it
does not know; only the containers are checked here. Event types the relay does nothing with
pass with their ``type`` checked: Slack may add fields to them at any time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from relay.core.json_strict import JsonRefused, loads_strict
from relay.core.reasons import Reason

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_EVENT_DEPTH",
    "Refused",
    "check_event",
    "event_id_of",
    "event_problem",
    "read_event",
]

MAX_EVENT_BYTES: Final = 1 << 20  # an Events API body, at most
MAX_EVENT_DEPTH: Final = 48  # Slack's deepest: a shared message's rich text in an attachment

_TYPE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ID: Final = re.compile(r"[A-Za-z0-9]{1,32}")  # team, channel, user, bot ids
_EVENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # Ev..., catchup.C...
_TS: Final = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_REACTION: Final = re.compile(r"[\w+'-]{1,100}(?:::skin-tone-[2-6])?")  # '+1::skin-tone-2'
_CHALLENGE: Final = re.compile(r"[\x21-\x7e]{1,256}")

Check = Callable[[Any], bool]


def _fits(pattern: re.Pattern[str]) -> Check:
    return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


_type, _id, _ts, _event_id = _fits(_TYPE), _fits(_ID), _fits(_TS), _fits(_EVENT_ID)

# Optional fields (absent or null is fine) of a message, wherever one is carried.
_MESSAGE_FIELDS: Final[Mapping[str, Check]] = {
    "type": _type,
    "subtype": _type,
    "channel": _id,
    "user": _id,
    "bot_id": _id,
    "team": _id,
    "ts": _ts,
    "thread_ts": _ts,
    "event_ts": _ts,
    "deleted_ts": _ts,
    "text": _is_str,
    "username": _is_str,
    "blocks": _is_list,
    "attachments": _is_list,
    "files": _is_list,
}
_REACTION_FIELDS: Final[Mapping[str, Check]] = {
    "reaction": _fits(_REACTION),
    "user": _id,
    "item_user": _id,
    "event_ts": _ts,
}
_ITEM_FIELDS: Final[Mapping[str, Check]] = {"type": _type, "channel": _id, "ts": _ts}
_MOVE_FIELDS: Final[Mapping[str, Check]] = {"old_channel_id": _id, "new_channel_id": _id}


def _fields(obj: Mapping[str, Any], checks: Mapping[str, Check], path: str) -> str | None:
    for key, ok in checks.items():
        value = obj.get(key)
        if value is not None and not ok(value):
            return f"{path}.{key}"
    return None


def _objects(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """``obj[key]``, when present, must be a list of objects (files, attachments, blocks)."""
    items = obj.get(key)
    if items is None:
        return None
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return f"{path}.{key}[{i}]"
    return None


def _message(msg: Any, path: str) -> str | None:
    if not isinstance(msg, dict):
        return path
    found = _fields(msg, _MESSAGE_FIELDS, path)
    for key in ("files", "attachments", "blocks"):
        found = found or _objects(msg, key, path)
    for key in ("edited", "metadata"):
        inner = msg.get(key)
        if found is None and inner is not None and not isinstance(inner, dict):
            found = f"{path}.{key}"
    edited = msg.get("edited")
    if found is None and isinstance(edited, dict):
        found = _fields(edited, {"user": _id, "ts": _ts}, f"{path}.edited")
    return found


def _message_event(event: dict[str, Any]) -> str | None:
    found = _message(event, "event")
    if found is not None:
        return found
    if not _id(event.get("channel")):
        return "event.channel"
    subtype = event.get("subtype")
    for key in ("message", "previous_message"):
        if event.get(key) is not None or (key == "message" and subtype == "message_changed"):
            found = _message(event.get(key), f"event.{key}")
            if found is not None:
                return found
    if subtype == "message_changed" and not _ts(event["message"].get("ts")):
        return "event.message.ts"
    if subtype == "message_deleted" and not _ts(event.get("deleted_ts")):
        return "event.deleted_ts"
    if subtype not in ("message_changed", "message_deleted") and not _ts(event.get("ts")):
        return "event.ts"
    return None


def _reaction_event(event: dict[str, Any]) -> str | None:
    found = _fields(event, _REACTION_FIELDS, "event")
    if found is not None:
        return found
    item = event.get("item")
    if not isinstance(item, dict):
        return "event.item"
    return _fields(item, _ITEM_FIELDS, "event.item")


def event_problem(doc: Any) -> str | None:
    """The dotted path of the first field of ``doc`` (an Events API body, or Socket Mode's
    ``events_api`` payload) that is not what the relay expects, or None."""
    if not isinstance(doc, dict):
        return "$"
    kind = doc.get("type")
    if not _type(kind):
        return "type"
    if kind == "url_verification":
        return None if _fits(_CHALLENGE)(doc.get("challenge")) else "challenge"
    if kind != "event_callback":
        return None  # app_rate_limited, ...: acknowledged, nothing done with it
    if not _event_id(doc.get("event_id")):
        return "event_id"
    if doc.get("team_id") is not None and not _id(doc.get("team_id")):
        return "team_id"
    event = doc.get("event")
    if not isinstance(event, dict):
        return "event"
    event_type = event.get("type")
    if not _type(event_type):
        return "event.type"
    if event_type == "message":
        return _message_event(event)
    if event_type in ("reaction_added", "reaction_removed"):
        return _reaction_event(event)
    if event_type == "channel_id_changed":
        return _fields(event, _MOVE_FIELDS, "event")
    return None


@dataclass(frozen=True, slots=True)
class Refused:
    """A body the relay will not use: why (``reason``), where (``field``, a dotted path, when
    the JSON was read but a field is wrong) and the event's id when it has a well-formed one.
    Never any of its content."""

    reason: Reason
    field: str | None = None
    event_id: str | None = None


def event_id_of(doc: Any) -> str | None:
    """``doc``'s ``event_id`` when it is one (safe to log), else None."""
    value = doc.get("event_id") if isinstance(doc, dict) else None
    return value if _event_id(value) else None


def check_event(doc: Any) -> dict[str, Any] | Refused:
    """``doc`` itself when its shape is right, else why not (``malformed``)."""
    field = event_problem(doc)
    if field is None:
        assert isinstance(doc, dict)  # noqa: S101 - event_problem said so
        return doc
    return Refused(Reason.MALFORMED, field, event_id_of(doc))


def read_event(body: bytes) -> dict[str, Any] | Refused:
    """An Events API body (HTTP, Socket Mode, stored) read strictly and checked."""
    try:
        doc = loads_strict(body, max_bytes=MAX_EVENT_BYTES, max_depth=MAX_EVENT_DEPTH)
    except JsonRefused as exc:
        return Refused(exc.reason)
    return check_event(doc)
