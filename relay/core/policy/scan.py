"""What the detectors read of a message, computed once: the display text of every line and
file field, their folded views, and the message cut into blocks and units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from relay.core.model import Line, SlackMessage
from relay.core.mrkdwn import line_text
from relay.core.policy.units import Segmented, segment
from relay.core.text import fold_lines

__all__ = ["Scan", "scan_message"]


@dataclass(slots=True)
class Scan:
    """What the detectors read, computed once per message.

    ``texts`` holds the display text of every scanned line (each part's lines, then three
    per file: name, title, alt text); ``line_folds`` the folded view of each text line (for
    tearlines and marks). ``part_start[i]`` is -1 for a part that repeats another part word
    for word (Slack's ``text`` fallback usually mirrors the blocks): neither scanned twice
    nor counted. ``seg`` cuts the lines into blocks and units; detectors match the folded
    blocks (``folds``), joined by newlines in ``joined`` with ``starts`` their offsets.
    """

    texts: list[str]
    line_folds: list[str]
    part_start: list[int]
    file_start: int
    seg: Segmented
    folds: list[str] = field(default_factory=list)
    joined: str = ""
    starts: list[int] = field(default_factory=list)


def scan_message(message: SlackMessage) -> Scan:
    texts: list[str] = []
    starts: list[int] = []
    body_texts: list[list[str]] = []
    parts: list[tuple[tuple[Line, ...], int]] = []
    for part in message.parts:
        part_texts = [line_text(line) for line in part.lines]
        if part.body:
            body_texts.append(part_texts)
        elif any(part_texts == b for b in body_texts):
            starts.append(-1)
            continue
        starts.append(len(texts))
        parts.append((part.lines, len(texts)))
        texts.extend(part_texts)
    file_start = len(texts)
    line_folds = fold_lines(texts)
    extra: list[str] = []
    for f in message.files:
        extra.extend((f.name.translate(_FILENAME_SEPARATORS), f.title, f.alt_txt))
    seg = segment(parts, texts, extra, line_folds)
    folds = [b.fold for b in seg.blocks]
    block_starts = []
    offset = 0
    for text in folds:
        block_starts.append(offset)
        offset += len(text) + 1
    return Scan(
        texts=texts,
        line_folds=line_folds,
        part_start=starts,
        file_start=file_start,
        seg=seg,
        folds=folds,
        joined="\n".join(folds),
        starts=block_starts,
    )


_FILENAME_SEPARATORS: Final = str.maketrans({"_": " ", ".": " ", "-": " "})
