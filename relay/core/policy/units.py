"""Units of removal: a message's text cut into sentences, template lines, list items, rows.

The unit of removal is the sentence (domain brief §6). A *block* is one line, or several
lines that hold one wrapped run of prose (a hard-wrapped paragraph, recognised by its shape
in :mod:`relay.core.policy.wrapping` whatever its width; a sentence carried onto the next
line); a block holds one or more *units*:

* a sentence, found abbreviation-aware (``Det.``, ``St.``, ``approx.``, ``a.m.``, ``No.``,
  initials, ``W/M``, heights do not end one);
* a template line ``Label: value``, a list item, a table row: never joined to the next line
  (a label line holding several sentences is still cut into them, its label going with the
  first).

Every unit knows where it sits in the original lines (``spans``: line, start, end in the
line's display text) so a removal removes exactly that text, and carries its folded view
(:func:`relay.core.text.fold`), on which detectors match. A block's folded view is its
units' folded views joined by one space, so a match found in a block maps to the units it
overlaps by offset alone.

Detectors read blocks (a block detector's co-occurrence is judged within a block); strip
detectors remove the units their matches overlap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from relay.core.model import Line, LineKind, Text
from relay.core.policy.sentences import ends_with_abbreviation, sentence_ends
from relay.core.policy.wrapping import (
    HYPHEN_BREAK,
    WRAP_LENGTH,
    chat_like,
    is_item,
    is_label_line,
    is_table_row,
    plainly_carries,
    wrapped_runs,
)
from relay.core.text import fold

__all__ = [
    "Block",
    "Segmented",
    "Unit",
    "ends_with_abbreviation",
    "is_label_line",
    "is_table_row",
    "segment",
    "sentence_ends",
    "split_units",
]

_TERMINAL: Final = re.compile(r"[.!?][\"'”’)\]]*\s*$")


class Unit(NamedTuple):
    """One unit of removal. ``spans``: (line index, start, end) in the line's display text.
    (A NamedTuple: as immutable as a frozen dataclass and several times cheaper to build.)"""

    block: int
    spans: tuple[tuple[int, int, int], ...]
    fold: str


@dataclass(slots=True)
class Block:
    lines: tuple[int, ...]
    first: int  # index of its first unit
    count: int  # how many units it holds
    fold: str = ""
    offsets: tuple[int, ...] = ()  # start of each unit's fold in ``fold``
    kind: str = "text"  # "text", "file"


@dataclass(slots=True)
class Segmented:
    texts: list[str]  # display text of every line (file fields appended as lines)
    units: list[Unit] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    line_units: dict[int, list[int]] = field(default_factory=dict)  # line -> units on it

    def units_of(self, block: int) -> range:
        b = self.blocks[block]
        return range(b.first, b.first + b.count)

    def unit_at(self, block: int, offset: int) -> int:
        """The unit of ``block`` whose folded text holds ``offset``."""
        b = self.blocks[block]
        offsets = b.offsets
        lo, hi = 0, len(offsets) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if offsets[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return b.first + lo

    def units_between(self, block: int, start: int, end: int) -> range:
        first = self.unit_at(block, start)
        last = self.unit_at(block, max(start, end - 1))
        return range(first, last + 1)


def _carries_on(text: str, nxt: str, chat: bool) -> bool:
    """Does this line end inside a sentence that continues on the next line?

    It does when it ends on a word or mark that cannot end a sentence ("and", "the", a
    comma, a hyphenated word). In prose (not chat, where every line is its own remark) a
    long line without final punctuation also carries on when the next line goes on in lower
    case or is about as long (a hard-wrapped paragraph)."""
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped[-1] == ".":
        # "can be reached through Det." + "Ocasio.": an abbreviation does not end it
        return ends_with_abbreviation(stripped)
    if stripped[-1] in "!?" or _TERMINAL.search(stripped[-4:]):
        return False
    if plainly_carries(stripped):
        return True
    if chat or len(stripped) < WRAP_LENGTH:
        return False
    following = nxt.strip()
    return (
        following[:1].islower()
        or len(following) * 2 >= len(stripped)
        or following[-1:] in ".!?"  # the wrapped sentence ends there
    )


def _joins(text: str, nxt: str, chat: bool) -> bool:
    """Does the sentence on ``text`` go on over ``nxt``? A short template field never does;
    a list item, a table row or a new template field starts a unit of its own, unless the
    line plainly breaks mid-sentence ("... and" / a lower-case continuation)."""
    if is_item(nxt) or is_table_row(nxt) or not _carries_on(text, nxt, chat):
        return False
    if is_item(text) and not (
        plainly_carries(text) or nxt[:1].isspace() or nxt.lstrip()[:1].islower()
    ):
        return False  # the last item of a list, then a sentence of its own
    if is_label_line(text) and len(text.split()) <= 8:
        return False
    if is_label_line(nxt):
        strong = plainly_carries(text) or nxt.lstrip()[:1].islower()
        return strong and not chat
    return True


def _fold_run(pieces: list[str]) -> str:
    """Fold a sentence carried over several lines: a word hyphenated at a line break is
    read whole ("in-" + "formant"), a compound cut at one of its hyphens keeps it
    ("12-year-" + "old")."""
    if len(pieces) == 1:
        return fold(pieces[0])
    out = [pieces[0].rstrip()]
    for piece in pieces[1:]:
        head = piece.lstrip()
        tail = out[-1]
        if HYPHEN_BREAK.search(tail[-2:]) and head[:1].islower():
            word = tail[tail.rfind(" ") + 1 : -1]
            if "-" not in word and not any(c.isdigit() for c in word):
                out[-1] = tail[:-1]  # "in-" + "formant": one word
            out.append(head.rstrip())
        else:
            out.append(" ")
            out.append(head.rstrip())
    return fold("".join(out))


def segment(
    parts: Sequence[tuple[tuple[Line, ...], int]],
    texts: list[str],
    extra: Sequence[str] = (),
    folds: Sequence[str] = (),
) -> Segmented:
    """Cut lines into blocks and units.

    ``parts``: each scanned part's lines and the index of its first line in ``texts`` (the
    display text of every line). ``extra`` adds one block of one unit per string (file
    names, titles, alt texts): appended to ``texts`` as lines of their own. ``folds``, when
    given, is the folded view of each text line (reused for a line that is one unit).
    """
    seg = Segmented(texts=texts)
    units, blocks, line_units = seg.units, seg.blocks, seg.line_units
    for lines, start in parts:
        i = 0
        n = len(lines)
        part = texts[start : start + n]
        runs = _wrapped(lines, part) if n > 1 else {}
        inner = {k for first, end in runs.items() for k in range(first, end - 1)}
        # chat is read on the lines outside wrapped paragraphs (a narrow wrap starts its
        # lines in lower case, as chat does)
        chat = chat_like(
            [t for k, t in enumerate(part) if k not in inner and k - 1 not in inner]
            if inner
            else part
        )
        while i < n:
            idx = start + i
            text = texts[idx]
            if not text.strip():
                i += 1
                continue
            run = [idx]
            line = lines[i]
            table = is_table_row(text)
            if line.kind in (LineKind.PARAGRAPH, LineKind.QUOTE) and not table:
                while i + 1 < n and (
                    i in inner
                    or (
                        lines[i + 1].kind is line.kind
                        and texts[start + i + 1].strip()
                        and _joins(texts[start + i], texts[start + i + 1], chat)
                        and (i + 1 not in runs or plainly_carries(texts[start + i]))
                    )
                ):
                    i += 1
                    run.append(start + i)
            i += 1
            _add_block(seg, run, table=len(run) == 1 and table, folds=folds)
    for text in extra:
        texts.append(text)
        idx = len(texts) - 1
        b = len(blocks)
        units.append(Unit(block=b, spans=((idx, 0, len(text)),), fold=fold(text)))
        line_units[idx] = [len(units) - 1]
        blocks.append(
            Block(lines=(idx,), first=len(units) - 1, count=1, fold=units[-1].fold, offsets=(0,))
        )
        blocks[-1].kind = "file"
    return seg


def _wrapped(lines: Sequence[Line], texts: list[str]) -> dict[int, int]:
    """The part's hard-wrapped paragraphs, {first line: line after the last} (see
    :mod:`relay.core.policy.wrapping`). A line before one joins it only when it plainly
    breaks mid-sentence: a heading longer than the paragraph's lines stays apart."""
    kinds = [
        line.kind
        if line.kind in (LineKind.PARAGRAPH, LineKind.QUOTE) and not is_table_row(text)
        else None
        for line, text in zip(lines, texts, strict=True)
    ]
    return wrapped_runs(texts, kinds, ends_with_abbreviation, sentence_ends)


