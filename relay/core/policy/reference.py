"""The reference grammar: which people the sentence around an anchor (where a source or an
undercover term matched) names as that source or officer, and which it only mentions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from relay.core.policy.names import (
    CAP,
    LOW,
    NOT_LOWER_NAME,
    NOT_NAME,
    PERSON,
    PERSON_RE,
    TITLE,
    UP,
    person_like,
    plausible,
)
from relay.core.policy.units import Segmented

__all__ = [
    "EXPLICIT",
    "Anchor",
    "TooComplexError",
    "bind_anchors",
    "lower_true_name",
]

# The patterns spell typographic quotes and dashes on purpose (noqa: RUF001).

# Connectors between an anchor and the person it names.
_NAMING: Final = (
    r"(?i:is|was|are|named|called|aka|a/k/a|known as|goes by|identified as|"
    r"(?:true|real|legal|full) name(?:\s+is)?|TN|name is|name|nombre(?:\s+real)?|nome"
    r"(?:\s+verdadeiro)?|es|se llama|llamad[oa]|de nombre|chamad[oa]|se chama|de nome|"
    r"code ?name|codename|alias)"
)
_NOT_BETWEEN: Final = re.compile(
    r"(?i)\b(?:say|says|said|advis\w*|report\w*|stat\w*|told|tell\w*|indicat\w*|believ\w*|"
    r"saw|seen|see|identif\w*|suspect\w*|target\w*|subject|guy|dealer|seller|driver|shooter|"
    r"he|she|they|them|him|her|his|who|that|which|dice|disse|diz|afirma|sospechoso|"
    r"suspeito|el|ele|ela)\b"
)
_AFTER: Final = re.compile(
    r"^(?P<between>(?:[\s,]+[\w'/-]+){0,6}?)?"
    rf"(?:\W{{0,3}}{_NAMING}\W{{1,4}}|\s*[(:=,\-–/]\s*)"  # noqa: RUF001
    rf"(?P<name>{PERSON}|(?:[\"'“‘])[A-Za-z][\w-]+(?:[\"'”’]))"  # noqa: RUF001
)
# "informant Marcus Delrey", "UC Det. Ramos": a name straight after the term, in mixed case
# or after a title (all-caps teletype reads "SOI 3 ADVISES SUBJ ..." otherwise).
_AFTER_BARE: Final = re.compile(
    rf"^(?:\s*[\w-]*\d[\w-]*)?\s+(?P<name>{TITLE}?{CAP}(?:\s+[A-Z]\.?)?(?:\s+{CAP}){{1,2}}"
    rf"|{TITLE}{CAP}|{TITLE}{UP})(?![\w])"
)
# "CS Lattimore says ...": a surname alone, straight after the term, then a verb
_AFTER_SURNAME: Final = re.compile(
    rf"^\s+(?P<name>{CAP})\s+(?i:says|said|told|tells|advises|advised|reports|reported|"
    r"states|stated|is|was|has|had|will|would|called|texted|confirmed|saw|heard|knows|dice|"
    r"dijo|disse|diz)\b"
)
_AFTER_LOWER: Final = re.compile(
    rf"^\W{{0,3}}(?:{_NAMING}\W{{1,3}}|\s*[:=\-(,]\s*)(?P<name>{LOW}\s{LOW})\b"
)
_QUOTED: Final = re.compile(
    r"^\s*(?:[\w-]*\d[\w-]*\s*)?[(,:\-]?\s*[\"'“‘](?P<name>[A-Za-z][\w-]{2,})[\"'”’]"  # noqa: RUF001
)
_BEFORE: Final = re.compile(
    rf"(?P<name>{PERSON})(?:'s)?\s*(?:[,(\-–]\s*)?(?:(?:who|that|que)\s+)?"  # noqa: RUF001
    r"(?:(?:(?i:is|was|has been|will be|acts as|acting as|serves as|works as|is now|became|"
    r"es|era|fue|e|foi|sera|sign(?:ed)? up as|registered as|the)\s+))?"
    r"(?:(?i:one of)\s+)?"
    r"(?:(?i:our|the|a|an|my|his|her|their|nuestro|nuestra|el|la|un|una|o|um|uma|nosso|nossa)"
    r"\s+(?:[a-z][a-z-]+\s+){0,2})?$"
)
# A promise of anonymity: every name in its sentence that is not a suspect's is protected.
_SAID: Final = re.compile(
    r"(?i)\b(?:says|said|reports?|reported|reporting|advises?|advised|states?|stated|told|"
    r"indicates?|indicated|believes|claims?|confirmed|dice|dijo|disse|diz|informa)\W*$"
)
_ANCHORS_PER_UNIT: Final = 32
# An anchor that is a source's or an officer's title ("CI", "C. I.", "per c-i", "informant",
# "code name"): a surname alone right after it is the person ("C. I. Okafor last night",
# "CI: Okafor -", "Informant Okafor's info", "code name BLUEJAY").
_TITLE_ANCHOR: Final = re.compile(
    r"(?i)[(\s]*(?:(?:per|via|from|thru|through|according to|our|my|the|a|his|her|their|"
    r"your|another|same|paid|registered|reliable)\s+)?(?:c\W{0,3}[iswd]|c\W{0,2}h\W{0,2}s|"
    r"s\W{0,2}o\W{0,2}i|c\W{0,2}r\W{0,2}i|informants?|sources?|cooperators?|u\W?c|"
    r"(?:source'?s? |informant'?s? )?code ?name|codename)\.?(?:[\s#-]{0,2}\d{1,4}(?:-\d{1,6})?)?"
    r"[)\s]*$"
)
_SURNAME_AFTER_TITLE: Final = re.compile(
    r"^(?:'s)?(?:\W{0,3}(?i:name is|named|called|true name|real name|aka|is)\W{1,4}(?!\w+'s)|"
    rf"\s*[:=(/]\s*|[\s-]+)(?P<name>{CAP}(?:\s+[A-Z]\.?)?(?:\s+{CAP}){{0,2}})(?:'s)?(?![\w-])"
)
# "(source: Okafor)": the label and the name in one match
_LABELLED: Final = re.compile(rf"(?i:\(\s?(?:source|src)\s?[:=-]\s?)(?P<name>{CAP})")
# in capitals only after a naming cue or a code name: "SOI 3 ADVISES" names nobody
_CAPS_AFTER_TITLE: Final = re.compile(
    r"^(?:'s)?(?:\W{0,3}(?i:name is|named|called|true name|real name|aka|is)\W{1,4})"
    rf"(?P<name>{UP})(?![\w-])"
)
_INITIALS_AFTER_TITLE: Final = re.compile(
    r"^\s*[,:(=-]?\s*(?P<name>(?:[A-Z]\.\s?){2,3})(?=[\s,;)]|$)"
)
_CODE_NAME: Final = re.compile(r"(?i)code ?name\W*$")
_CODE_AFTER: Final = re.compile(rf"^\W{{0,3}}(?P<name>{UP}|{CAP})(?![\w-])")
_LOWER_AFTER_TITLE: Final = re.compile(
    r"^(?:\s*[:=(/]\s*|[\s-]+)(?:(?i:is\s+)?(?i:det|detective|ofc|officer|sgt|tpr|agent|inv)"
    rf"\.?\s+(?P<officer>{LOW})\b|(?P<name>{LOW})(?:'s)?\s+(?:says|said|told|tells|advises|"
    r"advised|reports|reported|states|stated|saw|heard|called|texted|wants|thinks|claims)\b"
    rf"|(?P<pair>{LOW}\s{LOW})(?=[\s,;:]|$))"
)
# Words after "my ci" that open a clause, not a name: "my ci dropped off", "our ci got it".
_NOT_PAIR: Final = re.compile(
    r"(?:ed|ing|ly)$|^(?:says|tells|knows|thinks|wants|gets|got|gave|put|met|sent|saw|see|"
    r"heard|told|said|set|ran|went|came|left|made|took|bought|sold|let|can|may|might|must|"
    r"sees|runs|lives|works|drives|owns|goes|stays|texts|calls|hangs|buys|sells|"
    r"isnt|wasnt|doesnt|didnt|cant|wont|dont|never|always|usually|again|too|reported|"
    r"number|handler|phone|cell|info|tip|tips|intel|source|car|truck|van|house|place|"
    r"guy|girl|dude|man|woman|friend|cousin|brother|sister|wife|husband|mom|dad)$"
)
# A name right before a parenthesised title: "Okafor (CI-1)", "per okafor (ci)",
# "Kenji Moreau (paid CS"
_BEFORE_PAREN: Final = re.compile(
    rf"(?<![\w'])(?P<name>{PERSON}|{CAP}|{LOW})\s*\(\s*(?:[a-z][a-z-]+\s+){{0,2}}$"
)


class TooComplexError(Exception):
    """A message past what the engine weighs (it blocks: ``too_complex``)."""


# "Got this from Yusupova, our paid informant": a surname alone after a reporter word,
# closed by a comma and the title's article
_FROM_SURNAME: Final = re.compile(
    r"(?i:\b(?:from|per|via|thru|through|according to|by|with|to|met)\s+)"
    rf"(?P<name>{CAP}),\s+(?i:who is\s+|is\s+)?(?i:our|my|the|a|an)\s+(?:[a-z][a-z-]+\s+){{0,2}}$"
)
_BEFORE_SURNAME: Final = re.compile(
    r"^\W*(?:(?i:fyi|note|btw|also|and|but|so|ps|update|reminder)\W+)?"
    rf"(?P<name>{CAP})\s*(?:,\s*(?i:who|that)\s+)?"
    r"(?i:is|was|has been|have been|will be|is now)\s+(?i:one of\s+)?"
    r"(?i:our|the|a|an|my)\s+(?:[a-z][a-z-]+\s+){0,2}$"
)
_CIVIL: Final = re.compile(r"(?i)(?:mr|mrs|ms|miss|sr|sra|srta|senor|senora|don|dona)\b")
_ANONYMITY: Final = re.compile(
    r"(?i)anonym|condition|(?:his|her|their|my) name|not (?:to )?be (?:named|identified)|"
    r"anonimat|anonim"
)
# An officer named in a clause of time is at the scene, not the source's handler.
_PASSING: Final = re.compile(r"(?i)\b(?:when|while|as|after|before|until|once|by the time)\W+$")
_ROLE_BEFORE: Final = re.compile(
    r"(?i)\b(?:suspects?|subjects?|driver|owner|wanted|target|seller|dealer|supplier|shooter|"
    r"offender|accused|sospechoso|suspeito)\W+(?:\w+\W+){0,2}$"
)
# An appositive closes after the name ("Our CI, Danny Ruiz, says"); "Per CI-607, Bogdan
# Petran is selling" names what the source reported, not the source.
_CLOSED: Final = re.compile(r"\s*(?:[,);:.\]]|$|\(|-|(?i:dob|aka|a/k/a|age)\b|\d)")
# After an appositive name: ", the stolen trailers are ...", ", they moved ..." (a subject,
# then a verb before the next comma), not ", the owner of the shop, is selling"
_NEW_CLAUSE: Final = re.compile(
    r"\s*,\s*(?i:the|a|an|his|her|their|they|he|she|we|our|this|that|these|those)\b"
    r"[^,.;:()]{0,60}?\b(?i:is|are|was|were|has|have|had|will|would|can|could|should|may|"
    r"might|keeps?|goes|went|\w{3,}ed)\b"
)
_REPORTER: Final = re.compile(
    r"(?i)\b(?:per|according to|via|from|thru|through|seg[uú]n|segundo|de acuerdo con)\W*$"
)


EXPLICIT: Final = re.compile(
    r"(?i)\b(?:true name|real name|legal name|TN|nombre real|nome verdadeiro)\b"
)


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a protecting detector matched: a block's folded text, start and end."""

    block: int
    start: int
    end: int
    rule: str  # the rule id its people are removed under


