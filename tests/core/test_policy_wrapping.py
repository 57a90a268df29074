"""Hard-wrapped paragraphs (pasted e-mails, phone text, press releases) are judged as the
paragraph they are, whatever the width they were wrapped at; lists, templates and chat
lines are still judged line by line.

The messages here are written for these tests. Before wrapped paragraphs were recognised,
each was decided otherwise at some width between 30 and 90 columns than on one line: a
victim's or a juvenile's identity went out, a source's tip went out, or harmless text was
blocked.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.policy.units import split_units
from relay.core.policy.wrapping import plainly_carries
from tests.conftest import Decide, message_event, visible

WIDTHS = range(30, 91)

# (expected action, paragraph, words that must never reach the partner)
PARAGRAPHS = {
    "sex_offense_victim_named": (
        "block",
        "Requesting help locating a suspect in an indecent assault near the Larkspur Park "
        "footbridge, 11/30 about 2040 hrs. The victim, Odalys Freitag, 27, of 44 Wren Ave, was "
        "walking her dog when a H/M pulled her into the brush. Suspect is 20s, thin, black "
        "puffer jacket, fled on a red scooter toward Dock St. Eastfield PD case 26-031177.",
        ["Freitag", "Wren"],
    ),
    "juvenile_driver_named": (
        "block",
        "Eastfield PD needs help identifying the driver in Tuesday's crash into a fence on "
        "Orchard Row (no injuries). A witness says the driver is Caleb Wojnarowski, a 9th "
        "grader at Eastfield Regional High School, driving his uncle's silver 2013 Toyota "
        "Corolla, MA reg 7PLQ31. Contact Ofc. R. Tavares, 555-0167, case 26-033402.",
        ["Wojnarowski"],
    ),
    "juvenile_named_with_age": (
        "block",
        "Update on the Harbor Rd bike thefts in Havenport. Officers stopped two males on 11/27 "
        "with a stolen e-bike and an angle grinder. One of them, Tristan Okafor-Reyes, is 14 "
        "and a freshman at Havenport Middle School; he lives with his aunt at 12 Harbor Rd. "
        "The second male is still unidentified, W/M 20s, red beard, ran toward the pier.",
        ["Okafor-Reyes"],
    ),
    "vitima_de_estupro_nomeada": (
        "block",
        "Procura-se suspeito de estupro ocorrido em 28/11 perto da ciclovia do Lakeside Park, "
        "Granite Falls. Suspeito: homem branco, 30-35 anos, barba ruiva, mochila preta. A "
        "vítima, Marisa Quaresma, de 19 anos, mora na 31 Birch Ln e aceitou ver fotos de "
        "suspeitos.",
        ["Quaresma", "Birch"],
    ),
    "source_number_spaced": (
        "redact",
        "Shoplifting ring at the Eastfield Commons mall: three women, 30s, using foil-lined "
        "tote bags, hitting the same two stores every Saturday. Suspect vehicle is a gray 2016 "
        "Honda Odyssey, NY reg KRT-4410, with a dented rear hatch. Per C I 2290 the goods are "
        "resold out of a garage on Tanner St. Use caution.",
        ["Tanner", "2290"],
    ),
    "press_caveat_is_no_block": (
        "forward",
        "Neighboring departments, please do not release to the press: the Havenport stabbing "
        "victim found 11/29 behind the Elm St laundromat survived, and we are looking for a "
        "white Chevy Express van seen leaving at 0230 hrs, CT partial plate 8R. Family not "
        "yet notified. HPD Detective Bureau, 555-0190.",
        [],
    ),
    "business_name_then_house_number": (
        "forward",
        "Break-in at the Blue Heron Bakery, 14 Mill St, Havenport, 11/28 between 0100 and 0400 "
        "hrs. The register and a set of keys were taken; the owner's gray Ram ProMaster van "
        "(CT reg 5HRB27) with a heron logo painted on both sides is missing. Havenport PD case "
        "26-031950.",
        [],
    ),
}


def _words(wire: dict[str, Any]) -> list[str]:
    return re.findall(r"\S+", visible(wire))


def _wrap(text: str, width: int, *, hyphens: bool = False) -> str:
    return textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=hyphens)


@pytest.mark.parametrize("name", sorted(PARAGRAPHS))
def test_a_wrapped_paragraph_gets_the_decision_of_the_paragraph(decide: Decide, name: str) -> None:
    action, text, secret = PARAGRAPHS[name]
    one = decide(message_event(text))
    assert one["action"] == action
    for width in WIDTHS:
        many = decide(message_event(_wrap(text, width)))
        assert (width, many["action"]) == (width, action)
        assert _words(many) == _words(one), width
        seen = visible(many)
        assert [w for w in secret if w in seen] == [], width


@pytest.mark.parametrize(
    "text",
    [
        "Detectives want to talk to the driver of a tan Honda Pilot seen near the Oak Ridge "
        "Mall at 1400 hrs on 11/29. The person who flagged the car down is a 13-year-old boy "
        "named Eli Moreau who lives at 5 Summit Rd.",
        PARAGRAPHS["juvenile_named_with_age"][1].replace("is 14", "is a 14-year-old"),
    ],
)
def test_a_wrap_at_a_compound_hyphen_reads_the_compound_whole(decide: Decide, text: str) -> None:
    """ "13-year-" + "old" is one compound, as "in-" + "formant" is one word."""
    assert decide(message_event(text))["action"] == "block"
    for width in WIDTHS:
        wrapped = _wrap(text, width, hyphens=True)
        assert (width, decide(message_event(wrapped))["action"]) == (width, "block")


def _flat(units: list[str]) -> list[str]:
    return [" ".join(u.split()) for u in units]


@pytest.mark.parametrize("width", [30, 41, 58, 72, 90])
def test_a_wrapped_paragraph_is_cut_into_the_sentences_of_the_paragraph(width: int) -> None:
    _, text, _ = PARAGRAPHS["source_number_spaced"]
    assert _flat(split_units(_wrap(text, width))) == _flat(split_units(text))


@pytest.mark.parametrize(
    "lines",
    [
        # template fields as long as one another
        [
            "Suspect: Wendell Marsh, W/M, 41, 5'9\", stocky, gray goatee",
            "Vehicle: green 2011 Ford Ranger, MA reg 6TRW18, ladder rack",
            "Last seen: northbound on Route 9 near the Dunkin, 0300 hrs.",
        ],
        # a value that stops on a bare word, then a field
        [
            "Tipster says the trailer is parked behind a barn on Old Mill Rd",
            "Contact: MPD Ofc. Lena Brandt, 555-0133, desk open until 1600.",
        ],
        # a field after a line ending on an abbreviation
        [
            "U/C 7 will be in a gray Nissan Frontier making buys Mon/Wed.",
            "Patrol: FI anyone loitering by the car wash on Bay St.",
        ],
        # chat remarks of one length, no sentence in them
        [
            "anyone seen the blue civic from last nite",
            "ran the light on main and took off south",
            "plate starts w 7 something ma tag",
        ],
        # list items typed as text
        [
            "- blue Honda Civic, MA reg 1ABC23, seen 11/30 near the mall,",
            "- red Kia Soul, CT reg 2BCD34, seen 12/01 at the lot.",
        ],
        # a sentence per line
        [
            "Suspect vehicle is a maroon Nissan Altima, MA reg 8KLM22.",
            "The driver wore a yellow raincoat and carried a crowbar.",
        ],
    ],
    ids=["fields", "value_then_field", "abbreviation_then_field", "chat", "items", "sentences"],
)
def test_lists_templates_and_chat_keep_a_unit_per_line(lines: list[str]) -> None:
    assert split_units("\n".join(lines)) == lines


@pytest.mark.parametrize("width", [30, 40, 60, 72])
def test_a_heading_above_a_wrapped_paragraph_stays_a_unit_of_its_own(width: int) -> None:
    _, text, _ = PARAGRAPHS["business_name_then_house_number"]
    heading = "BURGLARY - HAVENPORT PD - REQUEST FOR INFO"
    units = split_units(f"{heading}\n{_wrap(text, width)}\nVehicle: gray Ram ProMaster")
    assert units[0] == heading
    assert units[-1] == "Vehicle: gray Ram ProMaster"
    assert _flat(units[1:-1]) == _flat(split_units(text))


# What ``plainly_carries`` read with a regex before it was written without one.
CARRY = re.compile(
    r"(?:[,;:\-–—(/&+]|\b(?:and|or|but|the|a|an|of|to|in|on|at|with|for|by|from|is|was|are|"
    r"were|his|her|their|our|my|your|its|that|who|which|as|been|be|has|have|had|will|would|"
    r"can|could|not|than|into|onto|about|after|before|over|under|through|near|between|"
    r"de|la|el|los|las|del|que|y|en|"
    r"con|por|para|da|do|das|dos|e|em|no|na|um|uma|com))\s*$",
    re.IGNORECASE,
)


@settings(max_examples=400, deadline=None)
@given(
    head=st.text(alphabet="abdeilnorstAET _5é-,;:(/&+.!?'\"", max_size=14),
    word=st.sampled_from(["", "and", "The", "OF", "em", "uma", "between", "x", "de"]),
    space=st.sampled_from(["", " ", "  \t"]),
)
def test_a_line_carries_on_where_the_carry_pattern_says(head: str, word: str, space: str) -> None:
    line = head + word + space
    assert plainly_carries(line) == (CARRY.search(line.rstrip()[-12:]) is not None)


SOURCE_PARAGRAPH = (
    "SOI-7 tells us the Dock St burglary crew will move the stolen generators this "
    "weekend, loading them at night behind the old cannery on Pier Rd into a rented box "
    "truck. The crew's driver is described as W/M, 40s, grey goatee, Red Sox cap. Vehicle: "
    "white 2019 Isuzu NPR box truck, MA reg 8TRK55. Call Havenport PD Burglary, 555-0111."
)
SOURCE_TIP = ["cannery", "generators", "loading"]  # the source's tip, past the line break


@pytest.mark.parametrize("width", [52, 60, 68, 76])
@pytest.mark.parametrize(
    "typed",
    [
        "Heads up all, forwarding this from our burglary unit for tonight's shift.",
        "Suspect vehicle is a maroon 2014 Nissan Altima with a cracked windshield.",
    ],
)
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_sentence_typed_onto_a_wrapped_paragraph_releases_nothing_of_a_source(
    decide: Decide, width: int, typed: str, where: str
) -> None:
    """A sentence typed on the first (or last) line of a pasted, hard-wrapped paragraph makes
    that line wider than the wrap; the source's sentence running over the break is still one
    sentence, withheld whole."""
    lines = textwrap.wrap(SOURCE_PARAGRAPH, width)
    if where == "before":
        lines[0] = f"{typed} {lines[0]}"
    else:
        lines[-1] = f"{lines[-1]} {typed}"
    got = decide(message_event("\n".join(lines)))
    assert got["action"] == "redact"
    shown = visible(got)
    assert [w for w in SOURCE_TIP if w in shown] == []
    assert "8TRK55" in shown, "the BOLO itself still goes out"
    assert typed.split()[-1] in shown
