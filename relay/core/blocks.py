"""Block Kit blocks (rich_text, section, header, context, divider, image, markdown) to lines.

Only the block and element types below are understood; anything else is recorded as unknown
by path and type name, which blocks the message (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from relay.core.model import Line, LineKind, Link, Ref, Segment, Text
from relay.core.mrkdwn import parse_mrkdwn, split_lines, text_segments

__all__ = ["list_field", "parse_blocks"]

_BLOCK_KEYS: Final[dict[str, frozenset[str]]] = {
    "rich_text": frozenset({"type", "block_id", "elements"}),
    "section": frozenset({"type", "block_id", "text", "fields", "expand"}),
    "header": frozenset({"type", "block_id", "text"}),
    "context": frozenset({"type", "block_id", "elements"}),
    "divider": frozenset({"type", "block_id"}),
    "image": frozenset(
        {
            "type",
            "block_id",
            "image_url",
            "alt_text",
            "title",
            "slack_file",
            "image_width",
            "image_height",
            "image_bytes",
            "fallback",
            "is_animated",
        }
    ),
    "markdown": frozenset({"type", "block_id", "text"}),
}
_TEXT_OBJECT_KEYS: Final = frozenset({"type", "text", "emoji", "verbatim"})
_CONTAINER_KEYS: Final[dict[str, frozenset[str]]] = {
    "rich_text_section": frozenset({"type", "elements"}),
    "rich_text_list": frozenset({"type", "elements", "style", "indent", "offset", "border"}),
    "rich_text_quote": frozenset({"type", "elements", "border"}),
    "rich_text_preformatted": frozenset({"type", "elements", "border", "language"}),
}
_INLINE_KEYS: Final[dict[str, frozenset[str]]] = {
    "text": frozenset({"type", "text", "style"}),
    "link": frozenset({"type", "url", "text", "style", "unsafe"}),
    "user": frozenset({"type", "user_id", "style"}),
    "channel": frozenset({"type", "channel_id", "style"}),
    "usergroup": frozenset({"type", "usergroup_id", "style"}),
    "broadcast": frozenset({"type", "range", "style"}),
    "emoji": frozenset({"type", "name", "unicode", "skin_tone", "style"}),
    "date": frozenset({"type", "timestamp", "format", "fallback", "url", "style"}),
    "team": frozenset({"type", "team_id", "style"}),
    "color": frozenset({"type", "value", "style"}),
}
_TEXT_KEYS: Final = frozenset({"type", "text", "style"})
_STYLE_KEYS: Final = frozenset(
    {"bold", "italic", "strike", "code", "underline", "highlight", "client_highlight", "unlink"}
)


def list_field(obj: Mapping[str, Any], key: str, path: str, unknown: list[str]) -> list[Any]:
    """A list-valued field; any other type is recorded as unknown (fail closed)."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        unknown.append(f"{path}.{key}" if path else key)
        return []
    return value


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _keys(obj: Mapping[str, Any], known: frozenset[str], path: str, unknown: list[str]) -> None:
    if not known.issuperset(obj):
        unknown.extend(f"{path}.{k}" for k in obj if k not in known)


def _typed(
    obj: Any, table: Mapping[str, frozenset[str]], path: str, unknown: list[str]
) -> str | None:
    if not isinstance(obj, Mapping):
        unknown.append(path)
        return None
    kind = obj.get("type")
    known = table.get(kind) if isinstance(kind, str) else None
    if known is None:
        unknown.append(f"{path}:{kind if isinstance(kind, str) else '?'}"[:120])
        return None
    if not known.issuperset(obj):
        _keys(obj, known, path, unknown)
    return kind


def _text_object(obj: Any, path: str, unknown: list[str]) -> tuple[Line, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, Mapping) or obj.get("type") not in ("plain_text", "mrkdwn"):
        unknown.append(path)
        return ()
    _keys(obj, _TEXT_OBJECT_KEYS, path, unknown)
    text = _s(obj.get("text"))
    if obj["type"] == "mrkdwn":
        return parse_mrkdwn(text)
    return tuple(split_lines(text_segments(text)))


_NO_STYLE: Final[Mapping[str, Any]] = {}