def bound_after(text: str, *, reporter: bool = False, said: bool = False) -> list[str]:
    out: list[str] = []
    nick = _TITLE_NICKNAMED.match(text)  # "cs #4471 is tremaine 'tiny' oyelaran"
    if nick is not None and not {nick["first"].lower(), nick["last"].lower()} & NOT_LOWER_NAME:
        out += [f"{nick['first']} {nick['last']}", nick["nick"]]
    m = _QUOTED.match(text)
    if m is not None:
        out.append(m.group("name"))
    m2 = _AFTER.match(text)
    if m2 is not None:
        between = m2.group("between") or ""
        connector = text[len(between) : m2.start("name")].strip()
        loose = connector[:1] in (",", "-", "–") or not connector  # noqa: RUF001
        closed = _CLOSED.match(text, m2.end("name")) is not None
        if loose and (reporter or not closed):
            # "Per CI-607, Bogdan Petran is selling ...": the report, not the source; but
            # "According to CW-1, Harlan Beaudry, the trailers are ...": an appositive (the
            # name closed by a comma, then a clause with its own subject) names the source
            if reporter and _NEW_CLAUSE.match(text, m2.end("name")):
                name = m2.group("name").strip("\"'“”‘’")  # noqa: RUF001
                if person_like(name):
                    out.append(name)
        elif not between.strip() or not _NOT_BETWEEN.search(between):
            name = m2.group("name").strip("\"'“”‘’")  # noqa: RUF001
            if person_like(name) or (name and name[0].isupper() and " " not in name):
                out.append(name)
    if said:
        return out
    m5 = _AFTER_SURNAME.match(text)
    if m5 is not None and m5.group("name").lower() not in NOT_NAME:
        out.append(m5.group("name"))
    m4 = _AFTER_BARE.match(text)
    if m4 is not None and person_like(m4.group("name")):
        out.append(m4.group("name"))
    m3 = _AFTER_LOWER.match(text)
    if m3 is not None:
        name = m3.group("name")
        if all(w not in NOT_LOWER_NAME for w in name.split()):
            out.append(name)
    return out


