"""What a person's name looks like in a police message, and the words that are never one
(articles, streets, places, vehicles, colours, agencies).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CAP",
    "LOW",
    "NOT_LOWER_NAME",
    "NOT_NAME",
    "PERSON",
    "PERSON_RE",
    "TITLE",
    "UP",
    "WORDS",
    "names_in",
    "person_like",
    "plausible",
    "tokens",
]

TITLE: Final = (
    r"(?:(?i:det|detective|sgt|sergeant|officer|ofc|off|ptl|patrolman|tpr|trooper|lt|"
    r"lieutenant|cpl|corporal|agent|sa|tfo|inv|investigator|mr|mrs|ms|miss|dr|sr|sra|srta|"
    r"don|dona|senor|senora|agente|oficial|policia|policial|sgto|sargento|cabo|cb|sd|"
    r"soldado|tte|teniente|tenente|cap|capitan|capitao|inspector|investigador|delegado|"
    r"comisario|comissario|escrivao)\.?\s+)"
)
CAP: Final = (
    r"(?:(?:Mc|Mac|O'|D'|De|Di|Da|Du|La|Le|Van|Von|St\.\s?)?[A-Z][a-z]+(?:[-'][A-Za-z][a-z]+)*)"
)
# In capitals (teletype), a word of a BOLO card is never part of a name: "VEH: GRY HONDA
# ACCORD", "STAYING ON OAK ST HAVENPORT", "RAMON AGUILAR DOB ..." (the name stops there).
_CARD_WORDS: Final = """
    ST STREET AVE AVENUE RD ROAD LN LANE DR DRIVE BLVD CT COURT WAY PL TER CIR HWY RT RTE
    VEH VEHICLE PLATE TAG LIC REG VIN DOB SSN SOC AGE HGT WGT GRY GRAY GREY BLK BLACK WHT
    WHITE SLV SILVER BLU BLUE GRN GREEN BRN BROWN RED TAN GLD GOLD MAR MAROON CHEV CHEVY
    HONDA TOYOTA FORD KIA NISSAN DODGE JEEP BMW HYUNDAI SUBARU MAZDA ACCORD CIVIC CAMRY
    TAHOE ALTIMA CHARGER CONTACT OCCUPANTS OCCUPANT ARMED DANGEROUS CONSIDER CAUTION WANTED
    SUBJ SUBJECT SUSPECT BOLO ATL ATTN ALL UNITS PD POLICE DEPT VICE ADVISES ADVISED STATES
    STATED SAYS SAID REPORTS IDENTIFIED ALSO IS WAS ARE HAS IN ON AT OF TO FOR AND THE WITH
    FROM STAYING LIVES CARRIES DRIVES SEEN LAST USED FOR NAME TRUE AKA SOI CI CS CW CHS UC
    HAVENPORT MILLBROOK EASTFIELD GRANITE FALLS NB SB EB WB
