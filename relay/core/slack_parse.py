"""Parse a Slack ``message`` event (bare or in its ``event_callback`` wrapper) into a
:class:`~relay.core.model.SlackMessage`, from an allowlist of known fields.

Every key is checked against the set the relay knows for that object (those sets are
:mod:`relay.core.slack_keys`). A key, block type or element type outside those sets is recorded
in ``SlackMessage.unknown`` by dotted path (never with its value), and the engine blocks the
message with ``unknown_field``. Text is collected from every place listed in
``slack-reference/text_fields.json`` that the relay accepts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from relay.core import blocks as _blocks
from relay.core.model import (
    ChannelId,
    Line,
    MessageKind,
    SlackFile,
    SlackMessage,
    SlackTs,
    TextPart,
    UserId,
)
from relay.core.mrkdwn import line_text, parse_mrkdwn, split_lines, text_segments, unescape
from relay.core.slack_keys import (
    ATTACHMENT_KEYS,
    ATTACHMENT_TEXT_KEYS,
    FIELD_KEYS,
    FILE_KEYS,
    FILE_TEXT_KEYS,
    MESSAGE_KEYS,
    METADATA_KEYS,
    SHARED_KEYS,
    SHARED_MESSAGE_KEYS,
    WRAPPER_KEYS,
)
from relay.errors import InputError

__all__ = ["parse_event"]

_POST_SUBTYPES: Final = frozenset(
    {"", "thread_broadcast", "file_share", "bot_message", "me_message"}
)


def _check(obj: Mapping[str, Any], known: frozenset[str], path: str, unknown: list[str]) -> None:
    if known.issuperset(obj):
        return
    for key in obj:
        if key not in known and not (path.endswith("files[]") and key.startswith("thumb_")):
            unknown.append(f"{path}.{key}" if path else key)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any, prefix: str = "") -> list[str]:
    """Every key and string leaf of a JSON value, as ``key: value`` lines."""
    out: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, (Mapping, list)):
                out.extend(_strings(v, f"{k} "))
            else:
                out.append(f"{prefix}{k}: {v}")
    elif isinstance(value, list):
        for v in value:
            out.extend(_strings(v, prefix))
    elif value is not None:
        out.append(f"{prefix}{value}")
    return out


def _plain_lines(texts: list[str]) -> tuple[Line, ...]:
    lines: list[Line] = []
    for t in texts:
        lines.extend(split_lines(text_segments(t)))
    return tuple(lines)


def _parse_file(f: Any, path: str, unknown: list[str], aux: list[TextPart]) -> SlackFile | None:
    if not isinstance(f, Mapping):
        unknown.append(path)
        return None
    _check(f, FILE_KEYS, path, unknown)
    previews = [_str(f.get(k)) for k in FILE_TEXT_KEYS if f.get(k)]
    if previews:
        aux.append(TextPart(where="file_preview", lines=_plain_lines(previews), body=False))
    size = f.get("size")
    return SlackFile(
        id=_str(f.get("id")),
        name=_str(f.get("name")),
        title=_str(f.get("title")),
        alt_txt=_str(f.get("alt_txt")),
        mimetype=_str(f.get("mimetype")),
        filetype=_str(f.get("filetype")),
        size=size if isinstance(size, int) and not isinstance(size, bool) else -1,
        mode=_str(f.get("mode")) or "hosted",
    )


def _objects(
    obj: Mapping[str, Any], key: str, path: str, unknown: list[str]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each object listed under ``obj[key]`` with its path; anything else there is unknown."""
    for i, item in enumerate(_blocks.list_field(obj, key, path, unknown)):
        item_path = f"{path}.{key}[{i}]"
        if not isinstance(item, Mapping):
            unknown.append(item_path)
            continue
        yield item_path, item


def _parse_attachment(
    a: Any, path: str, unknown: list[str], body: list[TextPart], aux: list[TextPart]
) -> None:
    if not isinstance(a, Mapping):
        unknown.append(path)
        return
    _check(a, ATTACHMENT_KEYS, path, unknown)
    if "actions" in a:
        unknown.append(f"{path}.actions")
    texts = [_str(a.get(k)) for k in ATTACHMENT_TEXT_KEYS if _str(a.get(k))]
    for fpath, fld in _objects(a, "fields", path, unknown):
        _check(fld, FIELD_KEYS, fpath, unknown)
        texts.append(f"{_str(fld.get('title'))}: {_str(fld.get('value'))}")
    lines: list[Line] = []
    for t in texts:
        lines.extend(parse_mrkdwn(t))
    lines.extend(_blocks.parse_blocks(a.get("blocks") or [], f"{path}.blocks", unknown))
    shared = bool(
        a.get("is_share")
        or a.get("is_msg_unfurl")
        or a.get("from_url")
        or a.get("message_blocks")
        or a.get("original_url")
    )
    for mpath, mb in _objects(a, "message_blocks", path, unknown):
        _check(mb, SHARED_KEYS, mpath, unknown)
        msg = mb.get("message") or {}
        if isinstance(msg, Mapping):
            _check(msg, SHARED_MESSAGE_KEYS, f"{mpath}.message", unknown)
            lines.extend(_blocks.parse_blocks(msg.get("blocks") or [], f"{mpath}.blocks", unknown))
            lines.extend(parse_mrkdwn(_str(msg.get("text"))))
    if _str(a.get("fallback")):
        aux.append(TextPart(where="fallback", lines=parse_mrkdwn(_str(a["fallback"])), body=False))
    # Shared or unfurled messages come from other channels: scanned, never sent on.
    part = TextPart(
        where="shared_message" if shared else "attachment", lines=tuple(lines), body=not shared
    )
    (aux if shared else body).append(part)