def _inline(el: Any, parent: str, index: int, unknown: list[str]) -> list[Segment]:
    kind = el.get("type") if isinstance(el, Mapping) else None
    known = _INLINE_KEYS.get(kind) if isinstance(kind, str) else None
    if known is None or not known.issuperset(el):
        kind = _typed(el, _INLINE_KEYS, f"{parent}.elements[{index}]", unknown)
        if kind is None:
            return []
    style = el.get("style") or _NO_STYLE
    if style is not _NO_STYLE:
        if not isinstance(style, Mapping):
            unknown.append(f"{parent}.elements[{index}].style")
            style = _NO_STYLE
        elif not _STYLE_KEYS.issuperset(style):
            _keys(style, _STYLE_KEYS, f"{parent}.elements[{index}].style", unknown)
    match kind:
        case "text":
            if not isinstance(el.get("text"), str):
                unknown.append(f"{parent}.elements[{index}].text")
                return []
            runs = text_segments(el["text"])  # a bare URL in a run is a link like any other
            flags = (
                bool(style.get("bold")),
                bool(style.get("italic")),
                bool(style.get("strike")),
                bool(style.get("code")),
            )
            return [Text(seg.text, *flags) if isinstance(seg, Text) else seg for seg in runs]
        case "link":
            return [Link(_s(el.get("url")), _s(el.get("text")))]
        case "user":
            return [Ref("user", _s(el.get("user_id")))]
        case "channel":
            return [Ref("channel", _s(el.get("channel_id")))]
        case "usergroup":
            return [Ref("usergroup", _s(el.get("usergroup_id")))]
        case "team":
            return [Ref("team", _s(el.get("team_id")))]
        case "broadcast":
            return [Ref("broadcast", _s(el.get("range")))]
        case "emoji":
            return [Text(f":{_s(el.get('name'))}:")]
        case "date":
            return [Text(_s(el.get("fallback")))]
        case _:  # color
            return [Text(_s(el.get("value")))]


def _container(el: Any, path: str, unknown: list[str]) -> list[Line]:
    kind = _typed(el, _CONTAINER_KEYS, path, unknown)
    if kind is None:
        return []
    children = list_field(el, "elements", path, unknown)
    if kind == "rich_text_list":
        ordered = el.get("style") == "ordered"
        raw_indent = el.get("indent")
        level = min(max(raw_indent, 0), 8) if type(raw_indent) is int else 0
        lines: list[Line] = []
        for i, child in enumerate(children):
            for ln in _container(child, f"{path}.elements[{i}]", unknown):
                lines.append(
                    Line(ln.segments, LineKind.ORDERED if ordered else LineKind.BULLET, level)
                )
        return lines
    segments: list[Segment] = []
    for i, child in enumerate(children):
        # Fast path for the common element: a text run with known keys and style.
        if type(child) is dict and child.get("type") == "text" and child.keys() <= _TEXT_KEYS:
            text = child.get("text")
            style = child.get("style")
            if type(text) is str and "://" not in text:
                if style is None:
                    segments.append(Text(text))
                    continue
                if type(style) is dict and style.keys() <= _STYLE_KEYS:
                    segments.append(
                        Text(
                            text,
                            bool(style.get("bold")),
                            bool(style.get("italic")),
                            bool(style.get("strike")),
                            bool(style.get("code")),
                        )
                    )
                    continue
        segments.extend(_inline(child, path, i, unknown))
    line_kind = {
        "rich_text_quote": LineKind.QUOTE,
        "rich_text_preformatted": LineKind.PREFORMATTED,
    }.get(kind, LineKind.PARAGRAPH)
    return split_lines(segments, line_kind)


def _block(b: Any, path: str, unknown: list[str]) -> list[Line]:
    kind = _typed(b, _BLOCK_KEYS, path, unknown)
    lines: list[Line] = []
    match kind:
        case "rich_text":
            for i, el in enumerate(list_field(b, "elements", path, unknown)):
                lines.extend(_container(el, f"{path}.elements[{i}]", unknown))
        case "section":
            lines.extend(_text_object(b.get("text"), f"{path}.text", unknown))
            for i, fld in enumerate(list_field(b, "fields", path, unknown)):
                lines.extend(_text_object(fld, f"{path}.fields[{i}]", unknown))
        case "header" | "markdown":
            txt = b.get("text")
            if kind == "markdown":
                lines.extend(parse_mrkdwn(_s(txt)))
            else:
                lines.extend(_text_object(txt, f"{path}.text", unknown))
        case "context":
            for i, el in enumerate(list_field(b, "elements", path, unknown)):
                epath = f"{path}.elements[{i}]"
                if isinstance(el, Mapping) and el.get("type") == "image":
                    _keys(
                        el,
                        frozenset({"type", "image_url", "alt_text", "slack_file"}),
                        epath,
                        unknown,
                    )
                    lines.extend(split_lines(text_segments(_s(el.get("alt_text")))))
                else:
                    lines.extend(_text_object(el, epath, unknown))
        case "image":
            for key in ("alt_text",):
                lines.extend(split_lines(text_segments(_s(b.get(key)))))
            lines.extend(_text_object(b.get("title"), f"{path}.title", unknown))
        case _:  # divider, or unknown (already recorded)
            pass
    return lines


def parse_blocks(raw: Any, path: str, unknown: list[str]) -> tuple[Line, ...]:
    if not isinstance(raw, list):
        unknown.append(path)
        return ()
    lines: list[Line] = []
    for i, b in enumerate(raw):
        lines.extend(_block(b, f"{path}[{i}]", unknown))
    return tuple(lines)
