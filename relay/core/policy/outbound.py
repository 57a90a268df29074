"""The message as it leaves: rebuilt lines and files, rendered to mrkdwn and rich_text.

Nothing here is copied from the wire event: an :class:`OutboundMessage` is made only of
:class:`~relay.core.model.Line` values the engine kept and of allowlisted file fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.core.model import Line, LineKind, Link, MessageKind, SlackFile, SlackTs, Text
from relay.core.mrkdwn import render_lines
from relay.core.text import strip_invisible

__all__ = ["OutboundMessage", "rich_text_block"]

_CONTAINER = {
    LineKind.QUOTE: "rich_text_quote",
    LineKind.PREFORMATTED: "rich_text_preformatted",
    LineKind.PARAGRAPH: "rich_text_section",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    kind: MessageKind
    lines: tuple[Line, ...] = ()
    files: tuple[SlackFile, ...] = ()
    thread_ts: SlackTs | None = None
    broadcast: bool = False
    target_ts: SlackTs | None = None
    rich_text: bool = False  # the original was written with blocks: send blocks too

    @property
    def text(self) -> str:
        return render_lines(self.lines)

    def to_wire(self) -> dict[str, Any]:
        """The JSON form printed by ``relay policy apply`` (see README)."""
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.kind is not MessageKind.DELETE:
            out["text"] = self.text
            if self.rich_text and self.lines:
                out["blocks"] = [rich_text_block(self.lines)]
            out["files"] = [_file_wire(f) for f in self.files]
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.broadcast:
            out["reply_broadcast"] = True
        if self.target_ts is not None:
            out["target_ts"] = self.target_ts
        return out


def _elements(line: Line) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for seg in line.segments:
        if isinstance(seg, Text):
            el: dict[str, Any] = {"type": "text", "text": strip_invisible(seg.text)}
            style = {k: True for k in ("bold", "italic", "strike", "code") if getattr(seg, k)}
            if style and line.kind is not LineKind.PREFORMATTED:
                el["style"] = style
            out.append(el)
        elif isinstance(seg, Link):
            link: dict[str, Any] = {"type": "link", "url": seg.url}
            if seg.label:
                link["text"] = strip_invisible(seg.label)
            out.append(link)
    return out


def rich_text_block(lines: tuple[Line, ...]) -> dict[str, Any]:
    """One rich_text block; consecutive lines of one kind share a container."""
    containers: list[dict[str, Any]] = []
    for line in lines:
        last = containers[-1] if containers else None
        if line.kind in (LineKind.BULLET, LineKind.ORDERED):
            style = "bullet" if line.kind is LineKind.BULLET else "ordered"
            section = {"type": "rich_text_section", "elements": _elements(line)}
            if (
                last is not None
                and last["type"] == "rich_text_list"
                and last["style"] == style
                and last["indent"] == line.indent
            ):
                last["elements"].append(section)
            else:
                containers.append(
                    {
                        "type": "rich_text_list",
                        "style": style,
                        "indent": line.indent,
                        "elements": [section],
                    }
                )
            continue
        kind = _CONTAINER[line.kind]
        elements = _elements(line)
        if last is not None and last["type"] == kind and kind != "rich_text_list":
            last["elements"].append({"type": "text", "text": "\n"})
            last["elements"].extend(elements)
        else:
            containers.append({"type": kind, "elements": elements})
    return {"type": "rich_text", "elements": containers}


def _file_wire(f: SlackFile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id,
        "name": f.name,
        "title": f.title,
        "alt_txt": f.alt_txt,
        "mimetype": f.mimetype,
        "size": f.size,
    }
    if f.blackout:  # how many regions of the photo are blacked out (issue 17)
        out["blacked_out"] = len(f.blackout)
    if f.withheld:  # the photo does not leave: why (a code)
        out["withheld"] = f.withheld
    return out
