"""A photo made ready for the OCR: upright (EXIF orientation), bounded in size, grey, and
straightened when its lines are tilted; with the way back from the OCR's coordinates to the
photo's own pixels, where the boxes are blacked out.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageChops, ImageFilter, ImageOps

from relay.core.photo import Box

__all__ = [
    "MAX_PIXELS",
    "Normalised",
    "Translucent",
    "flat",
    "normalise",
    "skew_angle",
    "tiles",
    "translucent",
    "upright",
]

MAX_PIXELS: Final = 40_000_000  # what the relay decodes at all (as slack/files.py)
MAX_SIDE: Final = 2400  # longer side the OCR reads; larger photos are scaled down
TILE: Final = 1600  # a large photo's full-resolution tiles (see tiles)
OVERLAP: Final = 240  # text up to this high is whole in one tile or the next
MIN_SIDE: Final = 900  # shorter photos are scaled up: small screenshot text reads better
_ANGLES: Final = tuple(a / 2 for a in range(-24, 25))  # -12..12 degrees, half-degree steps


@dataclass(frozen=True, slots=True)
class Normalised:
    """The grey image the OCR reads; ``scale`` and ``angle`` map its boxes back onto the
    photo as it was given (``size``: upright, after EXIF orientation)."""

    image: Image.Image
    size: tuple[int, int]
    scale: float
    angle: float
    rotated: tuple[int, int]  # size of the straightened image before scaling
    full: Image.Image | None = None  # straightened, unscaled: a large photo's tiles

    def to_photo(self, box: Box) -> Box:
        """``box`` in the OCR's image -> the smallest box that covers it in the photo."""
        left, top, right, bottom = (v / self.scale for v in box)
        if not self.angle:
            corners = [(left, top), (right, bottom)]
        else:
            theta = math.radians(self.angle)
            cx, cy = self.rotated[0] / 2, self.rotated[1] / 2
            ox, oy = self.size[0] / 2, self.size[1] / 2
            corners = []
            for x, y in ((left, top), (right, top), (left, bottom), (right, bottom)):
                dx, dy = x - cx, y - cy
                # Pillow's rotate(angle) turns counter-clockwise; undo it
                corners.append(
                    (
                        ox + dx * math.cos(theta) - dy * math.sin(theta),
                        oy + dx * math.sin(theta) + dy * math.cos(theta),
                    )
                )
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        w, h = self.size
        return (
            max(0, math.floor(min(xs))),
            max(0, math.floor(min(ys))),
            min(w, math.ceil(max(xs))),
            min(h, math.ceil(max(ys))),
        )


def upright(data: bytes) -> Image.Image:
    """The photo in colour, turned as its EXIF orientation says: the frame of the boxes."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with Image.open(io.BytesIO(data)) as img:
        if img.width * img.height > MAX_PIXELS:  # Pillow only warns below twice the cap
            raise ValueError("too many pixels")
        img.load()
        if translucent(img):
            raise Translucent
        return ImageOps.exif_transpose(img).convert("RGB")


class Translucent(ValueError):
    """A photo with a transparent part: what shows depends on the ground it is shown on
    (Slack's light or dark theme), and text can hide in the alpha channel. The relay's own
    photos are flattened onto white when fetched (slack/files.py); any other is not read."""


def translucent(img: Image.Image) -> bool:
    """``img`` has an alpha channel (or a transparent colour) that is not opaque everywhere."""
    if "A" not in img.getbands() and "transparency" not in img.info:
        return False
    low = img.convert("RGBA").getchannel("A").getextrema()[0]
    return not isinstance(low, (int, float)) or low < 255


def normalise(data: bytes) -> tuple[Image.Image, Normalised]:
    """The photo upright in colour (what is redacted) and its normalised grey view."""
    photo = upright(data)
    # grey, and speckles (sensor noise, JPEG dust) smoothed away: the engine's local
    # threshold reads them as marks otherwise
    # threshold reads them as marks otherwise. Not on a flat ground (a screenshot) whose
    # strokes it erases (the 1-px strokes of 11-13 px text): there is no noise to smooth
    grey = photo.convert("L")
    smooth = grey.filter(ImageFilter.MedianFilter(3))
    if not flat(grey) or _ink(smooth) >= _ink(grey) * 0.9:
        grey = smooth
    angle = skew_angle(grey)
    rotated = grey
    if angle:
        rotated = grey.rotate(
            angle, expand=True, fillcolor=_background(grey), resample=Image.Resampling.BICUBIC
        )
    scale = 1.0
    longest = max(rotated.size)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
    elif longest < MIN_SIDE:
        scale = min(2.0, MIN_SIDE / max(1, longest))
    view = rotated
    if scale != 1.0:
        view = rotated.resize(
            (max(1, round(rotated.width * scale)), max(1, round(rotated.height * scale))),
            Image.Resampling.LANCZOS,
        )
    return photo, Normalised(
        image=view,
        size=photo.size,
        scale=scale,
        angle=angle,
        rotated=rotated.size,
        full=rotated if scale < 1.0 else None,
    )


def flat(grey: Image.Image) -> bool:
    """A screenshot-like image: a third of its pixels or more are one exact grey (a
    camera's noise spreads even a white wall over many levels)."""
    hist = grey.histogram()
    return max(hist) * 3 >= grey.width * grey.height


def _ink(grey: Image.Image) -> int:
    """Pixels far from the most common grey: strokes, marks."""
    hist = grey.histogram()
    bg = max(range(256), key=hist.__getitem__)
    return sum(n for v, n in enumerate(hist) if abs(v - bg) > 48)


def tiles(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Boxes of at most ``TILE`` px a side, overlapping by ``OVERLAP``, covering ``size``:
    a large photo is also read at full resolution, a tile at a time, so small text is not
    shrunk below what the engine reads."""
    w, h = size
    step = TILE - OVERLAP

    def starts(n: int) -> list[int]:
        return list(range(0, max(1, n - OVERLAP), step))

    return [(x, y, min(w, x + TILE), min(h, y + TILE)) for y in starts(h) for x in starts(w)]


def _background(grey: Image.Image) -> int:
    """The photo's most common grey: what a straightened photo's new corners are filled with."""
    hist = grey.histogram()
    return max(range(256), key=hist.__getitem__)


def skew_angle(grey: Image.Image) -> float:
    """The tilt of a photo's lines of text, in degrees (0 when it reads straight): the angle
    whose rotation makes the row profile of a small binarised copy most uneven (text rows
    and the gaps between them)."""
    small = grey.copy()
    small.thumbnail((360, 360))
    bg = _background(small)
    ink = small.point(lambda v: 255 if abs(v - bg) > 48 else 0)
    # solid regions (a redaction bar, a photo's dark patch) are not lines of text: the
    # opening keeps only what is thicker than a stroke, and it is taken out
    solid = ink.filter(ImageFilter.MinFilter(5)).filter(ImageFilter.MaxFilter(5))
    ink = ImageChops.subtract(ink, solid)
    if not ink.getbbox():
        return 0.0

    def score(angle: float) -> float:
        rows = ink.rotate(angle, expand=True, fillcolor=0).resize(
            (1, ink.height), Image.Resampling.BILINEAR
        )
        values = list(rows.tobytes())  # one grey byte per row
        mean = sum(values) / len(values)
        return sum((v - mean) ** 2 for v in values)

    straight = score(0.0)
    best, best_score = 0.0, straight
    for angle in _ANGLES:
        if angle:
            s = score(angle)
            if s > best_score:
                best, best_score = angle, s
    # a clear improvement only: a straight photo is not turned by noise
    return best if best_score > straight * 1.15 else 0.0
