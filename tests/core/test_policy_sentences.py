"""The sentence-and-people model of issue 11, behaviour by behaviour, and the corpora scored
the way an outside tool scores them (``relay policy test --score``)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.commands.policy import decision_to_wire
from relay.core.model import MessageKind
from relay.core.policy.content import envelope_content
from relay.core.policy.engine import evaluate_outbound, evaluate_outbound_all, explain
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.core.text import INVISIBLE
from tests.conftest import NOW, message_event, visible

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "policies" / "baseline.yaml"
SCORE_LINE = re.compile(
    r"^(?P<cls>[a-z0-9-]+|total): leaks (?P<leaks>\d+)/(?P<strips>\d+), over-redaction "
    r"(?P<lost>\d+)/(?P<keeps>\d+) \((?P<over>\d+\.\d)%\), actions (?P<right>\d+)/(?P<cases>\d+) "
    r"\((?P<actions>\d+\.\d)%\)$"
)


def _score(cases: Path) -> dict[str, dict[str, str]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay",
            "policy",
            "test",
            str(BASELINE),
            str(cases),
            "--score",
            "--now",
            "2026-12-06T00:00:00+00:00",
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    lines = proc.stdout.decode().splitlines()
    scores = {m["cls"]: m.groupdict() for line in lines if (m := SCORE_LINE.match(line))}
    assert proc.returncode == 0, [line for line in lines if "FAIL" in line]
    assert proc.stderr == b""
    return scores


@pytest.mark.parametrize(
    "cases",
    [
        pytest.param(ROOT / "tests" / "data" / "corpus", id="corpus"),
        pytest.param(ROOT / "tests" / "data" / "blind", id="blind"),
        pytest.param(ROOT / "tests" / "data" / "heldout", id="heldout"),
        pytest.param(ROOT / "tests" / "data" / "redteam_markings", id="redteam_markings"),
        pytest.param(ROOT / "policies" / "cases" / "baseline", id="reference"),
        pytest.param(ROOT / "tests" / "data" / "redteam_people", id="redteam-people"),
        pytest.param(ROOT / "tests" / "data" / "redteam2_markings", id="redteam2-markings"),
        pytest.param(ROOT / "tests" / "data" / "redteam2_people", id="redteam2-people"),
    ],
)
def test_corpus_scores_without_leaks_within_the_bars(cases: Path) -> None:
    scores = _score(cases)
    total = scores["total"]
    assert total["leaks"] == "0"
    assert float(total["over"]) <= 5.0
    assert float(total["actions"]) >= 90.0
    assert int(total["cases"]) == len(list(cases.glob("*.json")))


def test_the_corpus_is_large_and_varied() -> None:
    corpus = ROOT / "tests" / "data" / "corpus"
    cases = [json.loads(p.read_text(encoding="utf-8")) for p in corpus.glob("*.json")]
    assert len(cases) >= 300
    classes = {p.name.split("_", 1)[0] for p in corpus.glob("*.json")}
    assert {"prose", "chat", "form", "es", "pt", "mixed", "lookalike", "classified"} <= classes
    lookalikes = [c for c in cases if c["expected"]["action"] == "forward"]
    assert len(lookalikes) * 4 >= len(cases), "at least a quarter must pass untouched"


def _decide(baseline: Policy, text: str, **extra: Any) -> dict[str, Any]:
    event = message_event(text, **extra)
    decision = evaluate_outbound(parse_event(event), baseline, "MA9990200", "bolo", now=NOW)
    return decision_to_wire(decision)


def test_a_paragraph_loses_only_the_source_sentence(baseline: Policy) -> None:
    text = (
        "Armed robbery at the Shell on Elm St. last night. The suspect is a W/M, 30s, in a red "
        "hoodie. Per CI-4471 he sleeps at his sister's on Pine St. He drives a silver Honda "
        "Civic, CT reg 7KX219. Consider him armed."
    )
    wire = _decide(baseline, text)
    seen = visible(wire)
    assert wire["action"] == "redact"
    assert "CI-4471" not in seen
    assert "Pine St" not in seen
    for kept in ("Armed robbery at the Shell", "red hoodie", "7KX219", "Consider him armed."):
        assert kept in seen


def test_a_source_named_on_the_next_line_and_again_later_is_gone_everywhere(
    baseline: Policy,
) -> None:
    text = (
        "Stolen catalytic converters: 11 since 05/01.\n"
        "CI-1234 true name below.\n"
        "Wendell Okoro, DOB 03/14/1991, 555-0142\n"
        "Suspect vehicle: white Ford Transit cargo van.\n"
        "OKORO's cousin runs the scrap yard, so keep him out of it."
    )
    wire = _decide(baseline, text)
    seen = visible(wire).lower()
    for secret in ("okoro", "03/14/1991", "555-0142"):
        assert secret not in seen
    assert "white ford transit cargo van" in seen
    rules = {r["rule"] for r in wire["reasons"]}
    assert {"informant.source", "informant.identity"} <= rules


def test_a_suspect_named_in_the_source_sentence_stays(baseline: Policy) -> None:
    text = (
        "Per CI-607, Bogdan Petran is selling stolen converters from his garage. "
        "Petran is W/M, 38, heavy build. Petran drives a rust-colored Ford F-150."
    )
    seen = visible(_decide(baseline, text))
    assert "CI-607" not in seen
    assert "Petran is W/M, 38, heavy build." in seen
    assert "rust-colored Ford F-150" in seen


def test_on_source_identity_block_stops_a_message_naming_a_source(baseline: Policy) -> None:
    text = "Our CI, Danny Ruiz, says the crew moves tonight.\nVehicle: red Kia Soul CT 1ABC22."
    assert _decide(baseline, text)["action"] == "redact"
    strict = dataclasses.replace(baseline, on_source_identity="block")
    decision = evaluate_outbound(
        parse_event(message_event(text)), strict, "MA9990200", "bolo", now=NOW
    )
    assert decision.action.value == "block"
    assert {r.rule for r in decision.reasons} == {"informant.identity"}


def test_a_sentence_in_a_language_the_policy_does_not_cover_blocks(baseline: Policy) -> None:
    text = "Vol à main armée. Le suspect est parti vers le nord dans une voiture rouge."
    wire = _decide(baseline, text)
    assert wire["action"] == "block"
    assert [r["rule"] for r in wire["reasons"]] == ["language_not_covered"]
    spanish = "El sospechoso huyó hacia el norte en un carro rojo con placa CT 7KX219."
    assert _decide(baseline, spanish)["action"] == "forward"


def test_invisible_format_characters_never_leave(baseline: Policy) -> None:
    text = "Suspect vehicle: silver Honda\u200b Civic, CT reg 7KX219.\nArmed\u2066 and dangerous."
    wire = _decide(baseline, text)
    assert wire["action"] == "forward"
    out = json.dumps(wire, ensure_ascii=False)
    assert not any(ch in out for ch in map(chr, INVISIBLE))
    reversed_ci = "Robbery crew on Elm St.\n\u202e4321-IC says they move tonight.\u202c"
    wire = _decide(baseline, reversed_ci)
    assert "4321" not in visible(wire)


def test_a_photo_naming_the_source_keeps_its_pixels_under_a_neutral_name(
    baseline: Policy,
) -> None:
    event = message_event(
        "Suspect in the Slater Ave robbery: H/M, 30s, gray tracksuit, white Kia Forte.",
        subtype="file_share",
        files=[
            {
                "id": "F0PHOTO001",
                "name": "rostami_ci_photo.jpg",
                "title": "Photo from CI Hamid Rostami",
                "alt_txt": "Man in a gray tracksuit at a gas pump",
                "mimetype": "image/jpeg",
                "size": 2048,
                "mode": "hosted",
            }
        ],
    )
    decision = evaluate_outbound(parse_event(event), baseline, "MA9990200", "bolo", now=NOW)
    wire = decision_to_wire(decision)
    [photo] = wire["message"]["files"]
    assert photo["id"] == "F0PHOTO001"
    assert "rostami" not in json.dumps(wire).lower()
    assert photo["name"] == "photo-1.jpg"
    assert photo["alt_txt"] == "Man in a gray tracksuit at a gas pump"
    assert decision.kept_files == frozenset()


def test_a_hop_withholds_exactly_the_lines_it_cannot_send_unchanged(baseline: Policy) -> None:
    lines = [
        "BOLO: armed robbery at the Shell on Elm St.",
        "Suspect drives a silver Honda Civic. Per CI-4471 he sleeps on Pine St.",
        "Consider him armed.",
    ]
    content = envelope_content(lines, [("Suspect at the pump", "", "image/jpeg", 1000)])
    decision = evaluate_outbound_all(content, baseline, "bolo", now=NOW)["MA9990200"]
    assert decision.action.value == "redact"
    assert decision.kept_lines == frozenset({0, 2})  # line 1 was cut: it cannot be re-signed
    assert decision.kept_files == frozenset({0})
    titled = envelope_content(lines[:1], [("Photo from CI Hamid Rostami", "", "image/jpeg", 9)])
    decision = evaluate_outbound_all(titled, baseline, "bolo", now=NOW)["MA9990200"]
    assert decision.kept_lines == frozenset({0})
    assert decision.kept_files == frozenset(), "a hop judges photo titles with its own policy"


def test_explain_lists_every_unit_with_its_fate(baseline: Policy) -> None:
    text = "Robbery on Elm St. Per CI-4471 he sleeps on Pine St.\nVehicle: red Kia Soul."
    partner = baseline.partners["MA9990200"]
    decision, views = explain(parse_event(message_event(text)), baseline, partner, now=NOW)
    assert decision.action.value == "redact"
    assert [(v.where, v.status, v.rules) for v in views] == [
        ("line 1", "kept", ()),
        ("line 1", "removed", ("informant.source",)),
        ("line 2", "kept", ()),
    ]


def test_edits_are_judged_like_posts(baseline: Policy) -> None:
    event = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C0BOLO0001",
        "ts": "1764115300.000100",
        "message": {
            "type": "message",
            "user": "U0TEST0001",
            "text": "Update: suspect vehicle is a gray Nissan Altima. CI-22 says he is armed.",
            "ts": "1764115200.000100",
            "edited": {"user": "U0TEST0001", "ts": "1764115300.000000"},
        },
        "previous_message": {"type": "message", "text": "x", "ts": "1764115200.000100"},
    }
    message = parse_event(event)
    assert message.kind is MessageKind.EDIT
    decision = evaluate_outbound(message, baseline, "MA9990200", "bolo", now=NOW)
    seen = visible(decision_to_wire(decision))
    assert "gray Nissan Altima" in seen
    assert "CI-22" not in seen


def test_a_message_past_the_engine_budget_blocks(baseline: Policy) -> None:
    """Hundreds of source references in one post: not judged, so not sent."""
    wire = _decide(baseline, "CI-22 says the van moved. " * 400)
    assert wire["action"] == "block"
    assert [r["rule"] for r in wire["reasons"]] == ["too_complex"]


@pytest.mark.parametrize(
    "text",
    [
        "Der Täter hat das Auto gestohlen, was sehr gefährlich ist.",
        "Sprawca uciekl samochodem na polnoc, to jest niebezpieczny.",
        "Le suspect est parti avec his frère dans une voiture rouge.",
    ],
)
def test_an_uncovered_language_blocks_even_beside_english_words(
    baseline: Policy, text: str
) -> None:
    wire = _decide(baseline, f"Robbery at the Shell on Elm St. {text}")
    assert wire["action"] == "block"
    assert [r["rule"] for r in wire["reasons"]] == ["language_not_covered"]


def test_a_short_english_sentence_is_not_taken_for_another_language(baseline: Policy) -> None:
    assert _decide(baseline, "Dell drives a gray Dodge Charger.")["action"] == "forward"


def test_a_banner_that_still_holds_goes_on_unchanged_at_a_hop(baseline: Policy) -> None:
    lines = ["CUI", "(CUI) Suspect vehicle: red Kia Soul, CT reg 1ABC22.", "CUI"]
    decision = evaluate_outbound_all(envelope_content(lines), baseline, "bolo", now=NOW)
    assert decision["MA9990200"].kept_lines == frozenset({0, 1, 2})


@pytest.mark.parametrize(
    "text",
    [
        "Det. Smith " + "Ab " * 40 + "1x",  # a signature-shaped line that never ends as one
        "Van seen. Go " + "." * 20000,  # a run of full stops
        "!?" * 10000,
        "\n".join(["the suspect drove the van north on the highway past the exit and"] * 2000),
    ],
    ids=["signature", "dots", "marks", "wrapped"],
)
def test_adversarial_shapes_are_decided(baseline: Policy, text: str) -> None:
    """Shapes that once made a regex backtrack for seconds (found in review): each is decided,
    and the suite would time out long before a regression went unnoticed."""
    assert _decide(baseline, text)["action"] in {"forward", "redact", "block"}


@pytest.mark.parametrize("banner", ["CUI // SP-INF", "cui//sp-inf", "Cui //Sp-Inf"])
def test_a_banner_typed_loosely_is_still_a_banner(baseline: Policy, banner: str) -> None:
    """A specified category (above the partners' ceiling) marks what follows however the
    banner was typed: nothing below it leaves."""
    text = f"{banner}\nThe source's nephew runs the stash house on Elm St.\n{banner}"
    wire = _decide(baseline, text)
    assert wire["action"] == "block"
    assert "nephew" not in visible(wire)


def test_a_portion_mark_after_a_label_is_a_portion_mark(baseline: Policy) -> None:
    wire = _decide(
        baseline, "Vehicle: black Escalade, CT reg 4TRL22.\nSource info: (CUI//SP-INF) nephew"
    )
    assert "nephew" not in visible(wire)


def test_a_source_abbreviation_in_parentheses_is_not_a_mark(baseline: Policy) -> None:
    wire = _decide(baseline, "Information source: (C/I) #5521\nVehicle: white BMW 328i, CT 7KX.")
    assert wire["action"] == "redact"
    assert "5521" not in visible(wire)
    assert "white BMW 328i" in visible(wire)


@pytest.mark.parametrize(
    ("dob", "action"),
    [
        ("DOB 03/14/11", "block"),  # two-digit year: 2011, a minor
        ("DOB March 14, 2011", "block"),
        ("born 14 March 2011", "block"),
        ("DOB 03/14/91", "forward"),  # 1991: an adult
        ("DOB March 14, 1991", "forward"),
    ],
)
def test_a_date_of_birth_in_any_common_form_is_read(
    baseline: Policy, dob: str, action: str
) -> None:
    assert _decide(baseline, f"Suspect: Jaylen Moss, {dob}, fled on foot.")["action"] == action


def test_an_incident_date_with_a_two_digit_year_is_not_a_birth_date(baseline: Policy) -> None:
    assert (
        _decide(baseline, "Burglary on 03/14/11 at the school, suspect fled.")["action"]
        == "forward"
    )