def _content(
    msg: Mapping[str, Any], path: str, unknown: list[str]
) -> tuple[list[TextPart], list[SlackFile], bool]:
    _check(msg, MESSAGE_KEYS, path, unknown)
    body: list[TextPart] = []
    aux: list[TextPart] = []
    text = _str(msg.get("text"))
    for key in ("text", "username", "thread_ts", "ts", "user", "subtype"):
        if msg.get(key) is not None and not isinstance(msg.get(key), str):
            unknown.append(f"{path}.{key}" if path else key)
    raw_blocks = msg.get("blocks") or []
    from_blocks = bool(raw_blocks)
    if from_blocks:
        block_lines = _blocks.parse_blocks(
            raw_blocks, f"{path}.blocks" if path else "blocks", unknown
        )
        body.append(TextPart(where="blocks", lines=block_lines, body=True))
        # The text fallback usually says exactly what the blocks say: scan it only when not.
        if text and unescape(text) != "\n".join(line_text(ln) for ln in block_lines):
            aux.append(TextPart(where="text", lines=parse_mrkdwn(text), body=False))
    elif text:
        body.append(TextPart(where="text", lines=parse_mrkdwn(text), body=True))
    for i, a in enumerate(_blocks.list_field(msg, "attachments", path, unknown)):
        _parse_attachment(
            a, f"{path}.attachments[{i}]" if path else f"attachments[{i}]", unknown, body, aux
        )
    files: list[SlackFile] = []
    for f in _blocks.list_field(msg, "files", path, unknown):
        parsed = _parse_file(f, f"{path}.files[]" if path else "files[]", unknown, aux)
        if parsed is not None:
            files.append(parsed)
    meta = msg.get("metadata")
    if meta is not None:
        if isinstance(meta, Mapping):
            _check(meta, METADATA_KEYS, f"{path}.metadata" if path else "metadata", unknown)
            aux.append(TextPart(where="metadata", lines=_plain_lines(_strings(meta)), body=False))
        else:
            unknown.append("metadata")
    return body + aux, files, from_blocks


def _ts(value: Any) -> SlackTs | None:
    return SlackTs(value) if isinstance(value, str) and value else None


def parse_event(doc: Any) -> SlackMessage:
    """Parse a wire event. Raises :class:`InputError` when it is not a JSON object."""
    if not isinstance(doc, Mapping):
        raise InputError("event must be a JSON object")
    unknown: list[str] = []
    event: Any = doc
    if doc.get("type") == "event_callback" or "event" in doc:
        _check(doc, WRAPPER_KEYS, "", unknown)
        event = doc.get("event")
        if not isinstance(event, Mapping):
            raise InputError("event_callback without an event object")
    subtype = _str(event.get("subtype"))
    base: dict[str, Any] = {
        "subtype": subtype,
        "channel": ChannelId(event["channel"]) if _str(event.get("channel")) else None,
        "ts": _ts(event.get("ts")),
        "team": _str(event.get("team")) or None,
        "broadcast": subtype == "thread_broadcast",
    }
    if event.get("type") != "message" or (
        subtype not in _POST_SUBTYPES and subtype not in {"message_changed", "message_deleted"}
    ):
        return _empty(MessageKind.IGNORED, base, event, unknown)
    if subtype == "message_deleted":
        base["target_ts"] = _ts(event.get("deleted_ts"))
        return _empty(MessageKind.DELETE, base, event, unknown)
    kind = MessageKind.POST
    msg: Mapping[str, Any] = event
    path = ""
    if subtype == "message_changed":
        inner = event.get("message")
        if not isinstance(inner, Mapping):
            raise InputError("message_changed without a message object")
        _check(event, MESSAGE_KEYS, "", unknown)
        msg, path, kind = inner, "message", MessageKind.EDIT
        base["target_ts"] = _ts(inner.get("ts"))
        if inner.get("subtype") == "tombstone":
            return _empty(MessageKind.DELETE, base, inner, unknown)
        base["subtype"] = _str(inner.get("subtype"))
    parts, files, from_blocks = _content(msg, path, unknown)
    return SlackMessage(
        kind=kind,
        subtype=base["subtype"],
        channel=base["channel"],
        ts=base["ts"],
        target_ts=base.get("target_ts"),
        thread_ts=_ts(msg.get("thread_ts")),
        broadcast=base["broadcast"],
        user=UserId(msg["user"]) if _str(msg.get("user")) else None,
        team=_str(msg.get("team")) or base["team"],
        bot_id=_str(msg.get("bot_id")) or None,
        parts=tuple(parts),
        files=tuple(files),
        from_blocks=from_blocks,
        unknown=tuple(unknown),
    )


def _empty(
    kind: MessageKind, base: dict[str, Any], event: Mapping[str, Any], unknown: list[str]
) -> SlackMessage:
    return SlackMessage(
        kind=kind,
        subtype=base["subtype"] or _str(event.get("type")),
        channel=base["channel"],
        ts=base["ts"],
        target_ts=base.get("target_ts"),
        thread_ts=_ts(event.get("thread_ts")),
        broadcast=False,
        user=UserId(event["user"]) if _str(event.get("user")) else None,
        team=base["team"],
        bot_id=_str(event.get("bot_id")) or None,
        parts=(),
        files=(),
        from_blocks=False,
        unknown=tuple(unknown),
    )
