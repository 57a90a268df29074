"""Protected people: who a message names as a source or an undercover officer, and every unit
that mentions them (domain brief §6, "People, not just patterns").

A source's identity rarely sits next to the word "CI". Starting from the places where a
protecting detector matched (a source term, an undercover term: *anchors*), this module

1. finds the people *bound* to an anchor by the grammar of its sentence
   (:mod:`~relay.core.policy.reference`): "our CI is Marcus
   Delrey", "Marcus Delrey, our CI", "CI-22 (true name Marcus Delrey)", "handler: Det. Ruiz",
   "UC-7 is Det. Lopez", "our source 'Sparrow'", "Jane Roe, who asked to remain anonymous";
   a suspect named in the same sentence ("CI-22 says the suspect is Tony Blake") is not
   bound and stays unprotected;
2. takes the units around a source unit that carry its identity: the next units while they
   hold identity details (a true-name line, a parenthesis with a name and address, DOB,
   phone, address, payment, relationship), and the unit just before when it is a bare name
   or identity line; their people are protected too (:mod:`~relay.core.policy.identity`);
3. finds every unit that mentions a protected person anywhere, files included: full name,
   surname or given name, any case, possessive (:mod:`~relay.core.policy.mentions`).

Only ids and counts leave this module's callers: the names are internal values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from relay.core.policy.identity import (
    FIELD_OF_PARTY,
    ROLE_WORD,
    SUSPECT,
    identity_like,
    in_bolo_card,
    is_row,
    source_card,
)
from relay.core.policy.mentions import REPORT, mark_mentions
from relay.core.policy.names import NOT_NAME, WORDS, names_in, tokens
from relay.core.policy.reference import Anchor, TooComplexError, bind_anchors, lower_true_name
from relay.core.policy.units import Segmented, is_label_line

__all__ = ["Anchor", "People", "TooComplexError", "find_people"]


@dataclass(slots=True)
class People:
    """Units to remove because of protected people, by rule id; and how many people."""

    units: dict[int, str] = field(default_factory=dict)  # unit -> rule id
    count: int = 0  # people protected
    rules: set[str] = field(default_factory=set)  # the rules they are protected under


def find_people(seg: Segmented, anchors: Iterable[Anchor], source_units: dict[int, str]) -> People:
    """Protected people of a message and the units they take with them.

    ``source_units`` maps each unit a protecting detector removes to its rule id.
    """
    people = People()
    bound = bind_anchors(seg, anchors)  # name -> rule
    units = seg.units
    # Identity around each source unit.
    # a photo's lines are read like the message's (issue 17): a source line on a whiteboard
    # takes the phone number on the line after it
    text_units = [i for i, u in enumerate(units) if seg.blocks[u.block].kind != "file"]
    position = {u: k for k, u in enumerate(text_units)}
    for u, rule in sorted(source_units.items()):
        k = position.get(u)
        if k is None:
            continue
        fold = units[u].fold
        if is_row(seg, u):
            # a row is a record of its own: its people are the source's (unless it names a
            # suspect's role), its neighbours are other records
            if not SUSPECT.search(fold) and not ROLE_WORD.search(fold):
                for name in names_in(fold):
                    bound.setdefault(name, rule)
            continue
        others = {
            w
            for w in _CAPITALISED.findall(fold)[1:]
            if w.lower() not in NOT_NAME and not any(w in name for name in bound)
        }
        if is_label_line(fold) and in_bolo_card(seg, text_units, k):
            # "Source: SOI #3 (...)" in a suspect's card: that field goes, with the fields
            # right after it that carry the same party's details ("RP Phone:")
            j = k + 1
            while j < len(text_units) and FIELD_OF_PARTY.match(units[text_units[j]].fold):
                _take(people, text_units[j], rule, units[text_units[j]].fold, bound)
                j += 1
            continue
        # the units after it that carry the source's identity: a true-name line, a DOB, a
        # phone, an address; a unit naming someone new once the source is known is about
        # somebody else
        taken = 0
        j = k + 1
        while j < len(text_units) and taken < 4:
            nxt = text_units[j]
            if nxt in source_units:
                j += 1
                continue
            nfold = units[nxt].fold
            if taken == 0 and REPORT.match(nfold) and names_in(nfold):
                _take(people, nxt, rule, nfold, bound)  # "She's Maria Okafor, the waitress"
                break
            quoted = _QUOTE_SAID.search(nfold) if taken == 0 else None
            if quoted is not None and quoted["name"].lower() not in NOT_NAME:
                # '"He showed everybody the gun," Okafor told Det. Lane': the source's words
                bound.setdefault(quoted["name"], rule)
                _take(people, nxt, rule, nfold, bound)
                break
            if is_row(seg, nxt) or not identity_like(nfold, after_source=True, named=bool(bound)):
                break
            if others and _mentions_any(nfold, others):
                break  # it goes on about the suspect the source named
            if bound and any(n not in bound for n in names_in(nfold)):
                break
            _take(people, nxt, rule, nfold, bound)
            taken += 1
            j += 1
        # the unit before it when it is a bare name or identity line
        j = k - 1
        taken = 0
        while j >= 0 and taken < 4:
            prev = text_units[j]
            if prev in source_units:
                j -= 1
                continue
            pfold = units[prev].fold
            if is_row(seg, prev):
                break
            card = is_label_line(pfold)
            if len(WORDS.findall(pfold)) > 14 or not identity_like(pfold, after_source=card):
                break
            if not card and taken:
                break
            _take(people, prev, rule, pfold, bound)
            taken += 1
            j -= 1
            if not card:
                break
        for c in source_card(seg, text_units, k):
            _take(people, c, rule, units[c].fold, bound)
    if not bound:
        return people
    single = {n for n in bound if " " not in n.strip()}
    if single:  # "Ray has been working for us" also binds the "Ray Kessler" named before
        for each in units:
            for name in names_in(each.fold):
                # "Okafor, Pike is ..." is two people, not "Surname, Given"
                if name in bound or "," in name:
                    continue
                if any(t in single for t in tokens(name)):
                    bound[name] = bound[next(t for t in tokens(name) if t in single)]
    people.count = len(bound)
    people.rules.update(bound.values())
    mark_mentions(seg, bound, source_units, people.units)
    return people


_QUOTE_SAID: Final = re.compile(
    r"^\W*[\"“][^\"”]{8,}[,.!?]?[\"”]\s*,?\s*(?P<name>[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?)\s+"
    r"(?:told|said|says|tells|added|explained|texted)\b"
)
_CAPITALISED: Final = re.compile(r"\b[A-Z][a-z]{2,}(?:-[A-Z][a-z]+)?\b")


def _mentions_any(text: str, words: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def _take(people: People, unit: int, rule: str, fold: str, bound: dict[str, str]) -> None:
    people.units.setdefault(unit, rule)
    for name in names_in(fold):
        bound.setdefault(name, rule)
    lower = lower_true_name(fold)
    if lower is not None:
        bound.setdefault(lower, rule)
