"""One informant line, disguised and hidden in every place a Slack message can carry text.

The sentence is new (not one of the reference examples). Whatever the spelling and wherever
it sits, the partner must not receive it, and the engine must notice it (never a silent
``forward``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

SAFE_1 = "Copper wire thefts reported at three Millbrook job sites this week."
SAFE_2 = "Suspect vehicle: white flatbed truck with a blue tarp, MA reg 5QRT88."
TAIL = " says the fence melts the wire down behind the Dunmore Ave car wash."
SECRET_WORDS = ("Dunmore", "1234")
PHOTO: dict[str, Any] = {
    "id": "F0SCENE001",
    "name": "scene.jpg",
    "title": "Truck at the job site",
    "alt_txt": "White flatbed truck parked at a curb",
    "mimetype": "image/jpeg",
    "size": 2048,
    "mode": "hosted",
}

DISGUISES = {
    "plain": "CI-1234",
    "cyrillic_es": "\u0421I-1234",  # Cyrillic capital Es
    "cyrillic_es_and_i": "\u0421\u0406-1234",  # Cyrillic Es and Byelorussian-Ukrainian I
    "zero_width_space": "C\u200bI-1234",
    "zero_width_joiner": "C\u200dI-12\u200d34",
    "soft_hyphen": "C\u00adI-1234",
    "mrkdwn_bold": "*C*I-1234",
    "mrkdwn_italic": "_C_I-1234",
    "mrkdwn_strike": "~C~I-1234",
    "mrkdwn_code": "`CI`-1234",
    "odd_spacing": "C I 1234",
    "full_width": "\uff23\uff29-\uff11\uff12\uff13\uff14",
    "non_breaking_space": "CI\u00a01234",
    "en_dash": "CI\u20131234",
    "combining_accent": "C\u0301I-1234",
}


def _rich_text(*runs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "rich_text",
            "block_id": "rt1",
            "elements": [{"type": "rich_text_section", "elements": list(runs)}],
        }
    ]


def _text(text: str, **style: bool) -> dict[str, Any]:
    run: dict[str, Any] = {"type": "text", "text": text}
    if style:
        run["style"] = style
    return run


def _three(line: str) -> str:
    return f"{SAFE_1}\n{line}\n{SAFE_2}"


SAFE_TEXT = f"{SAFE_1}\n{SAFE_2}"


def place_text(token: str) -> dict[str, Any]:
    return {"text": _three(token + TAIL)}


def place_rich_text(token: str) -> dict[str, Any]:
    return {"text": _three(token + TAIL), "blocks": _rich_text(_text(_three(token + TAIL)))}


def place_style_runs(token: str) -> dict[str, Any]:
    """The token split across rich_text style runs: 'C' in bold, then 'I-1234 says ...'."""
    return {
        "text": _three(token + TAIL),
        "blocks": _rich_text(
            _text(SAFE_1 + "\n"),
            _text(token[:1], bold=True),
            _text(token[1:] + TAIL + "\n"),
            _text(SAFE_2),
        ),
    }


def place_mrkdwn_link_label(token: str) -> dict[str, Any]:
    return {"text": _three(f"Notes: <https://nlets.example/n/77|{token}{TAIL}>")}


def place_rich_text_link_label(token: str) -> dict[str, Any]:
    return {
        "text": _three("Notes: see link"),
        "blocks": _rich_text(
            _text(SAFE_1 + "\nNotes: "),
            {"type": "link", "url": "https://nlets.example/n/77", "text": token + TAIL},
            _text("\n" + SAFE_2),
        ),
    }


def place_blocks_only(token: str) -> dict[str, Any]:
    """In the blocks but not in the text fallback."""
    return {"text": SAFE_TEXT, "blocks": _rich_text(_text(_three(token + TAIL)))}


def place_text_fallback_only(token: str) -> dict[str, Any]:
    """In the text fallback but not in the blocks."""
    return {"text": _three(token + TAIL), "blocks": _rich_text(_text(SAFE_TEXT))}


def place_section_field(token: str) -> dict[str, Any]:
    return {
        "text": SAFE_TEXT,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": SAFE_TEXT},
                "fields": [{"type": "plain_text", "text": token + TAIL}],
            }
        ],
    }


def place_attachment_field(token: str) -> dict[str, Any]:
    return {
        "text": SAFE_TEXT,
        "attachments": [
            {"fields": [{"title": "Source note", "value": token + TAIL, "short": False}]}
        ],
    }


def place_attachment_text(token: str) -> dict[str, Any]:
    return {"text": SAFE_TEXT, "attachments": [{"pretext": "Update", "text": token + TAIL}]}


def place_attachment_fallback(token: str) -> dict[str, Any]:
    return {"text": SAFE_TEXT, "attachments": [{"fallback": token + TAIL, "text": SAFE_1}]}


def _with_file(**fields: str) -> dict[str, Any]:
    return {"text": SAFE_TEXT, "subtype": "file_share", "files": [{**PHOTO, **fields}]}


def place_file_title(token: str) -> dict[str, Any]:
    return _with_file(title=token + TAIL)


def place_file_alt_txt(token: str) -> dict[str, Any]:
    return _with_file(alt_txt=token + TAIL)


def place_file_name(token: str) -> dict[str, Any]:
    return _with_file(name=token.replace(" ", "_") + "_Dunmore_Ave_car_wash.jpg")


def place_metadata(token: str) -> dict[str, Any]:
    return {
        "text": SAFE_TEXT,
        "metadata": {
            "event_type": "bolo_note",
            "event_payload": {"case": "25-0931", "detail": {"note": token + TAIL}},
        },
    }


PLACES: dict[str, Callable[[str], dict[str, Any]]] = {
    "text": place_text,
    "rich_text": place_rich_text,
    "style_runs": place_style_runs,
    "mrkdwn_link_label": place_mrkdwn_link_label,
    "rich_text_link_label": place_rich_text_link_label,
    "blocks_only": place_blocks_only,
    "text_fallback_only": place_text_fallback_only,
    "section_field": place_section_field,
    "attachment_field": place_attachment_field,
    "attachment_text": place_attachment_text,
    "attachment_fallback": place_attachment_fallback,
    "file_title": place_file_title,
    "file_alt_txt": place_file_alt_txt,
    "file_name": place_file_name,
    "metadata": place_metadata,
}
FILE_PLACES = {"file_title", "file_alt_txt", "file_name"}


def _leaks(wire: dict[str, Any], words: tuple[str, ...]) -> list[str]:
    dump = unicodedata.normalize("NFKC", json.dumps(wire, ensure_ascii=False))
    dump = re.sub("[\u200b-\u200f\u00ad]", "", dump)
    return [w for w in words if w in dump]


def _check(wire: dict[str, Any], readable: Callable[[dict[str, Any]], str], place: str) -> None:
    assert _leaks(wire, SECRET_WORDS) == []
    assert wire["action"] != "forward", "the sensitive line went unnoticed"
    if wire["message"] is not None:
        seen = readable(wire)
        assert SAFE_2 in seen, "the rest of the message is still forwarded"
        if place in FILE_PLACES:
            # the photo keeps its pixels under neutral metadata (the secret is gone above)
            assert [f["id"] for f in wire["message"]["files"]] == ["F0SCENE001"]


def test_every_place_is_exercised():
    assert len(PLACES) >= 15
    assert {"style_runs", "metadata", "blocks_only", "text_fallback_only"} <= set(PLACES)


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_disguised_informant_line_is_not_leaked(disguise, place, decide, make_event, readable):
    doc = make_event(**PLACES[place](DISGUISES[disguise]))
    wire = decide(doc, topic="narcotics")
    _check(wire, readable, place)


@pytest.mark.parametrize("place", sorted(PLACES))
def test_disguised_informant_line_is_not_leaked_re_only(place, decide, make_event, readable):
    """The same with the prefilter off: non-ASCII text and plain ``re`` agree."""
    doc = make_event(**PLACES[place](DISGUISES["cyrillic_es"]))
    _check(decide(doc, topic="narcotics", fast=False), readable, place)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("\u03f9\u0399-1234", id="greek_lunate_sigma_and_iota"),
        pytest.param("\u03f9I-1234", id="greek_lunate_sigma"),
    ],
)
def test_greek_look_alike_informant_token_is_not_leaked(token, decide, make_event, readable):
    """Greek capital lunate sigma (U+03F9) renders as 'C' just as Cyrillic Es does."""
    wire = decide(make_event(**place_text(token)), topic="narcotics")
    _check(wire, readable, "text")


@pytest.mark.parametrize(
    "invisible",
    [
        pytest.param("\u200c", id="zero_width_non_joiner"),
        pytest.param("\u2060", id="word_joiner"),
        pytest.param("\ufeff", id="byte_order_mark"),
        pytest.param("\u2062", id="invisible_times"),
        pytest.param("\u034f", id="combining_grapheme_joiner"),
        pytest.param("\u180e", id="mongolian_vowel_separator"),
        pytest.param("\u3164", id="hangul_filler"),
        pytest.param("\u2800", id="braille_pattern_blank"),
        pytest.param("\U000e0100", id="variation_selector_17"),
        pytest.param("\U000e0fff", id="unassigned_default_ignorable"),
        pytest.param("\ufff0", id="unassigned_special"),
        pytest.param("\U00016fe4", id="khitan_filler"),
    ],
)
def test_invisible_character_inside_token_is_not_leaked(invisible, decide, make_event, readable):
    """Characters that render as nothing (or blank) must not split a source number."""
    wire = decide(make_event(**place_text(f"C{invisible}I-1234")), topic="narcotics")
    _check(wire, readable, "text")


@pytest.mark.parametrize("inbound", [False, True], ids=["outbound", "inbound"])
def test_disguised_informant_line_is_stripped_in_both_directions(
    inbound, decide, make_event, readable
):
    doc = make_event(**place_style_runs("\u0421I-1234"))
    wire = decide(doc, topic="narcotics", inbound=inbound)
    assert wire["action"] == "redact"
    assert "informant.source" in {r["rule"] for r in wire["reasons"]}
    assert SAFE_1 in readable(wire)
    _check(wire, readable, "style_runs")


# --- SSNs ---------------------------------------------------------------------------------

SSN_FORMS = {
    "dashes": "987-65-4326",
    "spaces": "987 65 4326",
    "dots": "987.65.4326",
    "double_spaces": "987  65  4326",
    "non_breaking_spaces": "987\u00a065\u00a04326",
    "dot_space": "987. 65. 4326",
    "spaced_dashes": "987 - 65 - 4326",
    "labelled_three_groups_of_three": "SSN 987 654 326",
    "full_width": "\uff19\uff18\uff17-\uff16\uff15-\uff14\uff13\uff12\uff16",
    "zero_width": "987\u200b-65-43\u200b26",
    "underscores": "987_65_4326",
    "labelled_no_separators": "SSN# 987654326",
}


@pytest.mark.parametrize("form", sorted(SSN_FORMS))
def test_disguised_ssn_is_removed(form, decide, make_event, readable):
    line = f"Subject's social on file: {SSN_FORMS[form]} per DMV."
    wire = decide(make_event(_three(line)))
    assert wire["action"] == "redact"
    seen = unicodedata.normalize("NFKC", readable(wire))
    for out_line in seen.splitlines():
        assert "987654326" not in re.sub(r"\D", "", out_line)
    assert _leaks(wire, ("4326",)) == []
    assert SAFE_1 in seen
    assert SAFE_2 in seen


# --- internal links -----------------------------------------------------------------------

INTERNAL = "https://rms.havenport.example/cases/25-0931"


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"text": _three(f"Full report: <{INTERNAL}|RMS 25-0931>")}, id="mrkdwn_link"),
        pytest.param({"text": _three(f"Full report: {INTERNAL}")}, id="mrkdwn_bare_url"),
        pytest.param(
            {
                "text": _three("Full report: RMS"),
                "blocks": _rich_text(
                    _text(SAFE_1 + "\nFull report: "),
                    {"type": "link", "url": INTERNAL, "text": "RMS 25-0931"},
                    _text("\n" + SAFE_2),
                ),
            },
            id="rich_text_link",
        ),
        pytest.param(
            {
                "text": _three(f"Full report: {INTERNAL}"),
                "blocks": _rich_text(_text(_three(f"Full report: {INTERNAL}"))),
            },
            id="rich_text_bare_url",
        ),
    ],
)
def test_link_to_internal_host_is_removed_however_written(fields, decide, make_event, readable):
    """Links to hosts outside ``links.allow_hosts`` go, whether a link or a bare URL."""
    wire = decide(make_event(**fields))
    assert wire["action"] == "redact"
    assert "rms.havenport.example" not in json.dumps(wire)
    assert SAFE_2 in readable(wire)