def bind_anchors(seg: Segmented, anchors: Iterable[Anchor]) -> dict[str, str]:
    """The people the sentence around each anchor binds to it: name -> rule id."""
    bound: dict[str, str] = {}  # name -> rule
    units = seg.units
    persons: dict[int, list[tuple[int, str]]] = {}  # unit -> the names in it, where
    seen: set[tuple[int, bool]] = set()
    per_unit: dict[int, int] = {}
    for a in anchors:
        block = seg.blocks[a.block]
        unit = seg.unit_at(a.block, a.start)
        per_unit[unit] = per_unit.get(unit, 0) + 1
        if per_unit[unit] > _ANCHORS_PER_UNIT:
            raise TooComplexError  # more references in one sentence than are weighed
        rule = a.rule
        u_start = block.offsets[unit - block.first]
        u_end = u_start + len(units[unit].fold)
        after = block.fold[a.end : max(a.end, min(u_end, a.end + 160))]
        before = block.fold[max(u_start, a.start - 100) : a.start]
        reporter = _REPORTER.search(before) is not None
        # "a source says Fuchs-Amadi has been ...": after a reporting verb comes what the
        # source reported, not who the source is
        said = _SAID.search(block.fold, a.start, a.end) is not None
        for name in bound_after(after, reporter=reporter, said=said):
            bound.setdefault(name, rule)
        if _TITLE_ANCHOR.match(block.fold, a.start, a.end):
            code = _CODE_NAME.search(block.fold, a.start, a.end) is not None
            for name in _title_surname(after, code=code):
                bound.setdefault(name, rule)
        ml = _LABELLED.match(block.fold, a.start, a.end)
        if ml is not None and _may_name(ml.group("name")):
            bound.setdefault(ml.group("name"), rule)
        mp = _BEFORE_PAREN.search(before)
        if mp is None and block.fold[a.start : a.start + 1] == "(":
            mp = _BEFORE_PAREN.search(before + "(")
        if mp is not None and _may_name(mp.group("name")):
            bound.setdefault(mp.group("name"), rule)
        m = _BEFORE.search(before)
        # a name right before the term with nothing between ("gray Kia Soul per CI") must
        # look like a person's; after a connector ("June Whitaker, our CI") the grammar says so
        # after a dash ("Re: the Ford Escape - my CS") the name must look like a person's too
        joined = m is not None and before[m.end("name") :].strip()[:1] in ("", "-", "–")  # noqa: RUF001
        if m is not None and (plausible if joined else person_like)(m.group("name")):
            bound.setdefault(m.group("name"), rule)
        elif (mf := _FROM_SURNAME.search(before)) is not None and _may_name(mf["name"]):
            bound.setdefault(mf["name"], rule)
        elif before.strip() == block.fold[u_start : a.start].strip():
            # the sentence opens with the name alone: "Hollis is one of our registered CIs"
            m = _BEFORE_SURNAME.match(before)
            if m is not None and m.group("name").lower() not in NOT_NAME:
                bound.setdefault(m.group("name"), rule)
        text = units[unit].fold
        anonymity = _ANONYMITY.search(block.fold, a.start, a.end) is not None
        if (unit, anonymity) in seen:
            continue  # the unit's own names were weighed for an earlier anchor already
        seen.add((unit, anonymity))
        for em in EXPLICIT.finditer(text):
            for name in bound_after(text[em.end() : em.end() + 160]):
                bound.setdefault(name, rule)
        # Officers named in a source's or an undercover officer's sentence are its handlers
        # or the officer; a promise of anonymity protects the names in its sentence that are
        # not a suspect's.
        found = persons.get(unit)
        if found is None:
            found = persons[unit] = [(pm.start(), pm.group(1)) for pm in PERSON_RE.finditer(text)]
        for start, name in found:
            if not plausible(name) or name in bound:
                continue
            titled = re.match(TITLE, name) is not None and not _CIVIL.match(name)
            if titled and not anonymity and _PASSING.search(text, 0, start):
                continue  # "... when Ofc. Grady pulled in": an officer arriving, no handler
            if (titled or anonymity) and not _ROLE_BEFORE.search(text, 0, start):
                bound[name] = rule
    _nicknames(seg, bound)
    return bound


