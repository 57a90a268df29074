"""Regressions from the review of the OCR path (#17 follow-up): each with a Pillow-drawn
image, each asserting the partner never receives readable sensitive text."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import pytest
from PIL import Image, ImageDraw

from relay.core.photo import PhotoStatus, PhotoText
from relay.lab.photos import font, png
from relay.ocr.reader import OcrSettings, PhotoReader

SECRET = "CI Maria Okafor 555-0142"


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

    def boom(data: bytes, digest: str) -> PhotoText:
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

        def submit(*args: Any) -> cf.Future[PhotoText]:
            calls.append(1)
            return cancelled if len(calls) == 1 else real(*args)

        setattr(pool, "submit", submit)  # noqa: B010
        photo = reader.read_now(png(_board()))
        assert len(calls) == 1  # the second try is on a fresh pool
        assert photo.status is PhotoStatus.READ
    finally:
        reader.close(wait=False)
