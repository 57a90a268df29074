"""Regressions from the review of the OCR path (#17 follow-up): each with a Pillow-drawn
image, each asserting the partner never receives readable sensitive text."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import io
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from relay.core.model import MessageKind, SlackFile, SlackMessage, TextPart
from relay.core.mrkdwn import parse_mrkdwn
from relay.core.photo import PhotoStatus, PhotoText
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.load import load_policy
from relay.core.policy.scan import ocr_letters
from relay.lab.photos import font, png
from relay.ocr.ink import unexplained
from relay.ocr.normalise import upright
from relay.ocr.reader import OcrSettings, PhotoReader
from relay.ocr.worker import blackout, read_photo
from relay.slack.files import reencode

SECRET = "CI Maria Okafor 555-0142"
ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
POLICY = load_policy(
    (ROOT / "policies" / "baseline.yaml").read_text(encoding="utf-8"),
    source="baseline.yaml",
    today=NOW.date(),
)


def _board(
    lines: tuple[str, ...] = ("Blue Honda Civic", SECRET),
    *,
    size: tuple[int, int] = (900, 260),
    px: int = 34,
    bg: int = 240,
    ink: int = 0,
    at: tuple[int, int] = (40, 40),
) -> Image.Image:
    img = Image.new("L", size, bg)
    draw = ImageDraw.Draw(img)
    x, y = at
    for line in lines:
        draw.text((x, y), line, fill=ink, font=font(px))
        y += int(px * 1.6)
    return img.convert("RGB")


def _words(photo: PhotoText) -> str:
    return " ".join(w.text for line in photo.lines for w in line.words)


def test_recycling_a_pool_already_shut_down_does_not_raise() -> None:
    reader = PhotoReader(OcrSettings(workers=1, budget=30.0))
    try:
        dead = reader._executor()
        dead.shutdown(wait=True)
        setattr(dead, "_processes", None)  # noqa: B010 - as after another timeout
        reader._recycle(dead)  # no AttributeError
        reader._pool = dead  # a second photo in flight still holds the dead pool
        photo = reader.read_now(png(_board()))
        assert photo.status is PhotoStatus.READ, "a fresh pool reads it"
        assert "Okafor" in _words(photo)
    finally:
        reader.close(wait=False)


def test_any_failure_in_the_reader_is_an_unread_photo(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = PhotoReader(OcrSettings(workers=1, budget=30.0))

    def boom(*args: object) -> PhotoText:
        raise AttributeError("'NoneType' object has no attribute 'values'")

    monkeypatch.setattr(reader, "_read", boom)
    photo = reader.read_now(png(_board()))
    assert (photo.status, photo.code) == (PhotoStatus.FAILED, "ocr_error")  # withheld


def test_a_cancelled_reading_is_tried_again() -> None:
    reader = PhotoReader(OcrSettings(workers=1, budget=30.0))
    try:
        cancelled: cf.Future[PhotoText] = cf.Future()
        cancelled.cancel()
        pool = reader._executor()
        real = pool.submit
        calls = []

        def submit(*args: Any, **kw: Any) -> cf.Future[PhotoText]:
            calls.append(1)
            return cancelled if len(calls) == 1 else real(*args, **kw)

        setattr(pool, "submit", submit)  # noqa: B010
        photo = reader.read_now(png(_board()))
        assert len(calls) == 1  # the second try is on a fresh pool
        assert photo.status is PhotoStatus.READ
    finally:
        reader.close(wait=False)


def _alpha_only(rgb: int) -> bytes:
    """Text only in the alpha channel: every pixel's colour is ``rgb``."""
    shape = _board(bg=0, ink=255).convert("L")
    flat = Image.new("L", shape.size, rgb)
    return png(Image.merge("RGBA", (flat, flat, flat, shape)))


@pytest.mark.parametrize("rgb", [0, 255])
def test_text_only_in_the_alpha_channel_is_read_or_gone(rgb: int) -> None:
    sent, _ = reencode(_alpha_only(rgb))
    with Image.open(io.BytesIO(sent)) as img:
        assert img.mode == "RGB", "what is sent has no alpha: it is what is read"
    photo = read_photo(sent)
    assert photo.status is PhotoStatus.READ
    if rgb == 0:  # black on the white ground: read, so the policy judges it
        assert "Okafor" in _words(photo)
    else:  # white on white: nothing a partner could read
        with Image.open(io.BytesIO(sent)) as img:
            assert img.convert("L").getextrema() == (255, 255)


