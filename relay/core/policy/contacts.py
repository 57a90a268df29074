"""The agency's own contact details in a message: contact requests, officers with their
phone numbers, desk and unit numbers, letterheads and signatures (never a source's identity).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "AGENCY_CONTACT",
    "AGENCY_LINE",
    "CONTACT_LINE",
    "SIGNATURE",
    "TITLES",
    "agency_contact",
]

# Officers' titles, as signatures and contact lines open with them.
TITLES: Final = (
    "det|detective|sgt|sergeant|lt|lieutenant|capt|captain|ofc|officer|tpr|trooper|cpl|"
    "chief|agent|sa|inv|investigator|analyst"
)
# Lines that are only a contact or a pointer carry no substance of their own.
CONTACT_LINE: Final = re.compile(
    r"^\W*(?:\([A-Z/ -]+\)\s*)?(?:contact|call|questions?|report (?:sightings|info\w*)|poc|"
    r"thanks?|thank you|see (?:below|above|attached)|please advise|"
    r"\[(?:link|mention|channel) removed\])\b",
    re.IGNORECASE,
)
# A letterhead line: "Havenport PD Major Crimes | 555-0148"
AGENCY_LINE: Final = re.compile(
    r"^\W*(?:[A-Z][\w.&'-]*\s+){0,4}(?:PD|Police|Sheriff|Dept\.?|Department|Unit|Division|"
    r"Bureau|Task Force)(?:\s+[A-Z][\w.&'-]*){0,4}\W*(?:\(?\d{3}\)?[-. ]?\d{3}[-. ]\d{4}|"
    r"\d{3}[-. ]\d{4})?(?:\s*(?:x|ext\.?)\s*\d+)?\W*$"
)
# A signature: "- Det. Okafor, Havenport PD", "Sgt. Ruiz #412", "Thanks, Det. Kim".
SIGNATURE: Final = re.compile(
    r"^\W*(?:(?:thanks|thank you|thx|regards|respectfully|v/r|r/s|gracias|obrigad[oa])\W+)?"
    rf"(?:{TITLES})\.?\s+(?:[A-Z]\.\s?)?[A-Z][A-Za-z'-]+"
    # what may follow the name: badge, agency, unit, phone; each piece matched once
    # (possessive: no backtracking into exponentially many splits of a long line)
    r"(?:[ ,|/()-]++(?:#\s?\d+|[A-Z][A-Za-z.&'-]*+|\d{3}-\d{4}|ext\.?\s?\d+))*+\W*$",
    re.IGNORECASE,
)
# A request to contact the agency, an officer or a unit: "call Det. Ruiz", "tips to Vice".
AGENCY_CONTACT: Final = re.compile(
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


def agency_contact(text: str) -> bool:
    """Does this unit give the agency's contact (a request to call it, an officer or a desk
    with a phone number) rather than a person's details?"""
    if AGENCY_CONTACT.search(text) or _TITLED_PHONE.search(text):
        return True
    return bool(_AGENCY_UNIT.search(text) and _PHONE.search(text))
