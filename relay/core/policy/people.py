"""Protected people: who a message names as a source or an undercover officer, and every unit
that mentions them (domain brief §6, "People, not just patterns").

A source's identity rarely sits next to the word "CI". Starting from the places where a
protecting detector matched (a source term, an undercover term: *anchors*), this module

1. finds the people *bound* to an anchor by the grammar of its sentence: "our CI is Marcus
   Delrey", "Marcus Delrey, our CI", "CI-22 (true name Marcus Delrey)", "handler: Det. Ruiz",
   "UC-7 is Det. Lopez", "our source 'Sparrow'", "Jane Roe, who asked to remain anonymous";
   a suspect named in the same sentence ("CI-22 says the suspect is Tony Blake") is not
   bound and stays unprotected;
2. takes the units around a source unit that carry its identity: the next units while they
   hold identity details (a true-name line, a parenthesis with a name and address, DOB,
   phone, address, payment, relationship), and the unit just before when it is a bare name
   or identity line; their people are protected too;
3. finds every unit that mentions a protected person anywhere, files included: full name,
   surname or given name, any case, possessive.

Only ids and counts leave this module's callers: the names are internal values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from relay.core.policy.units import Segmented, is_label_line, is_table_row

__all__ = ["Anchor", "People", "TooComplexError", "find_people"]

_TITLE: Final = (
    r"(?:(?i:det|detective|sgt|sergeant|officer|ofc|off|ptl|patrolman|tpr|trooper|lt|"
    r"lieutenant|cpl|corporal|agent|sa|tfo|inv|investigator|mr|mrs|ms|miss|dr|sr|sra|srta|"
    r"don|dona|senor|senora|agente|oficial|policia|policial|sgto|sargento|cabo|cb|sd|"
    r"soldado|tte|teniente|tenente|cap|capitan|capitao|inspector|investigador|delegado|"
    r"comisario|comissario|escrivao)\.?\s+)"
)
_CAP: Final = (
    r"(?:(?:Mc|Mac|O'|D'|De|Di|Da|Du|La|Le|Van|Von|St\.\s?)?[A-Z][a-z]+(?:[-'][A-Za-z][a-z]+)*)"
)
_UP: Final = r"(?:(?:MC|MAC|O'|D')?[A-Z]{2,}(?:[-'][A-Z]{2,})*)"
_LOW: Final = r"(?:[a-z]{2,}(?:-[a-z]{2,})?)"
_PERSON: Final = (
    rf"(?:{_TITLE}?(?:{_CAP}(?:\s+[A-Z]\.?)?(?:\s+{_CAP}){{1,2}}"
    rf"|{_CAP},\s?{_CAP}(?:\s+[A-Z]\.?)?"
    rf"|{_UP},\s?{_UP}|{_UP},\s?{_CAP}|{_UP}\s+{_UP}(?:\s+{_UP})?)"
    rf"|{_TITLE}{_CAP}|{_TITLE}{_UP})"
)
_PERSON_RE: Final = re.compile(rf"(?<![\w'])({_PERSON})(?![\w])")
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
    rf"(?:\W{{0,3}}{_NAMING}\W{{1,4}}|\s*[(:=,\-–]\s*)"
    rf"(?P<name>{_PERSON}|(?:[\"'“‘])[A-Za-z][\w-]+(?:[\"'”’]))"
)
# "informant Marcus Delrey", "UC Det. Ramos": a name straight after the term, in mixed case
# or after a title (all-caps teletype reads "SOI 3 ADVISES SUBJ ..." otherwise).
_AFTER_BARE: Final = re.compile(
    rf"^(?:\s*[\w-]*\d[\w-]*)?\s+(?P<name>{_TITLE}?{_CAP}(?:\s+[A-Z]\.?)?(?:\s+{_CAP}){{1,2}}"
    rf"|{_TITLE}{_CAP}|{_TITLE}{_UP})(?![\w])"
)
# "CS Lattimore says ...": a surname alone, straight after the term, then a verb
_AFTER_SURNAME: Final = re.compile(
    rf"^\s+(?P<name>{_CAP})\s+(?i:says|said|told|tells|advises|advised|reports|reported|"
    r"states|stated|is|was|has|had|will|would|called|texted|confirmed|saw|heard|knows|dice|"
    r"dijo|disse|diz)\b"
)
_AFTER_LOWER: Final = re.compile(
    rf"^\W{{0,3}}(?:{_NAMING}\W{{1,3}}|\s*[:=\-(,]\s*)(?P<name>{_LOW}\s{_LOW})\b"
)
_QUOTED: Final = re.compile(
    r"^\s*(?:[\w-]*\d[\w-]*\s*)?[(,:\-]?\s*[\"'“‘](?P<name>[A-Za-z][\w-]{2,})[\"'”’]"
)
_BEFORE: Final = re.compile(
    rf"(?P<name>{_PERSON})(?:'s)?\s*(?:[,(\-–]\s*)?(?:(?:who|that|que)\s+)?"
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


class TooComplexError(Exception):
    """A message past what the engine weighs (it blocks: ``too_complex``)."""


_BEFORE_SURNAME: Final = re.compile(
    rf"^\W*(?P<name>{_CAP})\s+(?i:is|was|has been|will be|is now)\s+(?i:one of\s+)?"
    r"(?i:our|the|a|an|my)\s+(?:[a-z][a-z-]+\s+){0,2}$"
)
_CIVIL: Final = re.compile(r"(?i)(?:mr|mrs|ms|miss|sr|sra|srta|senor|senora|don|dona)\b")
_ANONYMITY: Final = re.compile(
    r"(?i)anonym|condition|(?:his|her|their|my) name|not (?:to )?be (?:named|identified)|"
    r"anonimat|anonim"
)
_ROLE_BEFORE: Final = re.compile(
    r"(?i)\b(?:suspects?|subjects?|driver|owner|wanted|target|seller|dealer|supplier|shooter|"
    r"offender|accused|sospechoso|suspeito)\W+(?:\w+\W+){0,2}$"
)
# An appositive closes after the name ("Our CI, Danny Ruiz, says"); "Per CI-607, Bogdan
# Petran is selling" names what the source reported, not the source.
_CLOSED: Final = re.compile(r"\s*(?:[,);:.\]]|$|\(|-|(?i:dob|aka|a/k/a|age)\b|\d)")
_REPORTER: Final = re.compile(
    r"(?i)\b(?:per|according to|via|from|thru|through|seg[uú]n|segundo|de acuerdo con)\W*$"
)
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
_ROLE_WORD: Final = re.compile(
    r"(?i)\b(?:seller|dealer|supplier|lookout|driver|fence|shooter|runner|associate|stash|"
    r"target|suspect|wanted|victim|witness(?! protection)|owner|vendedor|traficante)\b"
)
_FIELD_OF_PARTY: Final = re.compile(
    r"(?i)^\W*(?!(?:suspect|subj|susp|driver|owner)\b)[\w ]{0,12}?\b(?:phone|cell|tel|dob|"
    r"address|addr|aka|alias|email|ssn|employer|relationship)\b[^:]{0,10}:"
)
_AGENCY_CONTACT: Final = re.compile(
    r"(?i)^\W*(?:\([A-Z/ -]+\)\s*)?(?:report|call|contact|notify|text|tips?|questions?|"
    r"anyone with|please|pls|send|forward|email)\b"
    r"(?!\s+(?:him|her|them|(?-i:[A-Z][a-z]+\s[A-Z])))"
    r"|^\W*(?:\w{0,6}pd\b|(?:call|contact|report|questions?|tips?|refer|reach|"
    r"info(?:rmation)? to|any info|anyone with)\b[^.!?]{0,40}\b(?:pd|police|unit|division|"
    r"bureau|analysis|desk|dispatch|squad|task force|det|detective|sgt|officer|ofc|lt|"
    r"investigator|inv|tfo|sa|agent|analyst)\b)"
    r"|\b(?:call|contact|notify|reach|radio|page)\s+(?:the\s+)?(?:det|detective|sgt|sergeant|"
    r"lt|officer|ofc|investigator|inv|tfo|sa|agent|analyst|dispatch|desk|[A-Z][a-z]+ pd|"
    r"\w+ (?:pd|police|unit|division|bureau|desk))\b"
)
_PHONE: Final = re.compile(r"\b\d{3}[-. ]\d{4}\b")
_AGENCY_UNIT: Final = re.compile(
    r"(?i)\b(?:pd|police|sheriff|unit|division|bureau|desk|dispatch|task force|crime analysis|"
    r"narcotics|auto theft|detectives?|robbery|burglary|vice|intel(?:ligence)?|rtcc|"
    r"fusion center|hotline|tip line|crime stoppers)\b"
)
_TITLED_PHONE: Final = re.compile(
    r"\b(?:Det|Sgt|Lt|Capt|Officer|Ofc|Tpr|Trooper|Inv|Investigator|Detective|Sergeant|SA|TFO|"
    r"Agent|Analyst)\.?\s+(?:[A-Z]\.\s?)?[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?,?\s+(?:at\s+)?\(?\d{3}"
)
_OTHER_ROLE: Final = re.compile(
    r"(?i)\b(?:landlord|landlady|owner|tenant|neighbou?rs?|manager|clerk|employee|staff|"
    r"security|witness(?:es)?|victims?|complainant|cashier|bartender|teller|"
    r"propietario|vecino|dueno|vizinho|dono)\b"
)
_SUSPECT: Final = re.compile(
    r"(?i)\b(?:suspects?|subjects?|subj|susp|wanted|targets?|offenders?|perps?|accused|arrestee|"
    r"sospechos[oa]s?|suspeit[oa]s?|alvo|buscad[oa]|procurad[oa]|victims?|victimas?|vitimas?)\b"
)
_EXPLICIT: Final = re.compile(
    r"(?i)\b(?:true name|real name|legal name|TN|nombre real|nome verdadeiro)\b"
)
_WORDS: Final = re.compile(r"[A-Za-z][A-Za-z'-]*")
_NOT_NAME: Final = frozenset(
    """
    the this that these those he she they we it his her our my their your its a an and
    or but if when then there here per fyi bolo note update alert heads attention all
    units suspect subject vehicle victim witness police pd dept department sheriff state
    county city town street st avenue ave road rd lane ln drive dr blvd court ct way
    place pl terrace route rt hwy highway interstate north south east west northbound
    southbound eastbound westbound main monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october
    november december jan feb mar apr jun jul aug sep sept oct nov dec honda toyota ford
    kia nissan chevy chevrolet dodge jeep bmw hyundai subaru mazda volkswagen vw gmc ram
    lexus acura infiniti tesla buick cadillac chrysler mercedes audi volvo mitsubishi
    lincoln civic accord camry corolla altima soul sentra prius odyssey transit tahoe
    silverado impala malibu charger durango explorer escape fusion focus mustang
    wrangler cherokee elantra sonata optima forte rogue pathfinder red blue green black
    white silver gray grey gold brown tan maroon beige orange yellow purple pink dark
    light navy call contact see ask tell let please thanks thank good havenport
    millbrook eastfield granite falls ct ma ny ri nj pa motel inn hotel mall plaza park
    center centre bank market store diner bar grill cafe laundromat apartments apts
    school high middle elementary academy hospital church lot garage station pharmacy ci
    cs chs soi cw cd cri uc informant source confidential reliable registered agent
    officer detective det sgt lt capt nypd cpd bpd mpd hpd fbi dea atf hsi ice usms el
    la los las un una y de del que o os um uma e do da dos das se em no na con por para
    com sr sra dr
    """.split()  # noqa: SIM905 - a word list reads best as words
)
_FUNCTION: Final = frozenset(
    """the this that he she they we it his her our my their your its a an and or but of to
    in on at by for with from el la los las un una y de del que o os um uma e do da dos das
    se em no na con por para com is was""".split()  # noqa: SIM905 - a word list reads best as words
)
_PLACE: Final = frozenset(
    """repair repairs services service auto motors parts supply salon barber liquor liquors
    pizza deli pub lounge club gym fitness wash tire tires body collision electric plumbing
    construction realty insurance logistics trucking towing express storage pawn jewelers
    jewelry electronics wireless mobile phones market mart foods bakery kitchen tavern

    st street ave avenue rd road ln lane dr drive blvd boulevard ct court way pl place
    ter terrace cir circle hwy highway pkwy parkway sq square park mall plaza center
    centre motel inn hotel bank market store shop diner bar grill cafe restaurant
    laundromat apartments apts school academy hospital church garage station pharmacy pd
    police department county city town village heights hills falls river lake beach
    bridge
    """.split()  # noqa: SIM905 - a word list reads best as words
)
_COMMON: Final = frozenset(
    """
    brown green white black gray grey young king price rose may bell hall wood stone
    rich page long lane field ford mason love hope faith joy grace will bill mark rob
    bob jack frank sharp strong swift little major miles guy case rice page hunter baker
    cook fisher banks hill hills moore more park parks wells cross day night
    """.split()  # noqa: SIM905 - a word list reads best as words
)


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a protecting detector matched: a block's folded text, start and end."""

    block: int
    start: int
    end: int
    rule: str  # the rule id its people are removed under