# A nickname in quotes inside a name: Maria "Mimi" Okafor.
_NICKNAMED: Final = re.compile(
    rf"(?P<first>{CAP})\s+[\"'“‘](?P<nick>[A-Za-z][\w-]+)[\"'”’]\s+(?P<last>{CAP})"  # noqa: RUF001
)


# The same right after a source's title, in any case: "CS #4471 is tremaine 'tiny' oyelaran"
_TITLE_NICKNAMED: Final = re.compile(
    r"^\W{0,3}(?:(?i:is|named|name is|aka)\W{1,3})?(?P<first>[A-Za-z][a-z-]+)\s+"
    r"[\"'“‘](?P<nick>[A-Za-z][\w-]+)[\"'”’]\s+(?P<last>[A-Za-z][a-z-]+)\b"  # noqa: RUF001
)


def _nicknames(seg: Segmented, bound: dict[str, str]) -> None:
    """Bind the full name and the nickname of a bound person written with one."""
    known = {w for name in bound for w in name.split()}
    for unit in seg.units:
        for m in _NICKNAMED.finditer(unit.fold):
            hit = next((w for w in (m["first"], m["last"]) if w in known), None)
            if hit is not None:
                rule = next(r for name, r in bound.items() if hit in name.split())
                bound.setdefault(f"{m['first']} {m['last']}", rule)
                bound.setdefault(m["nick"], rule)


