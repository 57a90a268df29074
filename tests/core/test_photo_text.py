"""The text read in photos, judged by the policy as units of their files (issue 17): pure,
with the OCR's output written out by hand (word boxes and confidences), so these run without
the engine. The engine itself is tested in tests/ocr/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from relay.core.model import MessageKind, SlackFile, SlackMessage, TextPart
from relay.core.mrkdwn import parse_mrkdwn
from relay.core.photo import (
    PhotoLine,
    PhotoStatus,
    PhotoText,
    boxes_between,
    line_of,
    merge_boxes,
    outside,
)
from relay.core.policy.engine import evaluate_outbound, explain
from relay.core.policy.load import PolicyLoadError, load_policy
from relay.core.policy.model import Action, Policy
from relay.core.policy.scan import ocr_letters

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
MA = "MA9990200"
BASELINE = (ROOT / "policies" / "baseline.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(BASELINE, source="baseline.yaml", today=NOW.date())


def _variant(extra: str) -> Policy:
    return load_policy(BASELINE + "\n" + extra + "\n", source="variant.yaml", today=NOW.date())


def _photo(*lines: str, conf: int = 95, low: tuple[str, ...] = ()) -> PhotoText:
    """A photo whose lines are laid out 40 px apart, each word 12 px a character."""
    out: list[PhotoLine] = []
    for n, text in enumerate(lines):
        words = []
        x = 10
        for w in text.split():
            words.append(
                (w, (x, 10 + 40 * n, x + 12 * len(w), 40 + 40 * n), 20 if w in low else conf)
            )
            x += 12 * len(w) + 12
        out.append(line_of(words))
    return PhotoText(status=PhotoStatus.READ, lines=tuple(out), size=(800, 40 * len(lines) + 40))


def _message(text: str, photo: PhotoText | None, name: str = "IMG_2291.png") -> SlackMessage:
    f = SlackFile(
        id="F1",
        name=name,
        title="",
        alt_txt="",
        mimetype="image/png",
        filetype="png",
        size=1000,
        photo=photo,
    )
    return SlackMessage(
        kind=MessageKind.POST,
        subtype="file_share",
        channel=None,
        ts=None,
        target_ts=None,
        thread_ts=None,
        broadcast=False,
        user=None,
        team=None,
        bot_id=None,
        parts=(TextPart(where="text", lines=tuple(parse_mrkdwn(text)), body=True),),
        files=(f,),
        from_blocks=False,
    )


BOLO = "BOLO: blue Honda Civic seen leaving the Ridge Road lot northbound at 0300."
BOARD = ("Operation Lantern Tuesday", "Blue Honda Civic plate 7KD-193", "CI Maria Okafor 555-0142")


def test_line_of_joins_words_and_keeps_their_offsets() -> None:
    line = line_of([("SSN:", (0, 0, 10, 10), 90), ("987-65-4321", (12, 0, 40, 10), 91)])
    assert line.text == "SSN: 987-65-4321"
    assert boxes_between(line, 5, 16) == [(12, 0, 40, 10)]
    assert boxes_between(line, 0, 3) == [(0, 0, 10, 10)]


def test_boxes_are_padded_clipped_and_sorted() -> None:
    assert merge_boxes([(50, 2, 60, 8), (0, 0, 5, 5)], (58, 100)) == (
        (0, 0, 9, 9),
        (46, 0, 58, 12),
    )


def test_words_read_inside_the_black_boxes_are_not_text() -> None:
    photo = _photo("keep this", "gone here")
    painted = merge_boxes([w.box for w in photo.lines[1].words], photo.size)
    assert [line.text for line in outside(photo, painted).lines] == ["keep this"]


def test_a_misread_ci_is_read_as_ci_only_in_source_tokens() -> None:
    assert ocr_letters("Cl Maria Okafor") == "CI Maria Okafor"
    assert ocr_letters("Clinton Al Capone Call") == "Clinton Al Capone Call"
    assert len(ocr_letters("Cl#7 SOl")) == len("Cl#7 SOl")


def test_a_sources_line_in_a_photo_is_blacked_out_and_the_rest_stays(policy: Policy) -> None:
    photo = _photo(*BOARD)
    d = evaluate_outbound(_message(BOLO, photo), policy, MA, "bolo", now=NOW)
    assert d.action is Action.REDACT
    assert [(r.rule, r.count) for r in d.reasons] == [("photo_text.informant.source", 1)]
    assert d.message is not None
    assert d.message.text == BOLO, "the message's own text is untouched"
    [f] = d.message.files
    want = merge_boxes([w.box for w in photo.lines[2].words], photo.size)
    assert f.blackout == want, "exactly the words of the source's line"
    assert 0 not in d.kept_files


def test_a_misread_ci_in_a_photo_still_names_a_source(policy: Policy) -> None:
    photo = _photo("Cl Maria Okafor 555-0142")
    d = evaluate_outbound(_message(BOLO, photo), policy, MA, "bolo", now=NOW)
    assert d.message is not None
    assert d.message.files[0].blackout


def test_an_ncic_return_in_a_photo_blocks_with_a_photo_text_reason(policy: Policy) -> None:
    photo = _photo("MKE/WANTED PERSON", "NAM/DOE, JOHN SEX/M RAC/W", "DOB/19800101 HGT/510")
    d = evaluate_outbound(_message(BOLO, photo), policy, MA, "bolo", now=NOW)
    assert d.action is Action.BLOCK
    assert {r.rule for r in d.reasons} == {"photo_text.chri.ncic_fields"}


def test_an_ssn_in_a_photo_blacks_out_its_line(policy: Policy) -> None:
    photo = _photo("INTAKE FORM", "SSN: 987-65-4321", "Vehicle: grey Ford F-150")
    d = evaluate_outbound(_message(BOLO, photo), policy, MA, "bolo", now=NOW)
    assert d.message is not None
    assert d.message.files[0].blackout == merge_boxes(
        [w.box for w in photo.lines[1].words], photo.size
    )


def test_a_source_named_in_the_text_is_blacked_out_in_the_photo(policy: Policy) -> None:
    text = "Our CI Maria Okafor says the van is back. Blue van seen on Elm St."
    photo = _photo("Okafor seen at the lot", "Blue van on Elm St")
    d = evaluate_outbound(_message(text, photo), policy, MA, "bolo", now=NOW)
    assert d.message is not None
    assert "Okafor" not in d.message.text
    assert d.message.files[0].blackout == merge_boxes(
        [w.box for w in photo.lines[0].words], photo.size
    )


def test_a_source_named_in_the_photo_is_removed_from_the_text(policy: Policy) -> None:
    text = "Blue Honda Civic seen on Elm St. Okafor met the driver at the lot on Tuesday."
    photo = _photo("CI Maria Okafor 555-0142")
    d = evaluate_outbound(_message(text, photo), policy, MA, "bolo", now=NOW)
    assert d.message is not None
    assert "Okafor" not in d.message.text
    assert "Blue Honda Civic" in d.message.text


def test_no_image_data_is_reported_not_checked_never_clean(policy: Policy) -> None:
    d = evaluate_outbound(_message(BOLO, None), policy, MA, "bolo", now=NOW)
    assert [(r.rule, r.count) for r in d.reasons] == [("photo_text.not_checked", 1)]
    assert d.action is Action.FORWARD, "reported, the message unchanged"


def test_a_photo_the_ocr_could_not_read_is_withheld(policy: Policy) -> None:
    failed = PhotoText(status=PhotoStatus.FAILED, code="ocr_timeout")
    d = evaluate_outbound(_message(BOLO, failed), policy, MA, "bolo", now=NOW)
    assert d.message is not None
    assert d.message.files[0].withheld == "ocr_timeout"
    assert [r.rule for r in d.reasons] == ["photo_text.unread"]
    assert d.message.text == BOLO


def test_unreadable_words_are_blacked_out_or_withhold_the_photo(policy: Policy) -> None:
    photo = _photo("Meet at the lot", "xq7 zzv", low=("xq7", "zzv"))
    d = evaluate_outbound(_message(BOLO, photo), policy, MA, "bolo", now=NOW)
    assert d.message is not None
    assert d.message.files[0].blackout == merge_boxes(
        [w.box for w in photo.lines[1].words], photo.size
    )
    assert [(r.rule, r.count) for r in d.reasons] == [("photo_text.unreadable", 2)]
    strict = _variant("photo_text_unreadable: withhold")
    d = evaluate_outbound(_message(BOLO, photo), strict, MA, "bolo", now=NOW)
    assert d.message is not None
    assert d.message.files[0].withheld == "photo_text_unreadable"


def test_photo_text_not_checked_leaves_photos_unread() -> None:
    lax = _variant("photo_text: not_checked")
    photo = _photo("CI Maria Okafor 555-0142")
    for p in (photo, None, PhotoText(status=PhotoStatus.FAILED, code="ocr_unavailable")):
        d = evaluate_outbound(_message(BOLO, p), lax, MA, "bolo", now=NOW)
        assert d.action is Action.FORWARD
        assert d.reasons == ()


def test_a_clean_photo_forwards_untouched(policy: Policy) -> None:
    photo = _photo("CONNECTICUT", "4TX 829", "Constitution State")
    msg = _message(BOLO, photo)
    d = evaluate_outbound(msg, policy, MA, "bolo", now=NOW)
    assert d.action is Action.FORWARD
    assert d.reasons == ()
    assert d.message is not None
    assert d.message.files == msg.files
    assert d.kept_files == frozenset({0})


def test_explain_names_the_photos_lines(policy: Policy) -> None:
    partner = policy.partners[MA]
    _, views = explain(_message(BOLO, _photo(*BOARD)), policy, partner, now=NOW)
    removed = [v for v in views if v.status == "removed"]
    assert [(v.where, v.rules) for v in removed] == [
        ("file 1 photo 3", ("photo_text.informant.source",))
    ]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("photo_text: sometimes", "photo_text must be 'checked' or 'not_checked'"),
        ("photo_text_unreadable: ignore", "photo_text_unreadable must be 'blackout' or"),
    ],
)
def test_the_photo_keys_are_checked(line: str, error: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        _variant(line)
    assert error in str(info.value.problems)


def test_a_block_in_the_text_takes_the_photo_with_it(policy: Policy) -> None:
    msg = _message("SECRET//NOFORN ops summary attached.", _photo("Blue van"))
    d = evaluate_outbound(msg, policy, MA, "bolo", now=NOW)
    assert d.action is Action.BLOCK
    assert d.message is None
