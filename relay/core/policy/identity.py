"""A source's identity around the unit that names it: the units carrying a person's details,
the source's record card, and the table rows and BOLO cards that are someone else's.
"""

from __future__ import annotations

import re
from typing import Final

from relay.core.policy.contacts import AGENCY_CONTACT, agency_contact
from relay.core.policy.names import WORDS, names_in
from relay.core.policy.reference import EXPLICIT
from relay.core.policy.units import Segmented, is_label_line, is_table_row

__all__ = [
    "FIELD_OF_PARTY",
    "ROLE_WORD",
    "SUSPECT",
    "identity_like",
    "in_bolo_card",
    "is_row",
    "source_card",
]

# Details that identify a person wherever they appear next to a source.
_IDENTITY_CUE: Final = re.compile(
    r"(?i)\b(?:DOB|D\.O\.B|date of birth|born|fecha de nacimiento|data de nascimento|"
    r"lives|living|resides|residing|reside|stays|staying|home address|his address|"
    r"her address|their address|address is|vive|mora|morando|domicilio|endereco|"
    r"paid|payment|payments|pagamento|pago|pagado|signed up|registered|"
    r"girlfriend|boyfriend|wife|husband|cousin|brother|sister|mother|father|uncle|aunt|"
    r"nephew|niece|roommate|grandmother|baby mama|baby mother|novia|novio|esposa|esposo|"
    r"hermano|hermana|namorada|namorado|irmao|irma|"
    r"true name|real name|legal name|TN|aka|a/k/a|nombre|nome|alias|code ?name|"
    r"works at|employed|employer|trabaja|trabalha)\b"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\$\s?\d|(?i:\bname\s?:)"
)
# Details that identify a person only when the unit is about a person (a phone number or a
# street address is as often the agency's desk or the scene).
_PERSONAL: Final = re.compile(
    r"\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b|\b\d{3}[-. ]\d{4}\b|(?i:\b(?:phone|cell|mobile|"
    r"celular|telefono|apt|apartment|address|addr)\b)"
    r"|\b\d{1,5}\s+(?:[NSEW]\.?\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\s+(?:St|Street|Ave|Avenue|"
    r"Rd|Road|Ln|Lane|Dr|Drive|Blvd|Ct|Court|Way|Pl|Place|Ter|Terrace|Cir|Circle)\b"
)
_PRONOUN: Final = re.compile(
    r"(?i)\b(?:he|she|him|her|his|hers|they|them|their|el|ella|ele|ela)\b"
)
# A sentence that goes on about the person just named: "he drives a white Nissan Leaf",
# "she stays with her sister on Elm", "his cell is ..."
_BACK_REFERENCE: Final = re.compile(
    r"(?i)^\W*(?:he|she|they|hes|shes|he's|she's|his|her|their|el|ella|ele|ela)\b[^.!?]{0,60}?"
    r"\b(?:drives?|driving|car|vehicle|truck|van|lives?|living|stays?|staying|works?|phone|"
    r"call|calls|text|texts|meet|meets|meeting|check in|checks in|"
    r"cell|number|hangs? out|girlfriend|boyfriend|wife|husband|mom|mother|kids?|address|"
    r"maneja|vive|trabaja|dirige|mora|trabalha)\b"
)
# Handling the source just named: meetings, payments, calls ("gonna meet him tmrw", "next
# meet is fri same place", "he wants to up it to $300")
_HANDLING: Final = re.compile(
    r"(?i)\b(?:(?:meet|meeting|met|pay|paying|paid|call|calling|text|texting|see|seeing|"
    r"pick(?:ing)? up|drop(?:ping)? off)\b[^.!?]{0,25}\b(?:him|her|them)\b|next (?:meet|meeting|"
    r"payment|buy|drop)|(?:the )?usual (?:spot|place)|same (?:spot|place)|buy fund|"
    r"wants? (?:to up it|more money|a raise|\$\s?\d+)|up it to \$)"
    r"|^\W*(?:he|she|they)(?:'ll|\s+will|\s+is gonna|\s+gonna|\s+should|\s+said he'?d)?\s+"
    r"(?:call|text|reach out|check in|let (?:me|us) know|update (?:me|us))\b"
)
_BOLO_LABEL: Final = re.compile(
    r"(?i)^\W*(?:suspects?|subj(?:ect)?s?|wanted|veh(?:icle)?s?|caution|offen[cs]e|charges?|"
    r"warrant|last seen|wanted for|armed|desc(?:ription)?|hgt|wgt|height|weight|hair|eyes|"
    r"build|clothing|frequents|m\.?o\.?|last known|plate|tag|lic|sospechoso|vehiculo|"
    r"descripcion|suspeito|veiculo|descricao)\b"
)
_PERSON_LABEL: Final = re.compile(
    r"(?i)^\W*(?:(?:true |real |full |legal )?name|dob|d\.o\.b|date of birth|age|aka|alias|"
    r"phone|cell|tel|address|addr|residence|amount|payment|paid|relationship|employer|ssn|"
    r"nombre|nome|telefono|direccion|endereco)\b"
)
ROLE_WORD: Final = re.compile(
    r"(?i)\b(?:seller|dealer|supplier|lookout|driver|fence|shooter|runner|associate|stash|"
    r"target|suspect|wanted|victim|witness(?! protection)|owner|vendedor|traficante)\b"
)
FIELD_OF_PARTY: Final = re.compile(
    r"(?i)^\W*(?!(?:suspect|subj|susp|driver|owner)\b)[\w ]{0,12}?\b(?:phone|cell|tel|dob|"
    r"address|addr|aka|alias|email|ssn|employer|relationship|(?:true |full |real |legal )?name)\b"
    r"[^:]{0,10}:"
)
_OTHER_ROLE: Final = re.compile(
    r"(?i)\b(?:landlord|landlady|owner|tenant|neighbou?rs?|manager|clerk|employee|staff|"
    r"security|witness(?:es)?|victims?|complainant|cashier|bartender|teller|"
    r"propietario|vecino|dueno|vizinho|dono)\b"
)
SUSPECT: Final = re.compile(
    r"(?i)\b(?:suspects?|subjects?|subj|susp|wanted|targets?|offenders?|perps?|accused|arrestee|"
    r"sospechos[oa]s?|suspeit[oa]s?|alvo|buscad[oa]|procurad[oa]|victims?|victimas?|vitimas?)\b"
)