def _may_name(name: str) -> bool:
    """A name the grammar put next to a title: a person's, or one word that is no other."""
    if "." in name:
        return name.strip().endswith(".")  # initials: "M.O."
    if " " in name:
        return plausible(name)
    low = name.lower()
    return low not in NOT_LOWER_NAME and len(low) > 2


def _title_surname(after: str, *, code: bool) -> list[str]:
    for pattern in (
        (_CODE_AFTER,)
        if code
        else (_SURNAME_AFTER_TITLE, _CAPS_AFTER_TITLE, _INITIALS_AFTER_TITLE)
    ):
        m = pattern.match(after)
        if m is not None and _may_name(m.group("name")):
            return [m.group("name")]
    m = _LOWER_AFTER_TITLE.match(after)
    if m is None:
        return []
    if m.group("pair"):
        words = m.group("pair").split()
        ok = all(_may_name(w) and not _NOT_PAIR.search(w) for w in words)
        return [m.group("pair")] if ok else []
    if _may_name(m.group("officer") or m.group("name")):
        return [m.group("officer") or m.group("name")]
    return []


def lower_true_name(fold: str) -> str | None:
    """A name written in lower case after a true-name cue ("tn: marcus delrey"), if any."""
    m = _AFTER_LOWER.search(fold)
    if m is None or not EXPLICIT.search(fold):
        return None
    name = m.group("name")
    return name if all(w not in NOT_LOWER_NAME for w in name.split()) else None
