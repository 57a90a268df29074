"""Every other unit that mentions a protected person: full name, surname or given name, any
case, possessive; common words that are also names only as names are written.
"""

from __future__ import annotations

import re
from typing import Final

from relay.core.policy.contacts import agency_contact
from relay.core.policy.names import TITLE, WORDS, names_in, tokens
from relay.core.policy.units import Segmented

__all__ = ["REPORT", "mark_mentions"]

# Initials a person is named by ("M.O."): matched as written.
_INITIALS: Final = re.compile(r"(?:[A-Z]\.\s?){2,3}")
# A sentence that carries on what the person just named reported: "She says ...",
# "He also told us ...", "She's Maria Okafor, ..." (the person's name after a pronoun).
REPORT: Final = re.compile(
    r"(?i)^\W*(?:she|he)(?:'s|\s+is)?\s+(?:also\s+|then\s+)?(?:says|said|told|tells|"
    r"advises|advised|reports|reported|states|stated|thinks|believes|claims|added|adds|"
    r"mentioned|heard|swears|insists)\b|^\W*(?:she|he)(?:'s|\s+is)\s+(?-i:[A-Z][a-z]+\s+[A-Z])"
)

_COMMON: Final = frozenset(
    """
    brown green white black gray grey young king price rose may bell hall wood stone
    rich page long lane field ford mason love hope faith joy grace will bill mark rob
    bob jack frank sharp strong swift little major miles guy case rice page hunter baker
    cook fisher banks hill hills moore more park parks wells cross day night
    """.split()  # noqa: SIM905 - a word list reads best as words
)


def mark_mentions(
    seg: Segmented, bound: dict[str, str], source_units: dict[int, str], taken: dict[int, str]
) -> None:
    # Names that are not protected (a suspect anywhere in the message) lend none of their
    # tokens to the search: "Marcus" the suspect is not "Marcus" the source. A name with a
    # protected person's surname is that person written another way, not somebody else.
    surnames = {tokens(name)[-1].lower() for name in bound if tokens(name)}
    whole = [{t.lower() for t in tokens(name)} for name in bound]
    others: set[str] = set()
    for unit in seg.units:
        for name in names_in(unit.fold):
            words = [t.lower() for t in tokens(name)]
            if name in bound or len(words) < 2 or words[-1] in surnames:
                continue
            if not any(w and w <= set(words) for w in whole):  # "Marcus Szabo Nissan"
                others.update(words)
    # An officer bound as a source's handler keeps the agency's contact lines: they are
    # where partners call, not the source's identity.
    handlers = {
        t.lower()
        for name, rule in bound.items()
        if re.match(TITLE, name) and rule.startswith("informant")
        for t in tokens(name)
    }
    caseless: dict[str, str] = {}
    cased: dict[str, str] = {}
    for name, rule in bound.items():
        words = tokens(name)
        for token in words:
            low = token.lower()
            # a given name shared with somebody else goes unsearched; the surname never
            # does (a name glued to a car's make, "Szabo Nissan", is still the person)
            if low in others and len(words) > 1 and token != words[-1]:
                continue
            if low in _COMMON or len(token) < 3:
                cased.setdefault(token[:1].upper() + token[1:].lower(), rule)
                cased.setdefault(token.upper(), rule)
            else:
                caseless.setdefault(low, rule)
    for name, rule in bound.items():  # "Ortega-Ruiz" is also named "Ortega"
        for token in tokens(name):
            if "-" in token:
                for part in token.split("-"):
                    if len(part) >= 4 and part.lower() not in _COMMON | others:
                        caseless.setdefault(part.lower(), rule)
    initials = [
        re.compile(rf"(?<![\w.]){re.escape(n)}(?!\w)") for n in bound if _INITIALS.fullmatch(n)
    ]
    if not caseless and not cased and not initials:
        return
    for i, unit in enumerate(seg.units):
        if i in taken or i in source_units:
            continue
        if any(p.search(unit.fold) for p in initials):
            taken[i] = bound[next(n for n in bound if _INITIALS.fullmatch(n))]
            continue
        for word in WORDS.findall(unit.fold):
            if word.endswith(("'s", "'S")):
                word = word[:-2]
            word = word.rstrip("'-")
            hit = caseless.get(word.lower()) or cased.get(word)
            if hit is not None and word.lower() in handlers and agency_contact(unit.fold):
                continue
            if hit is not None:
                taken[i] = hit
                break
    # "Maria Okafor called me. She says Pike is ...": the protected person's report goes on
    # in the next sentence, opened by a pronoun and a reporting verb
    for i in sorted(set(taken) | set(source_units)):
        nxt = i + 1
        if (
            nxt < len(seg.units)
            and nxt not in taken
            and nxt not in source_units
            and seg.units[nxt].block == seg.units[i].block
            and REPORT.match(seg.units[nxt].fold)
        ):
            taken[nxt] = taken.get(i) or source_units[i]