@dataclass(slots=True)
class People:
    """Units to remove because of protected people, by rule id; and how many people."""

    units: dict[int, str] = field(default_factory=dict)  # unit -> rule id
    count: int = 0  # people protected
    rules: set[str] = field(default_factory=set)  # the rules they are protected under


def _tokens(name: str) -> list[str]:
    """The words a person may be named by again: given name, surname(s)."""
    words = [w.strip("'") for w in _WORDS.findall(re.sub(_TITLE, " ", " " + name))]
    return [w for w in words if len(w) > 1 and w.lower() not in _FUNCTION]


def _plausible(name: str) -> bool:
    words = _WORDS.findall(name)
    if not words or words[-1].lower() in _PLACE:
        return False
    first = re.sub(_TITLE, "", name).strip()
    head = _WORDS.findall(first)
    if not head or head[0].lower() in _NOT_NAME:
        return False
    return bool(_tokens(name))


_STREET_END: Final = frozenset(
    """st street ave avenue rd road ln lane dr drive blvd boulevard ct court way pl place ter
    terrace cir circle hwy highway pkwy parkway sq square pd police department inc llc""".split()  # noqa: SIM905
)
_NOT_FIRST: Final = frozenset(
    """the this that these those he she they we it his her our my their your its a an and or
    but if when then there here per fyi bolo note update alert heads attention suspect
    subject vehicle victim witness police north south east west route""".split()  # noqa: SIM905
)


