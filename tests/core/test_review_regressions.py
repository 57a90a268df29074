"""Regressions for defects found in review: each test failed before its fix."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from relay.commands.policy import read_policy
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.load import load_policy
from relay.core.policy.match import compile_rules
from relay.core.policy.model import PatternSet
from relay.core.slack_parse import parse_event
from relay.slack.files import reencode

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
PROBATION = "MA9990PP1"  # ceiling: unclassified


@pytest.fixture(scope="module")
def millbrook():
    return read_policy(
        str(ROOT / "policies" / "examples" / "ma9990200-millbrook.yaml"), NOW.date()
    )


@pytest.mark.parametrize(
    "line",
    [
        "(u//les) Suspect vehicle: grey Honda Civic, MA reg 4TRL22, seen on Route 9.",
        "(U/LES) Suspect vehicle: grey Honda Civic, MA reg 4TRL22, seen on Route 9.",
        "> (U//LES) Suspect vehicle: grey Honda Civic, MA reg 4TRL22, seen on Route 9.",
        "- (U//LES) Suspect vehicle: grey Honda Civic, MA reg 4TRL22, seen on Route 9.",
        ":warning: (CUI//SP-INV) Suspect vehicle: grey Honda Civic, MA reg 4TRL22.",
    ],
)
def test_marks_written_loosely_are_still_marks(millbrook, line):
    text = f"BOLO for patrol: white van with ladder rack seen near Route 9 tonight.\n{line}"
    d = evaluate_outbound(
        parse_event({"type": "message", "text": text}), millbrook, PROBATION, "bolo", now=NOW
    )
    assert d.message is None or "4TRL22" not in d.message.text
    assert any(r.rule == "marking_above_ceiling" for r in d.reasons)


def test_unparseable_mark_blocks(millbrook):
    text = "(CUI//SP_INF) The source says the van is kept on Quarry Rd overnight."
    d = evaluate_outbound(
        parse_event({"type": "message", "text": text}), millbrook, PROBATION, "bolo", now=NOW
    )
    assert (d.action.value, d.reasons[0].rule) == ("block", "marking_unknown")


def test_unmarked_attachment_takes_the_highest_mark_of_the_message(millbrook):
    event = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0GFCAD001",
        "text": "(U//LES) Grey Honda Civic, MA reg 4TRL22, wanted in a burglary.",
        "attachments": [
            {"text": "Subject drives a grey Honda Civic and stays nights at the docks warehouse"}
        ],
    }
    policy = load_policy(
        (ROOT / "policies" / "examples" / "ma9990200-millbrook.yaml").read_text()
        + "bots:\n  federate: [B0GFCAD001]\n",
        source="m.yaml",
        today=NOW.date(),
        resolve=lambda n: ((ROOT / "policies" / "examples" / n).read_text(), n),
    )
    d = evaluate_outbound(parse_event(event), policy, PROBATION, "bolo", now=NOW)
    assert d.message is None or "docks warehouse" not in d.message.text


def test_a_tearline_in_an_attachment_cuts_the_text_above_it():
    policy = read_policy(str(ROOT / "policies" / "baseline.yaml"), NOW.date())
    event = {
        "type": "message",
        "text": "Analyst note: the subject's girlfriend works at the bakery on Main St.",
        "attachments": [
            {
                "text": "TEARLINE\nGrey Honda Civic, MA reg 4TRL22, seen on "
                "Route 9 northbound at 0200 hrs."
            }
        ],
    }
    d = evaluate_outbound(parse_event(event), policy, "MA9990200", "bolo", now=NOW)
    assert d.message is not None
    assert "bakery" not in d.message.text
    assert "4TRL22" in d.message.text


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"CI\d{,4}", "CI12 says the van is blue"),
        (r"\\Zeta", "the code word is \\Zeta today"),
        (r"\Aref", "ref 25-0042 attached"),
    ],
)
def test_prefilter_never_skips_what_re_matches(pattern, text):
    rules = compile_rules({"s": PatternSet(name="s", regexes=(pattern,))})
    fast = rules.match_set("s", [text], rules.candidates(text, [0]), None, None)
    assert bool(fast) == bool(re.search(pattern, text, re.IGNORECASE))


def test_match_unit_detector_with_disguised_term_drops_the_line():
    policy = load_policy(
        """
agency: {ori: CT9990100, name: Havenport PD, state: CT}
topics: [bolo]
partners:
  - {ori: MA9990200, name: Millbrook, kind: law_enforcement,
     agreement: {id: X, expires: 2028-01-01}, share: [bolo], accept: [bolo]}
patterns:
  op:
    terms: [operation nightjar]
detectors:
  - id: op.name
    action: strip
    unit: match
    replacement: '[operation]'
    when: [op]
""",
        source="p.yaml",
        today=NOW.date(),
    )
    text = (
        "Grey Honda Civic, CT reg AB-12345, Route 9 northbound.\n"
        "Part of o.p.e.r.a.t.i.o.n n.i.g.h.t.j.a.r tonight, stay clear."
    )
    d = evaluate_outbound(
        parse_event({"type": "message", "text": text}), policy, "MA9990200", "bolo", now=NOW
    )
    assert d.message is not None
    assert "n.i.g.h.t.j.a.r" not in d.message.text
    assert d.action.value == "redact"


def test_a_banner_written_as_a_channel_reference_does_not_crash():
    policy = read_policy(str(ROOT / "policies" / "baseline.yaml"), NOW.date())
    text = "<#C0123|CUI>\n(CUI) Grey Honda Civic seen on Route 9 heading north at 0200."
    d = evaluate_outbound(
        parse_event({"type": "message", "text": text}), policy, "MA9990200", "bolo", now=NOW
    )
    assert d.message is not None
    assert "<#" not in d.message.text


def test_huge_list_indent_is_clamped():
    policy = read_policy(str(ROOT / "policies" / "baseline.yaml"), NOW.date())
    event = {
        "type": "message",
        "text": "x",
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_list",
                        "style": "bullet",
                        "indent": 10**15,
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [
                                    {"type": "text", "text": "grey sedan seen on route nine"}
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    d = evaluate_outbound(parse_event(event), policy, "MA9990200", "bolo", now=NOW)
    assert d.message is not None
    assert len(d.message.text) < 200


def test_corrupt_image_is_a_value_error_not_a_crash():
    good = io.BytesIO()
    Image.new("RGB", (8, 8)).save(good, "PNG")
    data = bytearray(good.getvalue())
    data[40:60] = b"\x00" * 20  # damage a chunk
    with pytest.raises(ValueError, match="not"):
        reencode(bytes(data))


def test_empty_allow_hosts_narrows_an_extended_policy(tmp_path):
    (tmp_path / "base.yaml").write_text((ROOT / "policies" / "baseline.yaml").read_text())
    (tmp_path / "p.yaml").write_text("""extends: base.yaml
agency: {ori: CT9990100, name: Havenport PD, state: CT}
topics: [bolo]
links: {allow_hosts: []}
""")
    policy = read_policy(str(tmp_path / "p.yaml"), NOW.date())
    assert policy.link_hosts == ()


def test_envelope_times_beyond_year_9999_are_malformed_not_a_crash():
    """The largest integer an envelope may hold (2**53 - 1 seconds) is far past year 9999."""
    from relay.core.envelope_verify import _time
    from relay.errors import VerificationError

    with pytest.raises(VerificationError) as err:
        _time(2**53 - 1)
    assert err.value.code == "malformed"
