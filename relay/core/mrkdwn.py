"""Slack mrkdwn text to lines of segments, and lines back to mrkdwn.

Slack's ``text`` escapes ``&``, ``<`` and ``>`` as entities and writes references as
``<@U..>``, ``<#C..|name>``, ``<!here>``, ``<!subteam^S..>``, ``<!date^..|fallback>`` and links
as ``<url|label>``. Parsing decodes entities inside plain text only, so a typed ``&lt;@U1&gt;``
stays text while a real mention becomes a :class:`~relay.core.model.Ref`.
"""

from __future__ import annotations

import re
from typing import Final

from relay.core.model import Line, LineKind, Link, Ref, Segment, Text

__all__ = [
    "escape",
    "line_text",
    "parse_mrkdwn",
    "render_line",
    "render_lines",
    "split_lines",
    "unescape",
]

_TOKEN: Final = re.compile(r"<([^<>\n]*)>")
_BARE_URL: Final = re.compile(r"https?://[^\s<>|]+", re.IGNORECASE)
_LITERAL_LINK: Final = re.compile(r"<(https?://[^\s<>|]+)(?:\|([^<>]*))?>", re.IGNORECASE)
_TRAILING_PUNCT: Final = ".,;:!?)]}'\""


def line_text(line: Line) -> str:
    """The plain text of a line as detectors read it: link labels and targets included."""
    segs = line.segments
    if len(segs) == 1 and type(segs[0]) is Text:
        return segs[0].text
    parts: list[str] = []
    for seg in segs:
        if isinstance(seg, Text):
            parts.append(seg.text)
        elif isinstance(seg, Link):
            parts.append(f"{seg.label} {seg.url}" if seg.label else seg.url)
        else:
            parts.append(seg.label)
    return "".join(parts).replace("\n", " ")


def unescape(text: str) -> str:
    return _unescape(text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """Escape display text for mrkdwn (Slack requires exactly these three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _token(body: str) -> Segment:
    target, _, label = body.partition("|")
    label = _unescape(label)
    if target.startswith("@"):
        return Ref(kind="user", target=target[1:], label=label)
    if target.startswith("#"):
        return Ref(kind="channel", target=target[1:], label=label)
    if target.startswith("!subteam^"):
        return Ref(kind="usergroup", target=target[len("!subteam^") :], label=label)
    if target.startswith("!date^"):
        return Text(text=label)
    if target.startswith("!"):
        return Ref(kind="broadcast", target=target[1:], label=label)
    return Link(url=_unescape(target), label=label)


def text_segments(plain: str) -> list[Segment]:
    """Split display text into Text and Link segments, turning bare URLs into links."""
    if "://" not in plain:
        return [Text(plain)]
    if "<" in plain and _LITERAL_LINK.search(plain):
        # mrkdwn link syntax typed into a rich-text run: a link like any other
        out: list[Segment] = []
        pos = 0
        for m in _LITERAL_LINK.finditer(plain):
            out.extend(text_segments(plain[pos : m.start()]))
            out.append(Link(m.group(1), m.group(2) or ""))
            pos = m.end()
        out.extend(text_segments(plain[pos:]))
        return out
    out = []
    pos = 0
    for m in _BARE_URL.finditer(plain):
        url = m.group(0).rstrip(_TRAILING_PUNCT)
        end = m.start() + len(url)
        if m.start() > pos:
            out.append(Text(text=plain[pos : m.start()]))
        out.append(Link(url=url))
        pos = end
    if pos < len(plain):
        out.append(Text(text=plain[pos:]))
    return out


def split_lines(segments: list[Segment], kind: LineKind = LineKind.PARAGRAPH) -> list[Line]:
    """Break a segment run into lines at newlines inside Text segments."""
    lines: list[Line] = []
    current: list[Segment] = []
    for seg in segments:
        if type(seg) is Text and "\n" in seg.text:
            pieces = seg.text.split("\n")
            last = len(pieces) - 1
            for i, piece in enumerate(pieces):
                if piece:
                    current.append(Text(piece, seg.bold, seg.italic, seg.strike, seg.code))
                if i < last:
                    lines.append(Line(tuple(current), kind))
                    current = []
        else:
            current.append(seg)
    if current:
        lines.append(Line(tuple(current), kind))
    return lines


def parse_mrkdwn(text: str) -> tuple[Line, ...]:
    """Parse Slack ``text`` (escaped mrkdwn) into lines of segments."""
    if "<" not in text and "&" not in text and "://" not in text:
        return tuple(Line((Text(t),)) if t else Line(()) for t in text.split("\n"))
    segments: list[Segment] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            segments.extend(text_segments(_unescape(text[pos : m.start()])))
        segments.append(_token(m.group(1)))
        pos = m.end()
    if pos < len(text):
        segments.extend(text_segments(_unescape(text[pos:])))
    return tuple(split_lines(segments))


def _render_text(seg: Text) -> str:
    body = escape(seg.text)
    if not body.strip():
        return body
    if seg.code:
        body = f"`{body}`"
    if seg.bold:
        body = f"*{body}*"
    if seg.italic:
        body = f"_{body}_"
    if seg.strike:
        body = f"~{body}~"
    return body


def render_line(line: Line) -> str:
    """Render one line to mrkdwn. References must have been resolved before rendering."""
    parts: list[str] = []
    for seg in line.segments:
        if isinstance(seg, Text):
            parts.append(
                _render_text(seg) if line.kind is not LineKind.PREFORMATTED else escape(seg.text)
            )
        elif isinstance(seg, Link):
            label = seg.label.replace("|", "/").replace(">", "")
            url = seg.url.replace(">", "%3E").replace("|", "%7C")
            parts.append(f"<{url}|{escape(label)}>" if label else f"<{url}>")
        else:
            raise ValueError("references must be resolved before rendering")
    body = "".join(parts)
    pad = "    " * line.indent
    match line.kind:
        case LineKind.BULLET:
            return f"{pad}• {body}"
        case LineKind.ORDERED:
            return f"{pad}- {body}"
        case LineKind.QUOTE:
            return f"&gt; {body}"
        case LineKind.PREFORMATTED:
            return f"```{body}```"
        case LineKind.PARAGRAPH:
            return body


def render_lines(lines: tuple[Line, ...]) -> str:
    return "\n".join(render_line(line) for line in lines)