def identity_like(text: str, *, after_source: bool, named: bool = False) -> bool:
    """Does this unit carry a person's identity (and not a suspect's, nor an agency
    contact's, nor that of someone else it names by role)?"""
    if (SUSPECT.search(text) or _OTHER_ROLE.search(text)) and not EXPLICIT.search(text):
        return False
    if agency_contact(text):
        return False  # a request to call the agency, an officer's or a desk's number
    if after_source and _HANDLING.search(text):
        return True
    if after_source and named and _BACK_REFERENCE.match(text):
        return True  # "he drives ...", once the source is a named person
    if _IDENTITY_CUE.search(text):
        return True
    words = len(WORDS.findall(text))
    names = names_in(text)
    if names and words <= 6:
        return True  # a bare name line
    personal = _PERSONAL.search(text) and not AGENCY_CONTACT.search(text)
    if personal and (names or _PRONOUN.search(text) or words <= 6 or text.startswith("(")):
        return True
    return after_source and text.lstrip().startswith("(") and bool(names)


def is_row(seg: Segmented, u: int) -> bool:
    """Is this unit a row of a table (pipes, tabs, columns)? Read on the raw line: folding
    collapses the white space that makes columns."""
    line = _alone(seg, u)
    return line is not None and is_table_row(seg.texts[line])


def in_bolo_card(seg: Segmented, text_units: list[int], k: int) -> bool:
    """Is the template line ``text_units[k]`` a field of a BOLO card (suspect, vehicle,
    description fields around it)?"""
    units = seg.units
    line = _alone(seg, text_units[k])
    if line is None:
        return False
    for step in (-1, 1):
        j, last = k + step, line
        while 0 <= j < len(text_units):
            other = _alone(seg, text_units[j])
            fold = units[text_units[j]].fold
            if other is None or other != last + step or not is_label_line(fold):
                break
            if _BOLO_LABEL.match(fold):
                return True
            last = other
            j += step
    return False


def _ends_line(seg: Segmented, u: int) -> int | None:
    """The line a unit ends, when it is the last thing on it."""
    line, _, end = seg.units[u].spans[-1]
    return line if not seg.texts[line][end:].strip() else None


def _alone(seg: Segmented, u: int) -> int | None:
    """The line of a unit that is a whole line of its own, else None."""
    unit = seg.units[u]
    block = seg.blocks[unit.block]
    if block.count != 1 or len(unit.spans) != 1:
        return None
    return unit.spans[0][0]


def source_card(seg: Segmented, text_units: list[int], k: int) -> list[int]:
    """A source's record: the template lines of the card a source unit heads or sits in
    ("Informant payment log" then "name: / amount: / purpose:"; "Name: / DOB: / Role: CI").
    A BOLO card that only mentions a source in one field (it has suspect or vehicle fields)
    is not a record: [] then."""
    units = seg.units
    u = text_units[k]
    line = _alone(seg, u)
    if line is None:
        line = _ends_line(seg, u)  # a heading after another sentence on its line
        if line is None or is_label_line(units[u].fold):
            return []
    fold = units[u].fold
    card: list[int] = []
    if not is_label_line(fold):
        if len(WORDS.findall(fold)) > 8 or fold.rstrip()[-1:] in ".!?":
            return []
    else:
        card.append(u)
        j, last = k - 1, line
        while j >= 0:
            prev = _alone(seg, text_units[j])
            if prev is None or prev != last - 1 or not is_label_line(units[text_units[j]].fold):
                break
            card.append(text_units[j])
            last = prev
            j -= 1
    j, last = k + 1, line
    while j < len(text_units):
        nxt = _alone(seg, text_units[j])
        if nxt is None or nxt != last + 1 or not is_label_line(units[text_units[j]].fold):
            break
        card.append(text_units[j])
        last = nxt
        j += 1
    # the card's heading ("SOURCE CARD - Millbrook PD Vice") goes with it
    first = min(card, key=lambda c: seg.units[c].spans[0][0]) if card else u
    kf = text_units.index(first)
    if kf > 0:
        head = text_units[kf - 1]
        hline = _alone(seg, head)
        hfold = units[head].fold
        if (
            hline is not None
            and hline == seg.units[first].spans[0][0] - 1
            and not is_label_line(hfold)
            and len(WORDS.findall(hfold)) <= 8
            and hfold.rstrip()[-1:] not in ".!?"
        ):
            card.append(head)
    if (
        len(card) < 2
        or any(_BOLO_LABEL.match(units[c].fold) for c in card)
        or not any(_PERSON_LABEL.match(units[c].fold) for c in card)
        or any(len(WORDS.findall(units[c].fold)) > 12 for c in card)
    ):
        return []
    return [c for c in card if c != u]
