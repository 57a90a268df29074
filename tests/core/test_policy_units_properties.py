"""Properties of the unit model (issue 11): sentences, protected people, wrapping.

(a) Inserting a protected person's name into any other unit never lets that unit through.
(b) Adding a harmless sentence never releases a unit that was withheld for a reason other
    than ``nothing_left``.
(c) Re-wrapping a paragraph over several lines never changes what leaves.

Each property runs on generated BOLO paragraphs, never on one example string.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Decide, message_event, visible

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"

GIVEN = ["Marcus", "Talia", "Dmitri", "Keisha", "Rafael", "Ingrid", "Tobias", "Yolanda", "Desmond"]
SURNAMES = ["Delrey", "Okonkwo", "Vasquez-Lind", "Haverty", "Nakamura", "Brightwater", "Szabo"]
# Harmless BOLO sentences: each with a word found nowhere else, so its fate can be read off.
SENTENCES = [
    "Suspect vehicle is a maroon 2014 Nissan Altima with a cracked windshield.",
    "The driver wore a yellow raincoat and carried a crowbar.",
    "Entry was made through a rear basement window after midnight.",
    "Patrol should check the lots behind the shopping plaza on weekends.",
    "Stolen items include four laptops and a quantity of jewelry.",
    "Consider the occupants armed and do not approach alone.",
    "The van was last seen heading north toward the interstate ramp.",
    "Investigators recovered a partial fingerprint from the door handle.",
]
SOURCE_FORMS = [
    "Our CI, {first} {last}, says the crew moves the stock on Fridays.",
    "CI-4471 (true name {first} {last}) advised the crew moves the stock on Fridays.",
    "{first} {last}, our confidential informant, reports the crew moves the stock on Fridays.",
]


def _decide(decide: Decide, text: str) -> dict[str, Any]:
    return decide(message_event(text), topic="bolo")


def _marker(sentence: str) -> str:
    """The sentence's most distinctive word (its longest)."""
    words: list[str] = re.findall(r"[a-z]{5,}", sentence.lower())
    return max(words, key=len)


@SETTINGS
@given(
    first=st.sampled_from(GIVEN),
    last=st.sampled_from(SURNAMES),
    form=st.sampled_from(SOURCE_FORMS),
    others=st.lists(st.sampled_from(SENTENCES), min_size=2, max_size=5, unique=True),
    target=st.integers(min_value=0, max_value=4),
    spelling=st.sampled_from(["full", "surname", "upper", "possessive"]),
    paragraph=st.booleans(),
)
def test_a_protected_name_inserted_anywhere_takes_its_unit(
    decide: Any,
    first: str,
    last: str,
    form: str,
    others: list[str],
    target: int,
    spelling: str,
    paragraph: bool,
) -> None:
    target %= len(others)
    name = {
        "full": f"{first} {last}",
        "surname": last,
        "upper": last.upper(),
        "possessive": f"{last}'s friend",
    }[spelling]
    words = others[target].split(" ")
    at = 1 + (len(last) % (len(words) - 1))
    words.insert(at, name)
    tainted = " ".join(words)
    body = [*others[:target], tainted, *others[target + 1 :]]
    sentences = [form.format(first=first, last=last), *body]
    text = " ".join(sentences) if paragraph else "\n".join(sentences)
    seen = visible(_decide(decide, text)).lower()
    assert last.lower() not in seen
    assert first.lower() not in seen
    assert _marker(others[target]) not in seen, "the unit naming the source went out"
    for i, sentence in enumerate(others):
        if i != target:
            assert _marker(sentence) in seen, "a harmless unit was lost"


def _corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        if "text" in case and "event" not in case and not case.get("files"):
            texts.append(case["text"])
    return texts


CORPUS_TEXTS = _corpus_texts()


@SETTINGS
@given(
    index=st.integers(min_value=0, max_value=len(CORPUS_TEXTS) - 1),
    extra=st.sampled_from(SENTENCES),
    where=st.sampled_from(["start", "end", "new_line_start", "new_line_end"]),
)
def test_b_a_harmless_sentence_never_releases_a_withheld_unit(
    decide: Any, index: int, extra: str, where: str
) -> None:
    text = CORPUS_TEXTS[index]
    before = _decide(decide, text)
    rules = {r["rule"] for r in before["reasons"]}
    if before["action"] == "forward" or "nothing_left" in rules:
        return
    added = {
        "start": f"{extra} {text}",
        "end": f"{text} {extra}",
        "new_line_start": f"{extra}\n{text}",
        "new_line_end": f"{text}\n{extra}",
    }[where]
    after = _decide(decide, added)
    if before["action"] == "block":
        assert after["action"] == "block"
        return
    kept_before = visible(before)
    kept_after = visible(after)
    # every word the partner did not get before, it does not get now (the added sentence's
    # own words aside)
    withheld = set(re.findall(r"[A-Za-z]{4,}", text)) - set(
        re.findall(r"[A-Za-z]{4,}", kept_before)
    )
    released = {w for w in withheld if re.search(rf"\b{w}\b", kept_after) and w not in extra}
    assert released == set()


PROSE = [
    case
    for case in CORPUS_TEXTS
    if "\n" not in case.strip() and len(case) > 160 and case.count(". ") >= 2
]


def _words(wire: dict[str, Any]) -> list[str]:
    return re.findall(r"\S+", visible(wire))


@SETTINGS
@given(
    index=st.integers(min_value=0, max_value=max(0, len(PROSE) - 1)),
    width=st.integers(min_value=30, max_value=90),
)
def test_c_rewrapping_a_paragraph_never_changes_what_leaves(
    decide: Any, index: int, width: int
) -> None:
    text = PROSE[index]
    wrapped = textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False)
    one = _decide(decide, text)
    many = _decide(decide, wrapped)
    assert one["action"] == many["action"]
    assert _words(one) == _words(many)


def test_the_properties_have_material() -> None:
    assert len(CORPUS_TEXTS) >= 200
    assert len(PROSE) >= 20
