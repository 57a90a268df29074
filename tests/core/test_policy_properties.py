"""Properties of the engine over generated messages (relay.lab.corpus) and Hypothesis input.

(a) only allowlisted fields leave, and junk keys block; (b) same input, same decision;
(c) one more detector never lets more text through; (d) the Hyperscan prefilter and plain
``re`` decide alike; (e) reasons are rule ids and counts, never message text.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.core.policy.match import compile_rules, hyperscan_available
from relay.core.policy.model import Action, Detector, PatternSet, Policy
from relay.lab.corpus import generate_corpus

CORPUS = generate_corpus(400, seed=11)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

WIRE_KEYS = {"action", "message", "reasons"}
MESSAGE_KEYS = {"kind", "text", "blocks", "files", "thread_ts", "reply_broadcast", "target_ts"}
FILE_KEYS = {"id", "name", "title", "alt_txt", "mimetype", "size"}
BLOCK_KEYS = {"type", "elements", "style", "indent", "text", "url"}
STYLE_KEYS = {"bold", "italic", "strike", "code"}
RULE_ID = re.compile(r"^[a-z][a-z0-9_.-]+$")


def assert_allowlisted(wire: dict[str, Any]) -> None:
    assert set(wire) == WIRE_KEYS
    assert wire["action"] in {"forward", "redact", "block"}
    for reason in wire["reasons"]:
        assert set(reason) == {"rule", "count"}
    message = wire["message"]
    if message is None:
        assert wire["action"] == "block"
        return
    assert set(message) <= MESSAGE_KEYS
    assert isinstance(message.get("text", ""), str)
    for f in message.get("files", []):
        assert set(f) == FILE_KEYS
    for block in message.get("blocks", []):
        _assert_block(block)


def _assert_block(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _assert_block(item)
        return
    assert isinstance(node, dict)
    assert set(node) <= BLOCK_KEYS
    if "style" in node:
        assert set(node["style"]) <= STYLE_KEYS
    if "elements" in node:
        _assert_block(node["elements"])


# --- (a) allowlisted output; junk keys block ----------------------------------------------

JUNK_PLACES = ["event", "wrapper", "block", "element", "file", "attachment"]
junk_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).map(
    lambda s: "zz_" + s
)
a_file = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["F0GEN00001", "F0GEN00002"]),
        "name": st.sampled_from(["scene.jpg", "plate_closeup.png", "notes.pdf"]),
        "title": st.sampled_from(["Scene photo", "Plate close-up", ""]),
        "alt_txt": st.sampled_from(["Gray sedan at the curb", ""]),
        "mimetype": st.sampled_from(["image/jpeg", "image/png", "application/pdf"]),
        "size": st.integers(min_value=1, max_value=10**7),
        "mode": st.just("hosted"),
    }
)


@st.composite
def events_with_junk(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A corpus event, maybe with a file, an attachment and a wrapper, maybe with junk keys.

    Returns the document and whether a junk key really landed in it.
    """
    event = copy.deepcopy(draw(st.sampled_from(CORPUS)))
    if draw(st.booleans()):
        event["files"] = draw(st.lists(a_file, min_size=1, max_size=2))
        event["subtype"] = "file_share"
    if draw(st.booleans()):
        event["attachments"] = [{"title": "Dispatch", "text": "Gray sedan seen on Route 9"}]
    doc: dict[str, Any] = event
    if draw(st.booleans()):
        doc = {"type": "event_callback", "team_id": "T0AGENCYA1", "event": event}
    landed = False
    for place, key in draw(st.lists(st.tuples(st.sampled_from(JUNK_PLACES), junk_key))):
        value = draw(st.text(max_size=20))
        target: dict[str, Any] | None = {
            "event": event,
            "wrapper": doc if doc is not event else None,
            "block": (event.get("blocks") or [None])[0],
            "element": (
                event["blocks"][0]["elements"][0]["elements"][0] if event.get("blocks") else None
            ),
            "file": (event.get("files") or [None])[0],
            "attachment": (event.get("attachments") or [None])[0],
        }[place]
        if target is not None:
            target[key] = value
            landed = True
    return doc, landed


@SETTINGS
@given(events_with_junk())
def test_output_holds_only_allowlisted_fields_and_junk_blocks(decide, case):
    doc, has_junk = case
    wire = decide(doc)
    assert_allowlisted(wire)
    if has_junk:
        assert wire["action"] == "block"
        assert "unknown_field" in {r["rule"] for r in wire["reasons"]}