def _named(name: str) -> bool:
    """Is a name the grammar binds to a source ("Our CI, June Whitaker,") a person's? Looser
    than :func:`_plausible`: a month, a colour or a place word is also a name ("June",
    "Gray", "Park"); only a street or an agency is not."""
    words = _WORDS.findall(re.sub(_TITLE, " ", " " + name))
    if not words or words[-1].lower() in _STREET_END:
        return False
    return words[0].lower() not in _NOT_FIRST and bool(_tokens(name))


def _bound_after(text: str, *, reporter: bool = False, said: bool = False) -> list[str]:
    out: list[str] = []
    m = _QUOTED.match(text)
    if m is not None:
        out.append(m.group("name"))
    m2 = _AFTER.match(text)
    if m2 is not None:
        between = m2.group("between") or ""
        connector = text[len(between) : m2.start("name")].strip()
        loose = connector[:1] in (",", "-", "–") or not connector
        closed = _CLOSED.match(text, m2.end("name")) is not None
        if loose and (reporter or not closed):
            pass  # "Per CI-607, Bogdan Petran is selling ...": the report, not the source
        elif not between.strip() or not _NOT_BETWEEN.search(between):
            name = m2.group("name").strip("\"'“”‘’")
            if _named(name) or (name and name[0].isupper() and " " not in name):
                out.append(name)
    if said:
        return out
    m5 = _AFTER_SURNAME.match(text)
    if m5 is not None and m5.group("name").lower() not in _NOT_NAME:
        out.append(m5.group("name"))
    m4 = _AFTER_BARE.match(text)
    if m4 is not None and _named(m4.group("name")):
        out.append(m4.group("name"))
    m3 = _AFTER_LOWER.match(text)
    if m3 is not None:
        name = m3.group("name")
        if all(w not in _NOT_NAME and w not in _LOWER_STOP for w in name.split()):
            out.append(name)
    return out


