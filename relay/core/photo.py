"""The text read in a photo, as the policy judges it: lines of words with their boxes and
confidence, and the pure geometry that turns removed text back into pixels to black out.

An OCR engine (:mod:`relay.ocr`) produces a :class:`PhotoText` for the exact bytes that would
leave; the policy engine judges its lines as units of that file
(:mod:`relay.core.policy.photo_units`), and what a strip rule removes comes back as the boxes
of its words (padded), which the adapter paints black before the photo is read again.

Recognised text is message content: only counts and codes leave this module's callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

__all__ = [
    "PAD",
    "Box",
    "PhotoLine",
    "PhotoStatus",
    "PhotoText",
    "Word",
    "boxes_between",
    "line_of",
    "low_confidence",
    "merge_boxes",
    "outside",
    "pad_box",
]

Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)
PAD: Final = 4  # pixels around a word's box when it is blacked out


class Word(NamedTuple):
    """One recognised word: its text, box, confidence (0-100) and where it starts in its
    line's text."""

    text: str
    box: Box
    conf: int
    start: int


class PhotoLine(NamedTuple):
    text: str
    words: tuple[Word, ...]


class PhotoStatus(StrEnum):
    READ = "read"  # the engine read the photo (the text may be empty)
    FAILED = "failed"  # not read: ``code`` says why; the photo does not leave unread


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotoText:
    """What the OCR read in one photo. ``code`` for a failure: ``ocr_timeout``,
    ``ocr_error``, ``ocr_unavailable``, ``unreadable_image``, ``transparent_image``.
    ``size``: the photo's pixel size, the frame the boxes are in."""

    status: PhotoStatus
    lines: tuple[PhotoLine, ...] = ()
    code: str = ""
    size: tuple[int, int] = (0, 0)

    @property
    def words(self) -> int:
        return sum(len(line.words) for line in self.lines)


def line_of(words: Iterable[tuple[str, Box, int]]) -> PhotoLine:
    """A line from its words in reading order, joined by single spaces."""
    out: list[Word] = []
    offset = 0
    for text, box, conf in words:
        text = " ".join(text.split())
        if not text:
            continue
        if out:
            offset += 1
        out.append(Word(text=text, box=box, conf=conf, start=offset))
        offset += len(text)
    return PhotoLine(text=" ".join(w.text for w in out), words=tuple(out))


def boxes_between(line: PhotoLine, start: int, end: int) -> list[Box]:
    """The boxes of the words that the characters ``start:end`` of ``line.text`` touch."""
    return [w.box for w in line.words if w.start < end and start < w.start + len(w.text)]


def low_confidence(photo: PhotoText, threshold: int) -> list[Box]:
    """Boxes of the words read with a confidence below ``threshold``: regions that may hold
    text the engine could not read (handwriting, blur), so they are not passed as clean."""
    return [w.box for line in photo.lines for w in line.words if w.conf < threshold]


def pad_box(box: Box, size: tuple[int, int], pad: int = PAD) -> Box:
    left, top, right, bottom = box
    width, height = size
    return (
        max(0, left - pad),
        max(0, top - pad),
        min(width, right + pad),
        min(height, bottom + pad),
    )


def merge_boxes(boxes: Sequence[Box], size: tuple[int, int]) -> tuple[Box, ...]:
    """Padded, clipped, sorted, duplicates dropped: a stable value to sign and compare."""
    return tuple(sorted({pad_box(b, size) for b in boxes}))


def outside(photo: PhotoText, boxes: Sequence[Box]) -> PhotoText:
    """``photo`` without the words read inside ``boxes`` (the regions painted black: what an
    engine reads in a black rectangle is noise, not text that survived)."""

    def inside(box: Box) -> bool:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes)

    lines = []
    for line in photo.lines:
        kept = [(w.text, w.box, w.conf) for w in line.words if not inside(w.box)]
        if kept:
            lines.append(line_of(kept))
    return PhotoText(status=photo.status, lines=tuple(lines), code=photo.code, size=photo.size)
