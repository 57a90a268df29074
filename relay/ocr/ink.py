"""Ink the OCR did not explain: a photo whose marks look like text but where the engine read
few or no words (text turned sideways or upside down, odd fonts, sparse labels) is not clean.

Measured on a small copy: pixels far from the most common grey, without solid regions (a
redaction bar, a dark patch: what survives an opening is not a stroke), outside the boxes of
the words read. Nothing here sees or logs text: only pixels and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from relay.core.photo import Box

__all__ = ["SIDE", "unexplained"]

SIDE: Final = 600  # the small copy's longer side
MIN_INK: Final = 400  # unexplained stroke pixels (small copy) below this: specks, a frame
SHARE: Final = 0.25  # ... or below this share of all the strokes


def unexplained(grey: Image.Image, boxes: Sequence[Box]) -> Box | None:
    """The box (in ``grey``'s pixels) around the strokes outside ``boxes``, when there are
    enough of them to be text the engine did not read; None otherwise."""
    small = grey.copy()
    small.thumbnail((SIDE, SIDE))
    f = small.width / max(1, grey.width)
    hist = small.histogram()
    bg = max(range(256), key=hist.__getitem__)
    ink = small.point(lambda v: 255 if abs(v - bg) > 48 else 0)
    solid = ink.filter(ImageFilter.MinFilter(5)).filter(ImageFilter.MaxFilter(5))
    ink = ImageChops.subtract(ink, solid)
    total = ink.histogram()[255]
    if not total:
        return None
    mask = Image.new("L", small.size, 255)
    draw = ImageDraw.Draw(mask)
    for b in boxes:
        draw.rectangle((b[0] * f - 3, b[1] * f - 3, b[2] * f + 3, b[3] * f + 3), fill=0)
    rest = ImageChops.multiply(ink, mask)
    left = rest.histogram()[255]
    if left < MIN_INK or left < total * SHARE:
        return None
    bbox = rest.getbbox()
    if bbox is None:
        return None
    w, h = grey.size
    return (
        max(0, int(bbox[0] / f) - 2),
        max(0, int(bbox[1] / f) - 2),
        min(w, int(bbox[2] / f) + 3),
        min(h, int(bbox[3] / f) + 3),
    )