_LOWER_STOP: Final = frozenset(
    """
    who whom whose which that has have had does did can could would should will there
    their they then than this these those what when where why how
    reliable good new old solid legit paid active working going saying telling was is
    are been being at in on with for from to by of and or but not just also still very
    really back out up down over there here home gone done signed registered documented
    """.split()  # noqa: SIM905 - a word list reads best as words
)


def _names_in(text: str) -> list[str]:
    return [m.group(1) for m in _PERSON_RE.finditer(text) if _plausible(m.group(1))]


def _identity_like(text: str, *, after_source: bool, named: bool = False) -> bool:
    """Does this unit carry a person's identity (and not a suspect's, nor an agency
    contact's, nor that of someone else it names by role)?"""
    if (_SUSPECT.search(text) or _OTHER_ROLE.search(text)) and not _EXPLICIT.search(text):
        return False
    if _AGENCY_CONTACT.search(text) or _TITLED_PHONE.search(text):
        return False
    if _AGENCY_UNIT.search(text) and _PHONE.search(text):
        return False  # the agency's desk or unit, with its number
    if after_source and _HANDLING.search(text):
        return True
    if after_source and named and _BACK_REFERENCE.match(text):
        return True  # "he drives ...", once the source is a named person
    if _IDENTITY_CUE.search(text):
        return True
    words = len(_WORDS.findall(text))
    names = _names_in(text)
    if names and words <= 6:
        return True  # a bare name line
    personal = _PERSONAL.search(text) and not _AGENCY_CONTACT.search(text)
    if personal and (names or _PRONOUN.search(text) or words <= 6 or text.startswith("(")):
        return True
    return after_source and text.lstrip().startswith("(") and bool(names)