def _add_block(seg: Segmented, run: list[int], *, table: bool, folds: Sequence[str] = ()) -> None:
    texts, units = seg.texts, seg.units
    b = len(seg.blocks)
    first = len(units)
    if len(run) == 1:
        text = texts[run[0]]
        cuts = [] if table else sentence_ends(text)
        if not cuts:
            whole = folds[run[0]] if run[0] < len(folds) else fold(text)
            units.append(Unit(block=b, spans=((run[0], 0, len(text)),), fold=whole))
        else:
            pos = 0
            for cut in [*cuts, len(text)]:
                piece = text[pos:cut]
                if piece.strip():
                    lead = len(piece) - len(piece.lstrip())
                    units.append(
                        Unit(block=b, spans=((run[0], pos + lead, cut),), fold=fold(piece))
                    )
                pos = cut
    else:
        # The run as one text with newlines; sentences may cross lines.
        starts: list[int] = []
        pieces: list[str] = []
        pos = 0
        for idx in run:
            starts.append(pos)
            pieces.append(texts[idx])
            pos += len(texts[idx]) + 1
        whole = "\n".join(pieces)
        cuts = sentence_ends(whole)
        pos = 0
        for cut in [*cuts, len(whole)]:
            piece = whole[pos:cut]
            if piece.strip():
                lead = len(piece) - len(piece.lstrip())
                spans: list[tuple[int, int, int]] = []
                lo, hi = pos + lead, cut
                for k, idx in enumerate(run):
                    s, e = starts[k], starts[k] + len(texts[idx])
                    a, z = max(lo, s), min(hi, e)
                    if a < z:
                        spans.append((idx, a - s, z - s))
                folds = [texts[i][a:z] for i, a, z in spans]
                units.append(Unit(block=b, spans=tuple(spans), fold=_fold_run(folds)))
            pos = cut
    count = len(units) - first
    offsets: list[int] = []
    off = 0
    for u in units[first:]:
        offsets.append(off)
        off += len(u.fold) + 1
        for idx, _, _ in u.spans:
            seg.line_units.setdefault(idx, []).append(len(offsets) - 1 + first)
    seg.blocks.append(
        Block(
            lines=tuple(run),
            first=first,
            count=count,
            fold=" ".join(u.fold for u in units[first:]),
            offsets=tuple(offsets),
        )
    )


def split_units(text: str) -> list[str]:
    """The units of a plain text, in order (for showing a message unit by unit)."""
    lines = [Line((Text(t),)) if t else Line(()) for t in text.split("\n")]
    texts = text.split("\n")
    seg = segment([(tuple(lines), 0)], texts)
    return [" ".join(texts[i][a:z] for i, a, z in u.spans) for u in seg.units]
