"""The shape of a line: a template field, a list item, a table row, chat, or one line of a
hard-wrapped paragraph.

A paragraph pasted from an e-mail, a phone or a press release is often hard-wrapped: cut
into lines at a fixed width, wherever the next word no longer fits. Its lines are not units
of their own: the paragraph is one block, cut into sentences as if it were one line, so the
decision does not depend on the width it was wrapped at.

Such a run of lines is recognised by the shape a wrapper leaves, never by its words:

* a greedy fill: one width (20 to 100 columns) holds every line, and no line but the last
  could have taken the next line's first word;
* a line breaks inside a sentence (a sentence per line is left as it is), and a sentence
  ends in the run: chat remarks, teletype lines and fields have none (only four or more
  filled lines, one of them broken after a comma or a word such as "the", go without);
* no two template fields or list items in a row, and no template field after a line that
  stops on a bare value ("... on Sand Hill Rd" then "Contact: ..."): that is a template.

A heading longer than the paragraph's lines stays out of the run.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Final

__all__ = [
    "HYPHEN_BREAK",
    "WRAP_LENGTH",
    "chat_like",
    "is_item",
    "is_label_line",
    "is_table_row",
    "plainly_carries",
    "wrapped_runs",
]

# A template line: a short label then a colon ("Vehicle: ...", "DOB/Age: ...", "Hgt/Wgt:").
_LABEL: Final = re.compile(r"^\W{0,3}[A-Za-z](?:[\w/#&'(),-]|\.(?!\s)| (?=\S)){0,30}?\s?:(?:\s|$)")
# A list item typed as text.
_ITEM: Final = re.compile(r"^\s*(?:[-*•·▪‣◦–—>]|\d{1,2}[.)]|\(?[a-zA-Z0-9]\))\s+")
_BULLET: Final = re.compile(r"^\s*[-*•·▪‣◦–—>]\s")
_TABLE: Final = re.compile(r"\t|\|.*\||\S {3,}\S.* {3,}\S")
# A line that carries on into the next: it ends inside a sentence.
_CARRY_MARKS: Final = frozenset(",;:-–—(/&+")
_CARRY_WORDS: Final = frozenset(
    """
    and or but the a an of to in on at with for by from is was are were his her their our my
    your its that who which as been be has have had will would can could not than into onto
    about after before over under through near between
    de la el los las del que y en con por para da do das dos e em no na um uma com
    """.split()  # noqa: SIM905 - a word list reads best as words
)
WRAP_LENGTH: Final = 45  # a line at least this long that ends mid-sentence was wrapped
_SENTENCE_MARK: Final = re.compile(r"[a-z][.!?](?:\s|$)")
_LOWER_AFTER_STOP: Final = re.compile(r"[a-z]{2}[.!?]\s+[a-z]")
_UPPER_AFTER_STOP: Final = re.compile(r"[a-z][.!?]\s+[A-Z]")
# Widths a wrapper cuts at: narrower is a column of words, wider is not wrapped by hand.
_MIN_WIDTH: Final = 20
_MAX_WIDTH: Final = 100
# Lines that many, filled to one width, may be wrapped even with no sentence ending in them.
_MANY: Final = 4
# A word hyphenated at the end of a line ("in-" + "formant").
HYPHEN_BREAK: Final = re.compile(r"[A-Za-z]-$")
_TERMINALS: Final = frozenset(".!?")
_CLOSERS: Final = frozenset(".!?\"'”’)]}>")


def is_label_line(text: str) -> bool:
    # the label's colon is within the first 36 characters: most lines are out at once
    return ":" in text[:36] and _LABEL.match(text) is not None


def is_table_row(text: str) -> bool:
    if "\t" not in text and "|" not in text and "   " not in text:
        return False
    return _TABLE.search(text) is not None


def is_item(text: str) -> bool:
    head = text.lstrip()[:3]
    if not head or (head[0].isalnum() and ")" not in head and "." not in head):
        return False  # a word: no marker (most lines are out at once)
    return _ITEM.match(text) is not None


def plainly_carries(text: str) -> bool:
    """Does the line plainly stop inside a sentence: on a comma, on a word such as "and" or
    "the", on a word hyphenated at the break? (Read on the line's last 12 characters, the
    word after a non-word character; no regex: this runs on every line.)"""
    tail = text.rstrip()[-12:]
    if tail[-1:] in _CARRY_MARKS:
        return True
    k = len(tail)
    while k and (tail[k - 1].isalnum() or tail[k - 1] == "_"):
        k -= 1
    return tail[k:].lower() in _CARRY_WORDS


def _stops(stripped: str) -> bool:
    """Does the (right-stripped) line end on a full stop, "!" or "?", maybe then closing
    quotes or brackets?"""
    return stripped.rstrip("\"'”’)]")[-1:] in _TERMINALS


def chat_like(texts: list[str]) -> bool:
    """Short lines that mostly start in lower case: chat, where a line break ends a remark.
    (A hard-wrapped narrative also has lines starting in lower case, but long ones.)"""
    lines = [t.strip() for t in texts if t.strip()]
    letters = [t[0] for t in lines if t[0].isalpha()]
    if len(letters) < 2 or sum(c.islower() for c in letters) * 2 <= len(letters):
        return False
    if not any(_SENTENCE_MARK.search(t) for t in lines):
        return True  # lines in lower case and not one full stop: remarks, not a narrative
    joined = " ".join(lines)
    if _LOWER_AFTER_STOP.search(joined) and not _UPPER_AFTER_STOP.search(joined):
        return True  # "... light him up. pham will be": sentences that start in lower case
    # a wrapped paragraph fills its lines (all but the last) to about the same width
    body = lines[:-1]
    lengths = sorted(len(t) for t in lines)
    width = max(WRAP_LENGTH, 0.75 * lengths[len(lengths) // 2])
    return sum(len(t) >= width for t in body) * 2 < len(body)


def _enumerates(prev: str, text: str) -> bool:
    """Does an enumeration go on in a sentence ("... tool, and" then "(c) a thermal ...")?
    A bullet ("-", "*") never does: a list drawn in text."""
    return _BULLET.match(text) is None and plainly_carries(prev)


def _field(text: str) -> bool:
    """A template field: a label line whose label starts with a capital ("Vehicle:")."""
    return text.lstrip(" *_>•-")[:1].isupper() and is_label_line(text)


def _first_word(text: str) -> int:
    stripped = text.lstrip()
    cut = stripped.find(" ")
    return len(stripped) if cut < 0 else cut


def wrapped_runs(
    texts: Sequence[str],
    kinds: Sequence[object],
    abbreviated: Callable[[str], bool],
    sentence_ends: Callable[[str], list[int]],
) -> dict[int, int]:
    """The hard-wrapped runs among consecutive lines: {first line: line after the last}.

    ``kinds[i]``: the kind of text line ``i`` is (a paragraph, a quote), None for a line
    that is never wrapped prose (a table row, a list the client drew); a run holds lines of
    one kind. ``abbreviated(line)``: does it end on an abbreviation ("Det.")? (Then it does
    not end a sentence.) ``sentence_ends(text)``: where sentences end in it. Linear in the
    lines."""
    runs: dict[int, int] = {}
    n = len(texts)
    lengths = [len(t.rstrip()) for t in texts]
    if not any(_may_wrap(texts, lengths, kinds, abbreviated, j) for j in range(1, n)):
        return runs  # no line break a run could hold (most messages: lists, chat, fields)

    def prose(first: int, end: int) -> bool:
        return end - first >= 2 and _is_prose(texts[first:end], abbreviated, sentence_ends)

    i = taken = 0  # lines before ``taken`` are in a run already
    while i < n:
        end = _greedy_run(texts, lengths, kinds, abbreviated, i)
        ok = prose(i, end)
        # A heading or a greeting above the paragraph ("Good morning all,", a title about as
        # long as the paragraph's lines): the run may rather start on the next line.
        if i + 1 < n and (not ok or end < n):
            after = _greedy_run(texts, lengths, kinds, abbreviated, i + 1)
            if (after > end or not ok) and prose(i + 1, after):
                i, end, ok = i + 1, after, True
            elif not ok:
                end = max(end, after)
        if ok:
            # A line wider than the wrap on either side whose sentence plainly runs into
            # the paragraph (a sentence typed in front of a pasted paragraph, or after it):
            # it is the paragraph's first (or last) line, whatever its width.
            first = i
            if first - 1 >= taken and _joins(texts, kinds, first - 1, abbreviated):
                first -= 1
            while end < n and _joins(texts, kinds, end - 1, abbreviated):
                end += 1
            runs[first] = taken = end
        i = max(end, i + 1)
    return runs


def _joins(
    texts: Sequence[str], kinds: Sequence[object], j: int, abbreviated: Callable[[str], bool]
) -> bool:
    """Does the sentence of line ``j`` plainly go on into line ``j + 1`` (the line ends
    inside a sentence and the next starts in lower case), one kind of text?"""
    if j + 1 >= len(texts) or kinds[j] is None or kinds[j + 1] is not kinds[j]:
        return False
    text, nxt = texts[j], texts[j + 1]
    if not text.strip() or not nxt.lstrip()[:1].islower():
        return False
    return _goes_on(text, nxt, abbreviated)


def _may_wrap(
    texts: Sequence[str],
    lengths: list[int],
    kinds: Sequence[object],
    abbreviated: Callable[[str], bool],
    j: int,
) -> bool:
    """Could the break before line ``j`` be one a run holds: a greedy fill of the two lines,
    a sentence plainly going on over it? (A run has at least one such break.)"""
    before, after = lengths[j - 1], lengths[j]
    if not before or not after or kinds[j] is None or kinds[j] is not kinds[j - 1]:
        return False
    wide = max(before, after)
    if wide > _MAX_WIDTH or before + 1 + _first_word(texts[j]) <= wide:
        return False
    return _goes_on(texts[j - 1], texts[j], abbreviated)


def _greedy_run(
    texts: Sequence[str],
    lengths: list[int],
    kinds: Sequence[object],
    abbreviated: Callable[[str], bool],
    i: int,
) -> int:
    """The longest run from line ``i`` filled the way a greedy wrapper fills lines: some
    width holds every line, and no line could have taken the next line's first word."""
    kind = kinds[i]
    if kind is None or not lengths[i]:
        return i + 1
    width = lengths[i]
    room = 1 << 30  # the shortest "line + space + next word": the width must be below it
    j = i + 1
    n = len(texts)
    while j < n and kinds[j] is kind and lengths[j]:
        text = texts[j]
        room = min(room, lengths[j - 1] + 1 + _first_word(text))
        width = max(width, lengths[j])
        if room <= width or width > _MAX_WIDTH:
            break
        prev = texts[j - 1]
        if _field(text) and (_field(prev) or _dangles(prev, abbreviated)):
            break  # a template field after a field or after a value: a template
        if is_item(text) and (is_item(prev) or j == i + 1) and not _enumerates(prev, text):
            break  # a list item after an item or a heading
        j += 1
    return j