def find_people(seg: Segmented, anchors: Iterable[Anchor], source_units: dict[int, str]) -> People:
    """Protected people of a message and the units they take with them.

    ``source_units`` maps each unit a protecting detector removes to its rule id.
    """
    people = People()
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
        for name in _bound_after(after, reporter=reporter, said=said):
            bound.setdefault(name, rule)
        m = _BEFORE.search(before)
        # a name right before the term with nothing between ("gray Kia Soul per CI") must
        # look like a person's; after a connector ("June Whitaker, our CI") the grammar says so
        joined = m is not None and not before[m.end("name") :].strip()
        if m is not None and (_plausible if joined else _named)(m.group("name")):
            bound.setdefault(m.group("name"), rule)
        elif before.strip() == block.fold[u_start : a.start].strip():
            # the sentence opens with the name alone: "Hollis is one of our registered CIs"
            m = _BEFORE_SURNAME.match(before)
            if m is not None and m.group("name").lower() not in _NOT_NAME:
                bound.setdefault(m.group("name"), rule)
        text = units[unit].fold
        anonymity = _ANONYMITY.search(block.fold, a.start, a.end) is not None
        if (unit, anonymity) in seen:
            continue  # the unit's own names were weighed for an earlier anchor already
        seen.add((unit, anonymity))
        for em in _EXPLICIT.finditer(text):
            for name in _bound_after(text[em.end() : em.end() + 160]):
                bound.setdefault(name, rule)
        # Officers named in a source's or an undercover officer's sentence are its handlers
        # or the officer; a promise of anonymity protects the names in its sentence that are
        # not a suspect's.
        found = persons.get(unit)
        if found is None:
            found = persons[unit] = [(pm.start(), pm.group(1)) for pm in _PERSON_RE.finditer(text)]
        for start, name in found:
            if not _plausible(name) or name in bound:
                continue
            titled = re.match(_TITLE, name) is not None and not _CIVIL.match(name)
            if (titled or anonymity) and not _ROLE_BEFORE.search(text, 0, start):
                bound[name] = rule
    # Identity around each source unit.
    text_units = [i for i, u in enumerate(units) if seg.blocks[u.block].kind == "text"]
    position = {u: k for k, u in enumerate(text_units)}
    for u, rule in sorted(source_units.items()):
        k = position.get(u)
        if k is None:
            continue
        fold = units[u].fold
        if _row(seg, u):
            # a row is a record of its own: its people are the source's (unless it names a
            # suspect's role), its neighbours are other records
            if not _SUSPECT.search(fold) and not _ROLE_WORD.search(fold):
                for name in _names_in(fold):
                    bound.setdefault(name, rule)
            continue
        others = {
            w
            for w in _CAPITALISED.findall(fold)[1:]
            if w.lower() not in _NOT_NAME and not any(w in name for name in bound)
        }
        if is_label_line(fold) and _in_bolo_card(seg, text_units, k):
            # "Source: SOI #3 (...)" in a suspect's card: that field goes, with the fields
            # right after it that carry the same party's details ("RP Phone:")
            j = k + 1
            while j < len(text_units) and _FIELD_OF_PARTY.match(units[text_units[j]].fold):
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
            if _row(seg, nxt) or not _identity_like(nfold, after_source=True, named=bool(bound)):
                break
            if others and _mentions_any(nfold, others):
                break  # it goes on about the suspect the source named
            if bound and any(n not in bound for n in _names_in(nfold)):
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
            if _row(seg, prev):
                break
            card = is_label_line(pfold)
            if len(_WORDS.findall(pfold)) > 14 or not _identity_like(pfold, after_source=card):
                break
            if not card and taken:
                break
            _take(people, prev, rule, pfold, bound)
            taken += 1
            j -= 1
            if not card:
                break
        for c in _card(seg, text_units, k):
            _take(people, c, rule, units[c].fold, bound)
    if not bound:
        return people
    single = {n for n in bound if " " not in n.strip()}
    if single:  # "Ray has been working for us" also binds the "Ray Kessler" named before
        for each in units:
            for name in _names_in(each.fold):
                if name not in bound and any(t in single for t in _tokens(name)):
                    bound[name] = bound[next(t for t in _tokens(name) if t in single)]
    people.count = len(bound)
    people.rules.update(bound.values())
    _mentions(seg, bound, source_units, people)
    return people


