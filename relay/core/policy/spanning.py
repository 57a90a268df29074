"""Reading a match in the context of the whole message: a match that runs over two blocks
(a caveat typed over two chat lines), a list letter that is not a portion mark, and words
quoted from someone else.

Block detectors judge a block (a line, a wrapped sentence), but chat splits one remark over
several lines ("pls dont" / "fwd this one"): a pattern set marked ``across_lines`` is also
matched over each block read with the one or two after it (joined by a space), and a match
that straddles blocks counts in the block where it starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = ["across", "in_context", "is_list_letter", "quoted_spans"]


_LETTER: Final = re.compile(r"^\(\s?([A-Za-z])\s?\)$")
# Report role labels opening lines: (V) victim, (W) witness, (RP) reporting party, (O) owner;
# beside them "(S)" is the suspect and "(C)" the complainant, not marks
_ROLE_SIBLING: Final = re.compile(r"(?m)^\W{0,3}\(\s?(?:V|W|RP|O)\s?\)\s+[A-Z]")


def is_list_letter(matched: str, before: str) -> bool:
    """Is ``matched`` ("(C)") a list label: the letter before it ("(B)"), in the same case and
    in parentheses, stands earlier in the message (``before``)?"""
    m = _LETTER.match(matched)
    if m is None:
        return False
    letter = m.group(1)
    if letter in "SC" and _ROLE_SIBLING.search(before):
        return True  # "(V) ... (W) ... (S) Marcus Hale": victim, witness, suspect
    if letter in "Aa":
        return False
    previous = chr(ord(letter) - 1)
    return re.search(rf"\(\s?{previous}\s?\)", before) is not None


# Someone else's words, quoted: a message the victim received ("got an email saying "..."",
# "a text reading '...'") or what a suspect said or wrote. Only these: a supervisor's
# instruction quoted in chat ("Lt said "do not forward"") is the agency's own caveat and
# still counts. Only a closed quotation counts.
_QUOTED: Final = re.compile(
    r"\b(?:"
    r"(?:got|gets|received|receives|receiving|sent|sends|left|found|showed|shows)\s"
    r"(?:an?|the|this|that|his|her|their|several|multiple|\d+)\s(?:\w+\s)?"
    r"(?:e-?mails?|texts?|text messages?|messages?|dms?|notes?|letters?|voicemails?|posts?)\s"
    r"(?:saying|that said|that says|reading|that read|that reads|stating|that stated)"
    r"|(?:suspects?|subjects?|offenders?|caller|extortionists?|scammers?)\s"
    r"(?:texted|wrote|emailed|e-mailed|messaged|posted|said|says|told (?:him|her|them|the victim)|"
    r"threatened|demanded|yelled|shouted)(?:\s(?:him|her|them|the \w+|\w+)){0,3}?"
    r")(?: that)?\s?[:,]?\s?\"([^\"\n]{1,400})\"",
    re.IGNORECASE,
)


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` quotes someone else's words (start and end of each quotation)."""
    if '"' not in text:
        return []
    return [(m.start(1), m.end(1)) for m in _QUOTED.finditer(text)]


def in_context(
    folds: Sequence[str],
    i: int,
    spans: list[tuple[int, int, str]],
    *,
    letters: bool,
    quoted: bool,
) -> list[tuple[int, int, str]]:
    """The matches of block ``i`` less list letters and quoted words, as the set asks."""
    line = folds[i]
    if letters:
        spans = [
            s for s in spans if not is_list_letter(s[2], "\n".join([*folds[:i], line[: s[0]]]))
        ]
    if quoted and spans:
        quotes = quoted_spans(line)
        spans = [s for s in spans if not any(a <= s[0] and s[1] <= z for a, z in quotes)]
    return spans


def across(
    pattern: re.Pattern[str], folds: Sequence[str], *, quoted: bool
) -> list[tuple[int, tuple[int, int, str, str, re.Match[str]]]]:
    """Matches that run from one block over the next one or two (read joined by a space):
    (first block, (start, end in it, text, the joined text, the match)), the match kept for
    look-alike checks on the joined text."""
    out: list[tuple[int, tuple[int, int, str, str, re.Match[str]]]] = []
    for i in range(len(folds) - 1):
        if not folds[i]:
            continue
        for width in (2, 3):
            window = folds[i : i + width]
            if len(window) < width or not window[-1]:
                break
            joined = " ".join(window)
            last = len(joined) - len(window[-1])  # where the window's last block starts
            quotes = quoted_spans(joined) if quoted else []
            for m in pattern.finditer(joined):
                if m.start() >= len(folds[i]) or m.end() <= last or not m.group(0):
                    continue
                if any(a <= m.start() < z for a, z in quotes):
                    continue
                out.append((i, (m.start(), len(folds[i]), m.group(0), joined, m)))
    return out
