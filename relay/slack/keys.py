"""What a Slack event is about, as plain functions: the key it is stored under (Slack's
retries and the catch-up share it), the thread it is ordered in, whether it is the relay's
own post, the envelope ids of a message, and the cancellation rule."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from relay.core.envelope import EnvelopeKind
from relay.core.model import MessageKind, SlackMessage

__all__ = [
    "RELAY_MARK",
    "EnvelopeIds",
    "envelope_ids",
    "event_key",
    "is_own",
    "shown",
    "thread_of",
]

RELAY_MARK: Final = "relay_post"  # the metadata event type on every post the relay makes
_CANCEL: Final = re.compile(
    r"\b(?:cancel+(?:ed|led)? (?:the )?bolo|bolo cancel+ed|subject (?:is )?in custody|"
    r"disregard (?:the )?(?:previous|prior|above) bolo)\b",
    re.IGNORECASE,
)


def event_key(doc: dict[str, Any]) -> tuple[str, str] | None:
    """The message an event is about, and its order key, the thread it belongs to: a
    thread's events (the post, its replies, edits and deletes) are judged in the order they
    were taken; other threads go in parallel. A reaction added to a message queues with that
    message. None for other events."""
    event = doc.get("event")
    if not isinstance(event, dict):
        return None
    if event.get("type") == "reaction_added":
        return _reaction_key(event)
    channel = event.get("channel")
    if event.get("type") != "message" or not isinstance(channel, str):
        return None
    subtype = event.get("subtype")
    if subtype == "message_changed":
        message = event.get("message")
        message = message if isinstance(message, dict) else {}
        edited = message.get("edited")
        edited = edited if isinstance(edited, dict) else {}
        content = hashlib.sha256(
            json.dumps([message.get("text"), message.get("blocks")], sort_keys=True).encode()
        ).hexdigest()[:12]
        # which message, when (the edit's own time, whole seconds in Slack: a live edit event
        # and one rebuilt after an outage agree) and to what
        return (
            f"edit.{channel}.{message.get('ts')}.{edited.get('ts') or event.get('ts')}.{content}",
            f"{channel}/{message.get('thread_ts') or message.get('ts')}",
        )
    if subtype == "message_deleted":
        previous = event.get("previous_message")
        thread = previous.get("thread_ts") if isinstance(previous, dict) else None
        return (
            f"delete.{channel}.{event.get('deleted_ts')}",
            f"{channel}/{thread or event.get('deleted_ts')}",
        )
    return (
        f"post.{channel}.{event.get('ts')}",
        f"{channel}/{event.get('thread_ts') or event.get('ts')}",
    )


def _reaction_key(event: dict[str, Any]) -> tuple[str, str] | None:
    """A reaction on a message: one key per message, reaction and person (a retry, or the
    reaction taken off and put back, is the same key), queued with the message it is on."""
    item = event.get("item")
    item = item if isinstance(item, dict) else {}
    channel, ts = item.get("channel"), item.get("ts")
    reaction, user = event.get("reaction"), event.get("user")
    if not all(isinstance(v, str) and v for v in (channel, ts, reaction, user)):
        return None
    return f"react.{channel}.{ts}.{reaction}.{user}", f"{channel}/{ts}"


def shown(key: str) -> str:
    """An event key as it may be shown (``/status``, logs): an edit's key ends with a hash of
    the edited text, which is left out (a guess could be checked against it)."""
    return key.rsplit(".", 1)[0] if key.startswith("edit.") else key


def is_own(event: dict[str, Any], *, bot_user_id: str, bot_id: str | None) -> bool:
    """The relay's own post (its bot user or bot id): never shared. The ``relay_post``
    metadata mark alone does not make a message the relay's: anyone with a token could set
    it, and the message would then be left out without a trace."""
    for m in (event, event.get("message") or {}, event.get("previous_message") or {}):
        if not isinstance(m, dict):
            continue
        if m.get("user") == bot_user_id:
            return True
        if bot_id and m.get("bot_id") == bot_id:
            return True
    return False


@dataclass(frozen=True, slots=True)
class EnvelopeIds:
    envelope_id: str
    kind: EnvelopeKind
    thread: str | None  # the envelope id of the thread's first message
    target: str | None  # the envelope id an edit, delete or cancel is about


def thread_of(message: SlackMessage, event: dict[str, Any]) -> str | None:
    """The ts of the thread's first message when ``message`` is (or was) a reply."""
    thread_ts: str | None = message.thread_ts
    if thread_ts is None and message.kind is MessageKind.DELETE:
        # Slack names a deleted reply's thread only in previous_message: without it the
        # delete would queue apart from the reply and could overtake it.
        previous = event.get("previous_message")
        found = previous.get("thread_ts") if isinstance(previous, dict) else None
        thread_ts = found if isinstance(found, str) else None
    if thread_ts and thread_ts != (message.target_ts or message.ts):
        return thread_ts
    return None


def envelope_ids(
    agency: str,
    message: SlackMessage,
    event: dict[str, Any],
    *,
    channel: str | None = None,
    root: str | None = None,
) -> EnvelopeIds:
    """Envelope ids are derived from the agency, channel and Slack ts, so a thread reply, an
    edit or a delete names its original without any lookup (``channel``: the id the channel
    had first, when Slack has moved it since). ``root``: the envelope id of the message a
    relay post is the copy of, when the reply is made in that post's thread: the thread is
    then the origin's (one conversation in every workspace), and a reply there never cancels
    another agency's BOLO."""
    base = f"{agency}.{channel or message.channel}."
    kind: EnvelopeKind
    if message.kind is MessageKind.POST:
        jti, kind, target = base + str(message.ts), EnvelopeKind.POST, None
    elif message.kind is MessageKind.EDIT:
        jti = f"{base}{message.target_ts}.e{message.ts}"
        kind, target = EnvelopeKind.EDIT, base + str(message.target_ts)
    else:
        jti = f"{base}{message.target_ts}.d{message.ts}"
        kind, target = EnvelopeKind.DELETE, base + str(message.target_ts)
    thread = None
    thread_ts = thread_of(message, event)
    if root is not None and thread_ts:
        thread = root
    elif thread_ts:
        thread = base + str(thread_ts)
        text = event.get("text")
        if message.kind is MessageKind.POST and _CANCEL.search(
            text if isinstance(text, str) else ""
        ):
            kind, target = EnvelopeKind.CANCEL, thread
    return EnvelopeIds(envelope_id=jti, kind=kind, thread=thread, target=target)