_MENTION_WORD: Final = re.compile(r"[A-Za-z][A-Za-z'-]*")
_CAPITALISED: Final = re.compile(r"\b[A-Z][a-z]{2,}(?:-[A-Z][a-z]+)?\b")


def _mentions_any(text: str, words: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def _row(seg: Segmented, u: int) -> bool:
    """Is this unit a row of a table (pipes, tabs, columns)? Read on the raw line: folding
    collapses the white space that makes columns."""
    line = _alone(seg, u)
    return line is not None and is_table_row(seg.texts[line])


def _in_bolo_card(seg: Segmented, text_units: list[int], k: int) -> bool:
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


def _card(seg: Segmented, text_units: list[int], k: int) -> list[int]:
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
        if len(_WORDS.findall(fold)) > 8 or fold.rstrip()[-1:] in ".!?":
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
            and len(_WORDS.findall(hfold)) <= 8
            and hfold.rstrip()[-1:] not in ".!?"
        ):
            card.append(head)
    if (
        len(card) < 2
        or any(_BOLO_LABEL.match(units[c].fold) for c in card)
        or not any(_PERSON_LABEL.match(units[c].fold) for c in card)
        or any(len(_WORDS.findall(units[c].fold)) > 12 for c in card)
    ):
        return []
    return [c for c in card if c != u]


def _take(people: People, unit: int, rule: str, fold: str, bound: dict[str, str]) -> None:
    people.units.setdefault(unit, rule)
    for name in _names_in(fold):
        bound.setdefault(name, rule)
    m = _AFTER_LOWER.search(fold)
    if m is not None and _EXPLICIT.search(fold):
        name = m.group("name")
        if all(w not in _NOT_NAME and w not in _LOWER_STOP for w in name.split()):
            bound.setdefault(name, rule)


def _mentions(
    seg: Segmented, bound: dict[str, str], source_units: dict[int, str], people: People
) -> None:
    # Names that are not protected (a suspect in the same sentence) lend none of their
    # tokens to the search: "Marcus" the suspect is not "Marcus" the source.
    others: set[str] = set()
    for u in source_units:
        for name in _names_in(seg.units[u].fold):
            if name not in bound:
                others.update(t.lower() for t in _tokens(name))
    caseless: dict[str, str] = {}
    cased: dict[str, str] = {}
    for name, rule in bound.items():
        for token in _tokens(name):
            low = token.lower()
            if low in others and len(_tokens(name)) > 1:
                continue
            if low in _COMMON or len(token) < 3:
                cased.setdefault(token[:1].upper() + token[1:].lower(), rule)
                cased.setdefault(token.upper(), rule)
            else:
                caseless.setdefault(low, rule)
    for name, rule in bound.items():  # "Ortega-Ruiz" is also named "Ortega"
        for token in _tokens(name):
            if "-" in token:
                for part in token.split("-"):
                    if len(part) >= 4 and part.lower() not in _COMMON | others:
                        caseless.setdefault(part.lower(), rule)
    if not caseless and not cased:
        return
    for i, unit in enumerate(seg.units):
        if i in people.units or i in source_units:
            continue
        for word in _MENTION_WORD.findall(unit.fold):
            if word.endswith(("'s", "'S")):
                word = word[:-2]
            word = word.rstrip("'-")
            hit = caseless.get(word.lower()) or cased.get(word)
            if hit is not None:
                people.units[i] = hit
                break
