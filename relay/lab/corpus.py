"""A generated corpus of varied, multi-line BOLO and intel messages (fictional data).

Used by ``relay bench policy`` and by the tests that prove the fast matching path and the plain
``re`` path decide alike. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["generate_corpus"]

_FIRST = [
    "Darien",
    "Nolan",
    "Corey",
    "Marcus",
    "Silas",
    "Dana",
    "Tyler",
    "Jordan",
    "Avery",
    "Riley",
    "Casey",
    "Morgan",
    "Quinn",
    "Reese",
    "Rowan",
    "Emerson",
]
_LAST = [
    "Voss",
    "Pritchard",
    "Lindqvist",
    "Delrey",
    "Brandt",
    "Whitlock",
    "Marsh",
    "Okafor",
    "Ferreira",
    "Halloran",
    "Nakamura",
    "Oyelaran",
    "Castellano",
    "Duchene",
]
_TOWNS = ["Havenport", "Millbrook", "Eastfield", "Granite Falls"]
_COLORS = ["black", "white", "silver", "dark green", "maroon", "gold", "gray", "blue", "red"]
_MAKES = [
    "Subaru Outback",
    "Dodge Charger",
    "Ford Transit",
    "Honda Odyssey",
    "Toyota Camry",
    "Nissan Altima",
    "Jeep Cherokee",
    "Chevy Silverado",
    "Kia Soul",
    "Honda Civic",
]
_STREETS = [
    "Pine St",
    "Canal St",
    "Ferris Rd",
    "Quarry Rd",
    "Elm St",
    "Carver St",
    "Larchmont Ave",
    "Birch Ln",
    "Route 9",
    "Main St",
]
_OFFENSES = [
    "armed robbery",
    "burglary",
    "aggravated assault",
    "larceny",
    "carjacking",
    "catalytic converter theft",
    "shoplifting",
    "hit and run",
]

_BOLO = [
    "BOLO - {off}, {town}, {d} {t} hrs.",
    "Suspect vehicle: {color} {year} {make}, {st} reg {plate}.",
    "Last seen {dir}bound on {street} toward {town2}.",
    "Suspect: W/M, {age}s, {h}, thin build, gray hoodie.",
    "CAUTION: displayed a black handgun - consider ARMED.",
    "Occupants have fled when approached; do not pursue into residential areas.",
    "Suspect seen changing into a {color} windbreaker behind the {street} gas station.",
    "{town} PD case {case}. Contact Det. {first} {last}, 555-01{n2}.",
]
_BULLETIN = [
    "(U//LES) Pattern: {n} {off} incidents since {d}, daytime, rear doors pried.",
    "(U//LES) Suspect vehicle: {color} {year} {make}, dented rear bumper.",
    "(U) Contact {town} PD Crime Analysis Unit, 555-01{n2}, ref {case}.",
]
_UPDATE = [
    "*** CANCEL BOLO *** {town} PD case {case}: SUBJECT IN CUSTODY.",
    "Plate corrected to {st} reg {plate} (not {plate2}).",
    "Vehicle ({color} {year} {make}) recovered in {town2}.",
    "Per <@U02HPD{n4}> the report is at <https://rms.havenport.example/cases/{case}|RMS {case}>",
]
_CHAT = [
    "Unit {n1} checked the lot on {street}, no match.",
    "Copy, thanks {town} - will advise.",
    "Eastbound units be advised, last seen near {street}.",
]
_STRIP = [
    "CI-{n4} advises the crew sells to a buyer on {street}.",
    "Per C/S {n2}-0{n2} the supply comes up on {street} on Thursdays.",
    "A confidential informant reports the crew plans to retaliate.",
    "SSN {n3}-{n2}-{n4}",
    "Per hospital records subject is HIV positive.",
    "Note for patrol: UC-{n1} is working that lot nightly - do not stop that car.",
    "(CUI//SP-INF) A registered source reports he sleeps at his girlfriend's apartment.",
]
_BLOCK = [
    "our CI on the crew is {first} {last} (DOB 03/14/1991).",
    "suspect identified as {first} {last}, 16 y/o, attends Eastfield High.",
    "Victim: {first} {last}, 24, of 88 Larchmont Ave - sexual assault.",
    "MKE/WANTED PERSON ORI/MA9990200 NAM/{last}, {first} SEX/M DOB/19880422",
    "he has a 2016 case out of {town} that was sealed.",
    "SECRET//NOFORN",
    "Do not forward outside the task force.",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        off=rng.choice(_OFFENSES),
        town=rng.choice(_TOWNS),
        town2=rng.choice(_TOWNS),
        d=f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}",
        t=f"{rng.randint(0, 2359):04d}",
        color=rng.choice(_COLORS),
        year=rng.randint(2004, 2024),
        make=rng.choice(_MAKES),
        st=rng.choice(["CT", "MA", "NY", "RI"]),
        plate=f"{rng.randint(1, 9)}KX{rng.randint(100, 999)}",
        plate2=f"AB-{rng.randint(10000, 99999)}",
        dir=rng.choice(["north", "south", "east", "west"]),
        street=rng.choice(_STREETS),
        age=rng.choice([20, 30, 40, 50]),
        h=f"{rng.randint(5, 6)}'{rng.randint(0, 11)}\"",
        case=f"{rng.randint(20, 26)}-0{rng.randint(10000, 99999)}",
        first=rng.choice(_FIRST),
        last=rng.choice(_LAST),
        n=rng.randint(2, 40),
        n1=rng.randint(1, 9),
        n2=f"{rng.randint(10, 99)}",
        n3=f"{rng.randint(100, 899)}",
        n4=f"{rng.randint(1000, 9999)}",
    )


_PROSE = [
    "Officers responded to a report of a {off} at the {street} plaza in {town} at about {t} hrs.",
    "The suspect, a W/M in his {age}s, left in a {color} {make} with {st} plate {plate}.",
    "He was last seen heading {dir} toward {town2} and may still have the stolen property.",
    "Witnesses say he wore a {color} jacket and carried a backpack.",
    "Approach with caution: he displayed a knife during the incident.",
    "Anyone with information should contact {town} PD, case {case}.",
]


def _shape(lines: list[str], rng: random.Random) -> list[str]:
    """Write the same facts the ways officers write them: one per line (a template), as a
    prose paragraph, as a list, or two sentences to a line."""
    way = rng.random()
    if way < 0.30:
        return [" ".join(lines)]  # one paragraph
    if way < 0.40:
        return [lines[0], *(f"- {line}" for line in lines[1:])]  # a list
    if way < 0.55:
        return [" ".join(lines[i : i + 2]) for i in range(0, len(lines), 2)]
    return lines


def _lines(rng: random.Random) -> list[str]:
    kind = rng.random()
    if kind < 0.12:  # a narrative written as prose
        return [" ".join(_fill(t, rng) for t in rng.sample(_PROSE, rng.randint(3, 6)))]
    if kind < 0.45:  # a BOLO: a few facts, in any of the ways officers write them
        return _shape([_fill(t, rng) for t in rng.sample(_BOLO, rng.randint(3, 7))], rng)
    if kind < 0.57:  # a portion-marked pattern bulletin
        body = [_fill(t, rng) for t in _BULLETIN]
        return [
            "UNCLASSIFIED//LAW ENFORCEMENT SENSITIVE",
            *body,
            "UNCLASSIFIED//LAW ENFORCEMENT SENSITIVE",
        ]
    if kind < 0.67:  # an update or cancellation
        return [_fill(t, rng) for t in rng.sample(_UPDATE, rng.randint(2, 4))]
    if kind < 0.75:  # thread chatter
        return [_fill(rng.choice(_CHAT), rng)]
    lines = [_fill(t, rng) for t in rng.sample(_BOLO, rng.randint(3, 6))]
    risky = _STRIP if kind < 0.92 else _BLOCK  # intel with a sentence that must not leave
    lines.insert(rng.randrange(len(lines) + 1), _fill(rng.choice(risky), rng))
    return _shape(lines, rng)


def generate_corpus(count: int, seed: int = 2026) -> list[dict[str, Any]]:
    """``count`` Slack message events in a realistic mix: narratives (12%), BOLOs (33%),
    portion-marked bulletins (12%), updates and cancellations (10%), thread chatter (8%),
    intel with a sentence to strip (17%) or one that blocks (8%). BOLOs and intel are written
    as templates (one fact a line, 45%), prose paragraphs (30%), lists (10%) or two sentences
    to a line (15%); half as rich_text blocks with style runs, some with mrkdwn markup,
    zero-width and look-alike characters."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    events: list[dict[str, Any]] = []
    for i in range(count):
        lines = _lines(rng)
        if rng.random() < 0.05:
            lines[0] = lines[0].replace("C", "\u0421", 1)  # Cyrillic look-alike
        if rng.random() < 0.05:
            lines[-1] = lines[-1].replace(" ", " \u200b", 2)  # zero-width space
        text = "\n".join(lines)
        event: dict[str, Any] = {
            "type": "message",
            "user": f"U0GEN{i % 97:05d}",
            "ts": f"{1700000000 + i}.000100",
            "channel": "C0BOLO0001",
        }
        if rng.random() < 0.5 and "<" not in text:
            elements: list[dict[str, Any]] = []
            for line in lines:
                head, _, tail = line.partition(" ")
                elements.append({"type": "text", "text": head + " ", "style": {"bold": True}})
                elements.append({"type": "text", "text": tail + "\n"})
            event["blocks"] = [
                {
                    "type": "rich_text",
                    "block_id": f"b{i}",
                    "elements": [{"type": "rich_text_section", "elements": elements}],
                }
            ]
            event["text"] = text.replace("&", "&amp;")
        else:
            event["text"] = text.replace("&", "&amp;")
        events.append(event)
    return events
