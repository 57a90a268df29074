"""Test photos drawn with Pillow: screenshots, a whiteboard, a form, a plate, with the text
drawn on them known, so OCR can be measured and the policy's redaction checked in the pixels.

Deterministic: the same call draws the same bytes (fixed seeds for the noise). All names,
numbers and plates are fictional (555-01xx phones, 987-65-432x SSNs).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["DrawnPhoto", "drawn_photos", "font", "png"]

_FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawnPhoto:
    """A drawn test photo: ``lines`` as drawn; ``must_go`` words the policy must remove from
    the pixels (or block on), ``must_stay`` words that must still read after redaction;
    ``blocks`` the rule the photo must block with (empty: it must not block)."""

    name: str
    image: Image.Image
    lines: tuple[str, ...]
    must_go: tuple[str, ...] = ()
    must_stay: tuple[str, ...] = ()
    blocks: str = ""


@cache
def font(size: int, *, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    for d in _FONT_DIRS:
        if (d / name).exists():
            return ImageFont.truetype(str(d / name), size)
    return ImageFont.load_default(size=size)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _text_image(
    lines: tuple[str, ...],
    *,
    size: tuple[int, int],
    bg: tuple[int, int, int],
    ink: tuple[int, int, int],
    px: int,
    mono: bool = False,
    at: tuple[int, int] = (40, 40),
    gap: float = 1.6,
    noise: int = 0,
    seed: int = 1,
) -> Image.Image:
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    f = font(px, mono=mono)
    x, y = at
    for line in lines:
        draw.text((x, y), line, fill=ink, font=f)
        y += int(px * gap)
    if noise:
        rng = random.Random(seed)  # noqa: S311 - test noise, not a secret
        pix = img.load()
        assert pix is not None  # noqa: S101
        w, h = size
        for _ in range(w * h // 40):
            xx, yy = rng.randrange(w), rng.randrange(h)
            v = rng.randrange(-noise, noise + 1)
            r, g, b = pix[xx, yy]  # type: ignore[misc]
            pix[xx, yy] = (
                max(0, min(255, r + v)),
                max(0, min(255, g + v)),
                max(0, min(255, b + v)),
            )
    return img


NCIC_LINES: Final = (
    "MKE/WANTED PERSON",
    "ORI/CT9990100 NAM/DOE, JOHN Q SEX/M RAC/W",
    "DOB/19800101 HGT/510 WGT/180 EYE/BRO",
    "OCA/26-11873 NIC/W123456789",
    "IMMED CONFIRM WARRANT AND EXTRADITION",
)
WHITEBOARD_LINES: Final = (
    "Operation Lantern - Tuesday",
    "Blue Honda Civic plate 7KD-193",
    "CI Maria Okafor 555-0142",
    "Meet at Ridge Road lot 0900",
)
FORM_LINES: Final = (
    "INTAKE FORM",
    "Name: Robert Hale",
    "SSN: 987-65-4321",
    "Vehicle: grey Ford F-150",
)
PLATE_LINES: Final = ("CONNECTICUT", "4TX 829", "Constitution State")


def drawn_photos() -> tuple[DrawnPhoto, ...]:
    """The suite's photos: what each shows and what the baseline policy must do with it."""
    ncic = _text_image(
        NCIC_LINES, size=(900, 360), bg=(12, 12, 12), ink=(40, 230, 60), px=24, mono=True
    )
    board = _text_image(
        WHITEBOARD_LINES,
        size=(960, 420),
        bg=(236, 238, 232),
        ink=(20, 40, 150),
        px=34,
        noise=18,
        seed=7,
    )
    form = _text_image(FORM_LINES, size=(800, 330), bg=(255, 255, 255), ink=(0, 0, 0), px=30)
    plate = Image.new("RGB", (720, 400), (70, 90, 70))
    pd = ImageDraw.Draw(plate)
    pd.rounded_rectangle((90, 70, 630, 330), radius=24, fill=(245, 245, 240), outline=(20,) * 3)
    pd.text((230, 95), PLATE_LINES[0], fill=(20, 40, 120), font=font(32))
    pd.text((170, 150), PLATE_LINES[1], fill=(10, 10, 10), font=font(96))
    pd.text((220, 275), PLATE_LINES[2], fill=(20, 40, 120), font=font(26))
    plate = plate.filter(ImageFilter.GaussianBlur(0.6))
    rotated = form.rotate(
        7, expand=True, fillcolor=(255, 255, 255), resample=Image.Resampling.BICUBIC
    )
    faint = _text_image(
        WHITEBOARD_LINES, size=(960, 420), bg=(200, 200, 200), ink=(150, 150, 150), px=34
    )
    return (
        DrawnPhoto(
            name="ncic_return.png",
            image=ncic,
            lines=NCIC_LINES,
            blocks="chri",
        ),
        DrawnPhoto(
            name="whiteboard.png",
            image=board,
            lines=WHITEBOARD_LINES,
            must_go=("Okafor", "0142"),
            must_stay=("Honda", "Civic"),
        ),
        DrawnPhoto(
            name="intake_form.png",
            image=form,
            lines=FORM_LINES,
            must_go=("987",),
            must_stay=("Ford", "INTAKE"),
        ),
        DrawnPhoto(
            name="plate.png", image=plate, lines=PLATE_LINES, must_stay=("CONNECTICUT", "829")
        ),
        DrawnPhoto(
            name="intake_form_rotated.png",
            image=rotated,
            lines=FORM_LINES,
            must_go=("987",),
            must_stay=("Ford",),
        ),
        DrawnPhoto(
            name="whiteboard_faint.png",
            image=faint,
            lines=WHITEBOARD_LINES,
            must_go=("Okafor", "0142"),
            must_stay=("Honda",),
        ),
    )