def test_a_received_transparent_photo_is_not_read() -> None:
    photo = read_photo(_alpha_only(0))  # bytes as a partner pushed them, not re-encoded
    assert (photo.status, photo.code) == (PhotoStatus.FAILED, "transparent_image")


@pytest.mark.parametrize(("bg", "ink"), [(0, 40), (8, 45)])
def test_dark_text_on_near_black_is_read_the_first_time(bg: int, ink: int) -> None:
    photo = read_photo(png(_board(bg=bg, ink=ink)))
    assert photo.status is PhotoStatus.READ
    assert "Okafor" in _words(photo), "read, so the policy judges it (not dropped as a bar)"


def _judged(photo: PhotoText) -> SlackFile:
    """The photo's file as it would go to a partner under the baseline policy."""
    f = SlackFile(
        id="F1", name="IMG.png", title="", alt_txt="", mimetype="image/png", filetype="", size=1
    )
    text = "BOLO: blue Honda Civic seen leaving the Ridge Road lot. Photo attached."
    message = SlackMessage(
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
        files=(replace(f, photo=photo),),
        from_blocks=False,
    )
    decision = evaluate_outbound(message, POLICY, "MA9990200", "bolo", now=NOW)
    assert decision.message is not None
    return decision.message.files[0]


def test_dotted_ci_read_as_pipe_is_an_informant() -> None:
    assert ocr_letters("C.|. Maria Okafor") == "C.I. Maria Okafor"
    assert ocr_letters("C.l. Maria") == "C.I. Maria"
    photo = read_photo(png(_board(("Blue Honda Civic", "C.I. Maria Okafor 555-0142"))))
    f = _judged(photo)
    assert f.withheld or f.blackout, "the source's line does not go as it is"


def test_the_pixel_cap_is_width_times_height() -> None:
    big = io.BytesIO()
    Image.new("1", (8000, 5001), 1).save(big, "PNG")  # 40.008 Mpx: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # as in production
        with pytest.raises(ValueError, match="not a readable image"):
            reencode(big.getvalue())
        with pytest.raises(ValueError, match="pixels"):
            upright(big.getvalue())


def test_exif_orientation_is_applied_when_re_encoded() -> None:
    stored = _board(size=(900, 300)).rotate(90, expand=True)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to view
    raw = io.BytesIO()
    stored.save(raw, "JPEG", quality=92, exif=exif.tobytes())
    sent, _ = reencode(raw.getvalue())
    with Image.open(io.BytesIO(sent)) as img:
        assert img.size == (900, 300), "sent upright, as it was read"
        assert not img.getexif()


@pytest.mark.parametrize("px", [11, 13])
def test_small_screenshot_text_is_not_erased_by_the_median(px: int) -> None:
    shot = _board(
        ("RMS Incident 26-00412", "Vehicle: grey Ford F-150", SECRET),
        size=(1280, 720),
        px=px,
        bg=255,
    )
    photo = read_photo(png(shot))
    f = _judged(photo)
    assert f.withheld or f.blackout, "the source's line does not go as it is"
    assert "Okafor" in _words(photo) or f.withheld


def test_small_text_on_a_large_screenshot_is_read_in_tiles() -> None:
    shot = _board(("Blue Honda Civic", SECRET), size=(3840, 2160), px=12, bg=255, at=(2000, 1200))
    photo = read_photo(png(shot))
    f = _judged(photo)
    assert f.withheld or f.blackout, "the source's line does not go as it is"
    assert f.withheld or any(b[0] >= 1900 and b[1] >= 1150 for b in f.blackout)


@pytest.mark.parametrize("turn", [90, 180])
def test_text_turned_sideways_or_upside_down_is_not_passed_as_clean(turn: int) -> None:
    board = _board()
    photo = read_photo(png(board.rotate(turn, expand=True)))
    f = _judged(photo)
    assert f.withheld or f.blackout, "the source's line does not go as it is"
    if f.blackout:  # the secret's line is covered: redact and read again at that turn
        painted, _ = blackout(png(board.rotate(turn, expand=True)), f.blackout)
        with Image.open(io.BytesIO(painted)) as img:
            upright_again = img.rotate(-turn, expand=True)
        assert "Okafor" not in _words(read_photo(png(upright_again)))


def test_strokes_no_reading_explains_are_unreadable() -> None:
    grey = _board(("Blue Honda Civic", SECRET)).convert("L")
    assert unexplained(grey, []) is not None, "strokes outside any word"
    assert unexplained(grey, [(0, 0, *grey.size)]) is None, "all explained"
    assert unexplained(_board(()).convert("L"), []) is None, "a blank board"