""".split()  # noqa: SIM905 - a word list reads best as words
UP: Final = (
    rf"(?:(?!(?:{'|'.join(_CARD_WORDS)})\b)(?:MC|MAC|O'|D')?[A-Z]{{2,}}(?:[-'][A-Z]{{2,}})*)"
)
LOW: Final = r"(?:[a-z]{2,}(?:-[a-z]{2,})?)"
# Words that open a sentence capitalised and are never the first word of a name ("Per Maria
# Okafor (CI)", "Via Maria Okafor"): a name starts after them.
_OPENER: Final = (
    r"(?!(?i:per|via|thru|through|from|according|fyi|btw|also|and|but|met|called|talked|"
    r"spoke|told|asked|contact|call|see|ask|tell|note|update|then|when|if|the|our|my|his|"
    r"her|their|this|that|with|to|for|by|at|in|on|of)\b)"
)
PERSON: Final = (
    rf"(?:{TITLE}?{_OPENER}(?:{CAP}(?:\s+[A-Z]\.?)?(?:\s+{CAP}){{1,2}}"
    rf"|{CAP},\s?{CAP}(?:\s+[A-Z]\.?)?"
    rf"|{UP},\s?{UP}|{UP},\s?{CAP}|{UP}\s+{UP}(?:\s+{UP})?)"
    rf"|{TITLE}{CAP}|{TITLE}{UP})"
)
PERSON_RE: Final = re.compile(rf"(?<![\w'])({PERSON})(?![\w])")
WORDS: Final = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Articles, pronouns and conjunctions, English then Spanish and Portuguese: never a name.
_PRONOUNS: Final = _words(
    "the this that he she they we it his her our my their your its a an and or but"
)
_IBERIAN: Final = _words(
    "el la los las un una y de del que o os um uma e do da dos das se em no na con por para com"
)
# What follows a street's name.
_STREETS: Final = _words(
    """st street ave avenue rd road ln lane dr drive blvd boulevard ct court way pl place ter
    terrace cir circle hwy highway pkwy parkway sq square"""
)
# The words a person is never named by again.
_FUNCTION: Final = (
    _PRONOUNS
    | _IBERIAN
    | _words("of to in on at by for with from is was per via thru through according fyi")
)
# What a sentence opens with that is not a person: openers, roles, directions.
_NOT_FIRST: Final = _PRONOUNS | _words(
    """these those if when then there here per fyi bolo note update alert heads attention
    suspect subject vehicle victim witness police north south east west route"""
)
# The last word of a street or an agency, not of a person.
_STREET_END: Final = _STREETS | _words("pd police department inc llc")
# The last word of a business or a place, not of a person.
_PLACE: Final = _STREETS | _words(
    """repair repairs services service auto motors parts supply salon barber liquor liquors
    pizza deli pub lounge club gym fitness wash tire tires body collision electric plumbing
    construction realty insurance logistics trucking towing express storage pawn jewelers
    jewelry electronics wireless mobile phones market mart foods bakery kitchen tavern
    park mall plaza center centre motel inn hotel bank store shop diner bar grill cafe
    restaurant laundromat apartments apts school academy hospital church garage station
    pharmacy pd police department county city town village heights hills falls river lake
    beach bridge"""
)
# Words that, capitalised, still are not a person: the openers above, and places, dates,
# vehicles, colours, requests, towns of the region, source terms and agencies.
NOT_NAME: Final = (
    _NOT_FIRST
    | _IBERIAN
    | _words(
        """all units pd dept department sheriff state county city town street st avenue ave
        road rd lane ln drive dr blvd court ct way place pl terrace rt hwy highway interstate
        northbound southbound eastbound westbound main monday tuesday wednesday thursday
        friday saturday sunday january february march april may june july august september
        october november december jan feb mar apr jun jul aug sep sept oct nov dec honda
        toyota ford kia nissan chevy chevrolet dodge jeep bmw hyundai subaru mazda volkswagen
        vw gmc ram lexus acura infiniti tesla buick cadillac chrysler mercedes audi volvo
        mitsubishi lincoln civic accord camry corolla altima soul sentra prius odyssey transit
        tahoe silverado impala malibu charger durango explorer escape fusion focus mustang
        wrangler cherokee elantra sonata optima forte rogue pathfinder red blue green black
        white silver gray grey gold brown tan maroon beige orange yellow purple pink dark
        light navy call contact see ask tell let please thanks thank good havenport millbrook
        eastfield granite falls ma ny ri nj pa motel inn hotel mall plaza park center centre
        bank market store diner bar grill cafe laundromat apartments apts school high middle
        elementary academy hospital church lot garage station pharmacy ci cs chs soi cw cd
        cri uc informant source confidential reliable registered agent officer detective det
        sgt lt capt nypd cpd bpd mpd hpd fbi dea atf hsi ice usms sr sra"""
    )
)
# A name written in lower case ("true name marcus delrey") holds none of these words.
NOT_LOWER_NAME: Final = NOT_NAME | _words(
    """who whom whose which has have had does did can could would should will than what
    where why how new old solid legit paid active working going saying telling was is are
    been being at in on with for from to by of not just also still very really back out up
    down over home gone done signed documented code name codename nickname"""
)


def tokens(name: str) -> list[str]:
    """The words a person may be named by again: given name, surname(s)."""
    words = [w.strip("'") for w in WORDS.findall(re.sub(TITLE, " ", " " + name))]
    return [w for w in words if len(w) > 1 and w.lower() not in _FUNCTION]


def plausible(name: str) -> bool:
    words = WORDS.findall(name)
    if not words or words[-1].lower() in _PLACE:
        return False
    first = re.sub(TITLE, "", name).strip()
    head = WORDS.findall(first)
    if not head or head[0].lower() in NOT_NAME:
        return False
    return bool(tokens(name))


def person_like(name: str) -> bool:
    """Is a name the grammar binds to a source ("Our CI, June Whitaker,") a person's? Looser
    than :func:`plausible`: a month, a colour or a place word is also a name ("June",
    "Gray", "Park"); only a street or an agency is not."""
    words = WORDS.findall(re.sub(TITLE, " ", " " + name))
    if not words or words[-1].lower() in _STREET_END:
        return False
    return words[0].lower() not in _NOT_FIRST and bool(tokens(name))


def names_in(text: str) -> list[str]:
    return [m.group(1) for m in PERSON_RE.finditer(text) if plausible(m.group(1))]