def _dangles(text: str, abbreviated: Callable[[str], bool]) -> bool:
    """Does the line stop on a bare word, neither ending a sentence nor carrying on ("...
    on Sand Hill Rd", "... Tues/Wed.")? Before a template field, that is a field's value."""
    if plainly_carries(text):
        return False
    return not _stops(text.rstrip()) or abbreviated(text)


def _is_prose(
    lines: Sequence[str],
    abbreviated: Callable[[str], bool],
    sentence_ends: Callable[[str], list[int]],
) -> bool:
    """Wrapped prose, not a column of lines: a sentence plainly goes on over a break, a
    sentence ends in it, it is wide enough and not all template fields."""
    if not any(_goes_on(a, b, abbreviated) for a, b in itertools.pairwise(lines)):
        return False  # a sentence per line, remarks, fields: left as they are
    if max(len(t.rstrip()) for t in lines) < _MIN_WIDTH or all(map(is_label_line, lines)):
        return False
    last = lines[-1].rstrip()
    if (_stops(last) and not abbreviated(last)) or sentence_ends(
        " ".join(t.strip() for t in lines)
    ):
        return True
    # No sentence ends in it: chat remarks, teletype lines, fields, unless many lines are
    # filled to one width and some break falls after a comma or a word such as "the".
    return len(lines) >= _MANY and any(map(plainly_carries, lines[:-1]))


def _goes_on(text: str, nxt: str, abbreviated: Callable[[str], bool]) -> bool:
    """Does a sentence plainly go on from ``text`` over ``nxt``? It does when the line stops
    on a comma, a word such as "the", a hyphen or a sign ("CI-22 ="), or, not ending a
    sentence, is followed by lower case or a number. (After a bare word, a capital may as
    well start a new remark or a field.)"""
    stripped = text.rstrip()
    last = stripped[-1:]
    if plainly_carries(stripped) or not (last.isalnum() or last in _CLOSERS):
        return True
    first = nxt.lstrip()[:1]
    if not (first.islower() or first.isdigit()):
        return False
    return not _stops(stripped) or abbreviated(stripped)