def test_corpus_output_holds_only_allowlisted_fields(decide):
    actions = set()
    for event in CORPUS:
        wire = decide(event)
        assert_allowlisted(wire)
        actions.add(wire["action"])
    assert actions == {"forward", "redact", "block"}


# --- (b) same input, same decision ----------------------------------------------------------


@SETTINGS
@given(st.sampled_from(CORPUS), st.sampled_from(CORPUS), st.booleans())
def test_same_input_gives_same_decision(decide, event, other, fast):
    first = decide(copy.deepcopy(event), fast=fast)
    decide(other, fast=fast)  # no state carried from one message to the next
    again = decide(copy.deepcopy(event), fast=fast)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)


# --- (c) an extra detector never lets more through ------------------------------------------

WORDS = [
    "suspect",
    "vehicle",
    "contact",
    "case",
    "pattern",
    "caution",
    "occupants",
    "windbreaker",
    "reg",
    "hrs",
    "armed",
    "custody",
    "crew",
    "supply",
    "patrol",
    "station",
    "plate",
    "havenport",
    "millbrook",
    "route",
]
EXISTING_SETS = ["street_address", "dob", "school", "identity_detail", "informant_name"]


@pytest.fixture(scope="module")
def with_word_sets(baseline: Policy) -> Policy:
    """The baseline plus one unused pattern set per word: same detectors, same decisions."""
    sets = dict(baseline.pattern_sets)
    for word in WORDS:
        sets[f"word_{word}"] = PatternSet(name=f"word_{word}", regexes=(rf"\b{word}\b",))
    return dataclasses.replace(baseline, pattern_sets=sets, rules=compile_rules(sets))


def _out_lines(wire: dict[str, Any]) -> set[str]:
    message = wire["message"] or {}
    return set(message.get("text", "").splitlines())


def _out_words(wire: dict[str, Any]) -> set[str]:
    """Every word a partner reads (units are cut out of lines, so a line may shrink)."""
    message = wire["message"] or {}
    return set(re.findall(r"\w+", message.get("text", "")))


def _out_files(wire: dict[str, Any]) -> set[str]:
    message = wire["message"] or {}
    return {f["id"] for f in message.get("files", [])}


@st.composite
def corpus_and_set(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    event = draw(st.sampled_from(CORPUS))
    present = [w for w in WORDS if re.search(rf"\b{w}\b", event["text"], re.IGNORECASE)]
    choices = [f"word_{w}" for w in present] + EXISTING_SETS
    return event, draw(st.sampled_from(choices))


@SETTINGS
@given(corpus_and_set(), st.sampled_from([Action.REDACT, Action.BLOCK]))
def test_extra_detector_never_lets_more_text_through(decide, with_word_sets, case, action):
    event, set_name = case
    extra = dataclasses.replace(
        with_word_sets,
        detectors=(
            *with_word_sets.detectors,
            Detector(id="extra.rule", action=action, when=((set_name,),)),
        ),
    )
    without = decide(event, policy=with_word_sets)
    with_extra = decide(event, policy=extra)
    assert _out_words(with_extra) <= _out_words(without)
    assert _out_files(with_extra) <= _out_files(without)
    if without["action"] == "block":
        assert with_extra["action"] == "block"


def test_word_sets_alone_change_nothing(decide, with_word_sets):
    for event in CORPUS[:100]:
        assert decide(event, policy=with_word_sets) == decide(event)


def test_extra_strip_detector_on_a_present_word_removes_its_line(decide, with_word_sets):
    event = next(e for e in CORPUS if "windbreaker" in e["text"])
    extra = dataclasses.replace(
        with_word_sets,
        detectors=(
            *with_word_sets.detectors,
            Detector(id="extra.rule", action=Action.REDACT, when=(("word_windbreaker",),)),
        ),
    )
    wire = decide(event, policy=extra)
    assert "windbreaker" not in json.dumps(wire)
    assert "extra.rule" in {r["rule"] for r in wire["reasons"]}


# --- (d) fast path and re-only path decide alike --------------------------------------------


def test_hyperscan_prefilter_is_present():
    """Without the wheel both paths are the same code and (d) proves nothing."""
    assert hyperscan_available()


def test_fast_and_re_paths_agree_over_the_generated_corpus(decide):
    corpus = generate_corpus(1500, seed=2026)
    differ = [
        i
        for i, event in enumerate(corpus)
        if decide(event, fast=True) != decide(event, fast=False)
    ]
    assert differ == []


SAFE_WORDS = [
    "BOLO",
    "suspect",
    "vehicle",
    "gray",
    "sedan",
    "northbound",
    "Route",
    "9",
    "plate",
    "CT",
    "reg",
    "AB-12345",
    "case",
    "24-018732",
    "contact",
    "Det.",
    "555-0142",
    "armed",
    "hrs",
    "W/M",
    "30s",
    "(U)",
    "(U//LES)",
    "Havenport",
    "PD",
    "the",
    "on",
    "at",
]
RISKY = [
    "CI-1234",
    "C/S",
    "CS#17-044",
    "C.I.",
    "SOI #3",
    "UC-7",
    "informant",
    "confidential source",
    "handler",
    "paid",
    "SSN",
    "987-65-4320",
    "987654321",
    "DOB",
    "03/14/2012",
    "MKE/",
    "NAM/",
    "SEX/",
    "NIC/W123456789",
    "IMMED CONFIRM",
    "rap sheet",
    "SECRET//NOFORN",
    "(S//NF)",
    "(CUI//SP-INF)",
    "(TS)",
    "TEARLINE",
    "-----",
    "sealed",
    "expunged",
    "safe house",
    "witness",
    "relocated",
    "juvenile",
    "16 y/o",
    "Eastfield High",
    "victim:",
    "Dana Whitlock",
    "sexual assault",
    "88 Larchmont Ave",
    "HIV",
    "methadone",
    "undercover",
    "do not forward",
    "internal use only",
    "<@U02HPD7731>",
    "<#C0INTEL001|intel>",
    "<https://rms.havenport.example/c/1|RMS>",
    "<https://nlets.example/x|NLETS>",
    "<!here>",
    "*",
    "_",
    "`",
    "~",
    "&amp;",
    "&lt;",
]
SEPARATORS = [" ", " ", " ", "-", "/", "#", ".", ": ", ", ", "  "]
token = st.one_of(st.sampled_from(SAFE_WORDS), st.sampled_from(RISKY))
risky_line = st.lists(st.tuples(token, st.sampled_from(SEPARATORS)), min_size=1, max_size=12).map(
    lambda parts: "".join(t + s for t, s in parts).strip()
)
ascii_line = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60
)
text_lines = st.lists(st.one_of(risky_line, risky_line, ascii_line), min_size=1, max_size=8)


