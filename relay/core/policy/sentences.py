"""Where sentences end in a line of police prose: abbreviation-aware ("Det.", "St.",
"approx.", "a.m.", initials), a street name before a capital, a list item's number, a
possessive ("his girlfriend's.").
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ends_with_abbreviation", "sentence_ends"]

# Where a sentence may end: terminal punctuation, closing quotes or brackets, then space.
_END: Final = re.compile(r"[.!?]++[\"'”’)\]]*+(?=\s+\S)")  # possessive: linear on "....."
_MAYBE_END: Final = re.compile(r"[.!?][\"'”’)\]]*\s+\S")
_ABBREVIATIONS: Final = frozenset(
    """
    det sgt lt capt cpt ofc off tpr cpl insp dep supt cmdr chf sheriff agt asst atty hon
    mr mrs ms dr prof gen col maj pvt sra srta sr jr dra st ave av rd blvd ln hwy rte rt
    mt ft apt ste cir ct pl ter pkwy sq bldg fl no nos nr num vs approx appx est inc co
    corp dept govt univ lic veh reg ht wt hgt wgt tel ph ext jan feb mar apr jun jul aug
    sep sept oct nov dec mon tue tues wed thu thur thurs fri e.g i.e u.s a.m p.m etc al
    fig op sgto cb sd sdo tte avda pza dpto depto edif cia dna dona pag cel aprox ref
    """.split()  # noqa: SIM905 - a word list reads best as words
)


def _word_start(text: str, end: int) -> int:
    """Where the word (letters and dots: "Det", "a.m", "C.I") ending at ``end`` starts."""
    start = end
    floor = max(0, end - 24)
    while start > floor and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    return start


def ends_with_abbreviation(text: str) -> bool:
    """Does ``text`` end on an abbreviation or an initial ("through Det.", "J.")?"""
    stripped = text.rstrip()
    if stripped[-1:] != ".":
        return False
    start = _word_start(stripped, len(stripped) - 1)
    word = stripped[start : len(stripped) - 1].lower().lstrip(".")
    return (word in _ABBREVIATIONS and word not in _STREET) or (
        len(word) == 1
        and word.isascii()
        and word.isalpha()
        and stripped[start - 1 : start] not in _APOSTROPHES
    )


def sentence_ends(text: str) -> list[int]:
    """Offsets in ``text`` where a sentence ends (after its punctuation)."""
    if _MAYBE_END.search(text) is None:
        return []  # no end mark with more text after it: one sentence
    out: list[int] = []
    for m in _END.finditer(text):
        if m.group(0)[0] == ".":
            start = _word_start(text, m.start())
            if start == m.start() and _LIST_NUMBER.match(text, 0, m.start()):
                continue  # "1. CI-2291 ...": the number of a list item, no sentence
            if start < m.start() and _MARK_NEXT.match(text, m.end()):
                out.append(m.end())  # "at 41 Birch Ln. (U) Vehicle": a portion mark opens
                continue
            if start < m.start():
                word = text[start : m.start()].lower().lstrip(".")
                if word in _STREET and _street_end(text, start, m.end()):
                    out.append(m.end())
                    continue
                # an initial, a known abbreviation, an initialism ("C.I.", "U.S.", "a.m.")
                # "his girlfriend's." ends a sentence: a possessive, no initial
                initial = (
                    len(word) == 1
                    and word.isascii()
                    and not text[start - 1 : start].isdigit()
                    and text[start - 1 : start] not in _APOSTROPHES
                )
                if initial or "." in word or word in _ABBREVIATIONS:
                    continue
        out.append(m.end())
    return out


_MARK_NEXT: Final = re.compile(r"\s+[(\[](?:U|CUI|C|S|TS)(?:/{1,2}[A-Z -]+)*[)\]]\s")
_APOSTROPHES: Final = ("'", "’")  # the typographic apostrophe too
_LIST_NUMBER: Final = re.compile(r"\s*\d{1,2}$")
_STREET: Final = frozenset(
    {"st", "rd", "ave", "av", "blvd", "ln", "dr", "ct", "pl", "ter", "cir", "pkwy", "sq"}
)
_PREVIOUS_WORD: Final = re.compile(r"(\S+)\s+$")


def _street_end(text: str, word_start: int, end: int) -> bool:
    """ "on Blackstone Rd. Both were taken": a street name ends the sentence when a capital
    follows ("Dr. Smith", "St. Mary's" have no capitalised street name before them)."""
    prev = _PREVIOUS_WORD.search(text, 0, word_start)
    nxt = text[end:].lstrip()[:1]
    return prev is not None and prev.group(1)[:1].isupper() and nxt.isupper()
