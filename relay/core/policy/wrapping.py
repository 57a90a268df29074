"""The shape of a line: a template field, a list item, a table row, chat, or a line that
plainly carries on into the next.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "HYPHEN_BREAK",
    "WRAP_LENGTH",
    "chat_like",
    "is_item",
    "is_label_line",
    "is_table_row",
    "plainly_carries",
]

# A template line: a short label then a colon ("Vehicle: ...", "DOB/Age: ...", "Hgt/Wgt:").
_LABEL: Final = re.compile(r"^\W{0,3}[A-Za-z](?:[\w/#&'(),-]|\.(?!\s)| (?=\S)){0,30}?\s?:(?:\s|$)")
# A list item typed as text.
_ITEM: Final = re.compile(r"^\s*(?:[-*•·▪‣◦–—>]|\d{1,2}[.)]|\(?[a-zA-Z0-9]\))\s+")
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
# A word hyphenated at the end of a line ("in-" + "formant").
HYPHEN_BREAK: Final = re.compile(r"[A-Za-z]-$")


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


def chat_like(texts: list[str]) -> bool:
    """Short lines that mostly start in lower case: chat, where a line break ends a remark.
    (A hard-wrapped narrative also has lines starting in lower case, but long ones.)"""
    lines = [t.strip() for t in texts if t.strip()]
    letters = [t[0] for t in lines if t[0].isalpha()]
    if len(letters) < 2 or sum(c.islower() for c in letters) * 2 <= len(letters):
        return False
    if not any(_SENTENCE_MARK.search(t) for t in lines):
        return True  # lines in lower case and not one full stop: remarks, not a narrative
    # a wrapped paragraph fills its lines (all but the last) to about the same width
    body = lines[:-1]
    lengths = sorted(len(t) for t in lines)
    width = max(WRAP_LENGTH, 0.75 * lengths[len(lengths) // 2])
    return sum(len(t) >= width for t in body) * 2 < len(body)
