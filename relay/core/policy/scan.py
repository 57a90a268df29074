"""What the detectors read of a message, computed once: the display text of every line and
file field, their folded views, and the message cut into blocks and units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from relay.core.model import Line, SlackMessage, Text
from relay.core.mrkdwn import line_text
from relay.core.photo import PhotoStatus
from relay.core.policy.units import Segmented, segment
from relay.core.text import fold_lines

__all__ = ["Scan", "ocr_letters", "scan_message"]


@dataclass(slots=True)
class Scan:
    """What the detectors read, computed once per message.

    ``texts`` holds the display text of every scanned line (each part's lines, the lines
    read in each photo, then three per file: name, title, alt text); ``photo_lines`` maps a
    photo's text line to (file index, line index in its :class:`~relay.core.photo.PhotoText`),
    and those lines' blocks are of kind ``photo``; ``line_folds`` the folded view of each
    text line (for tearlines and marks). ``part_start[i]`` is -1 for a part that repeats
    another part word for word (Slack's ``text`` fallback usually mirrors the blocks):
    neither scanned twice nor counted. ``seg`` cuts the lines into blocks and units;
    detectors match the folded blocks (``folds``), joined by newlines in ``joined`` with
    ``starts`` their offsets.
    """

    texts: list[str]
    line_folds: list[str]
    part_start: list[int]
    file_start: int
    seg: Segmented
    photo_lines: dict[int, tuple[int, int]] = field(default_factory=dict)
    folds: list[str] = field(default_factory=list)
    joined: str = ""
    starts: list[int] = field(default_factory=list)


def scan_message(message: SlackMessage, *, photos: bool = True) -> Scan:
    """What the detectors read of ``message``; ``photos=False``: not the text read in its
    photos (the policy says ``photo_text: not_checked``)."""
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
    photo_lines: dict[int, tuple[int, int]] = {}
    for fi, f in enumerate(message.files if photos else ()):
        photo = f.photo
        if photo is None or photo.status is not PhotoStatus.READ or not photo.lines:
            continue
        read = [ocr_letters(line.text) for line in photo.lines]
        parts.append((tuple(Line((Text(t),)) for t in read), len(texts)))
        for k, t in enumerate(read):
            photo_lines[len(texts)] = (fi, k)
            texts.append(t)
    file_start = len(texts)
    line_folds = fold_lines(texts)
    extra: list[str] = []
    for f in message.files:
        extra.extend((f.name.translate(_FILENAME_SEPARATORS), f.title, f.alt_txt))
    seg = segment(parts, texts, extra, line_folds)
    for block in seg.blocks:
        if block.lines[0] in photo_lines:
            block.kind = "photo"
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
        photo_lines=photo_lines,
        folds=folds,
        joined="\n".join(folds),
        starts=block_starts,
    )


_FILENAME_SEPARATORS: Final = str.maketrans({"_": " ", ".": " ", "-": " "})
# What an OCR engine misreads in short capitals: "CI" read as "Cl" (a lower-case L), "C.I."
# as "C.|.". Same length, so the photo's character offsets still name its words.
_OCR_I: Final = re.compile(r"\b(C\.|C|CR|SO)[l|](?=\b|$|\s|[-#.\d])|\b[l|](C)\b")


def ocr_letters(text: str) -> str:
    """A photo line with an OCR's usual look-alikes in short capital tokens read as ``I``."""
    return _OCR_I.sub(lambda m: f"{m[1]}I" if m[1] else f"I{m[2]}", text)