@settings(SETTINGS, max_examples=250)
@given(text_lines, st.booleans())
def test_fast_and_re_paths_agree_on_mixed_lines(decide, make_event, lines, as_blocks):
    text = "\n".join(lines)
    fields: dict[str, Any] = {}
    if as_blocks:
        fields["blocks"] = [
            {
                "type": "rich_text",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ]
    event = make_event(text, **fields)
    assert decide(event, fast=True) == decide(event, fast=False)


# --- (e) reasons never carry text -----------------------------------------------------------

CANARY = "Zanzibarquux"


@SETTINGS
@given(text_lines, st.booleans())
def test_reasons_are_rule_ids_and_counts_never_text(decide, make_event, lines, inbound):
    text = "\n".join(f"{line} {CANARY}" for line in lines)
    wire = decide(make_event(text), inbound=inbound)
    for reason in wire["reasons"]:
        assert RULE_ID.match(reason["rule"]), reason["rule"]
        assert isinstance(reason["count"], int)
        assert reason["count"] > 0
    assert CANARY not in json.dumps(wire["reasons"])


def test_reasons_over_the_corpus_are_rule_ids(decide):
    for event in CORPUS:
        for reason in decide(event)["reasons"]:
            assert RULE_ID.match(reason["rule"])
            assert reason["count"] > 0


def test_a_pattern_hyperscan_refuses_still_matches_with_re():
    """One refused pattern (a bounded repeat too large for Hyperscan) must not take the whole
    database down nor go unmatched: it runs with ``re`` everywhere, the others prefiltered."""
    from relay.core.policy.match import compile_rules, hyperscan_available
    from relay.core.policy.model import PatternSet

    sets = {
        "big": PatternSet(name="big", regexes=(r"\bzq{1,100000}x\b",)),
        "plain": PatternSet(name="plain", regexes=(r"\bwindbreaker\b",)),
    }
    rules = compile_rules(sets)
    if hyperscan_available():
        assert rules.database is not None
        assert rules.always == frozenset({0})
    folds = ["a red windbreaker", "seen near zqqqx today"]
    joined = "\n".join(folds)
    candidates = rules.candidates(joined, [0, len(folds[0]) + 1])
    assert rules.match_set("big", folds, candidates, None, None) == {1: [(10, 15, "zqqqx")]}
    assert rules.match_set("plain", folds, candidates, None, None) == {0: [(6, 17, "windbreaker")]}
