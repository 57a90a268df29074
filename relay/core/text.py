"""Normalised views of text that detectors match against.

``fold`` undoes the common disguises so one pattern catches every spelling: Unicode
compatibility forms (NFKC: full-width, ligatures, mathematical letters), zero-width and other
invisible format characters, accents, Cyrillic and Greek look-alikes of Latin letters, mrkdwn
markup (``*C*I-1234``, ``~x~``, backticks; ``_`` becomes a space) and runs of white space.
``compact`` goes further for keyword terms: lower case, digits and symbols read as letters
(``inf0rmant``), everything but letters removed (``i n f o r m a n t``, ``in-form-ant``).

Detectors only ever read these views; outgoing text is rebuilt from the original segments, so
folding never changes what a partner reads except on a line a token-level rule rewrote.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["INVISIBLE", "compact", "fold", "fold_filename", "fold_lines", "strip_invisible"]

_INVISIBLE: Final = [
    0x00AD,
    0x034F,
    0x061C,
    0x115F,
    0x1160,
    0x17B4,
    0x17B5,
    0x180E,
    0x3164,
    0xFEFF,
    0xFFA0,
    0x2800,  # braille pattern blank
    *range(0x1BCA0, 0x1BCA4),  # shorthand format controls
    *range(0x180B, 0x1810),
    *range(0x200B, 0x2010),
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2070),
    *range(0xFE00, 0xFE10),
    *range(0x1D173, 0x1D17B),
    *range(0xE0000, 0xE1000),  # tags, variation selectors supplement, unassigned: ignorable
    *range(0xFFF0, 0xFFF9),  # unassigned specials: Default_Ignorable_Code_Point
    0x16FE4,  # Khitan small script filler
    # every other format (Cf) character: Arabic/Syriac marks, interlinear annotation,
    # Egyptian hieroglyph and Kaithi format controls
    *range(0x0600, 0x0606),
    0x06DD,
    0x070F,
    0x0890,
    0x0891,
    0x08E2,
    *range(0xFFF9, 0xFFFC),
    0x110BD,
    0x110CD,
    *range(0x13430, 0x13441),
]
# Cyrillic and Greek letters that render like Latin ones (Unicode confusables, the common set).
_LOOKALIKES: Final = {
    "А": "A",
    "В": "B",
    "Е": "E",
    "К": "K",
    "М": "M",
    "Н": "H",
    "О": "O",
    "Р": "P",
    "С": "C",
    "Т": "T",
    "Х": "X",
    "У": "Y",
    "І": "I",
    "Ј": "J",
    "Ѕ": "S",
    "Ԁ": "D",
    "Ԛ": "Q",
    "Ԝ": "W",
    "а": "a",
    "в": "b",
    "е": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "х": "x",
    "у": "y",
    "і": "i",
    "ј": "j",
    "ѕ": "s",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ӏ": "l",
    "Ӏ": "I",
    "ɑ": "a",
    "ɡ": "g",
    "ı": "i",
    "ȷ": "j",
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
    "ο": "o",
    "ν": "v",
    "α": "a",
    "ι": "i",
    "κ": "k",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ϲ": "c",
    "ϳ": "j",
    # Greek lunate sigma, Armenian, Cherokee and Latin small-capital letters that pass for Latin
    "Ϲ": "C",
    "Ϻ": "M",
    "Ͻ": "C",
    "Ꮯ": "C",
    "Ꭺ": "A",
    "Ᏼ": "B",
    "Ꭼ": "E",
    "Ꮋ": "H",
    "Ꭻ": "J",
    "Ꮶ": "K",
    "Ꮮ": "L",
    "Ꮇ": "M",
    "Ꮲ": "P",
    "Ꮪ": "S",
    "Ꮤ": "T",
    "Ꮩ": "V",
    "Ꮃ": "W",
    "Ꮓ": "Z",
    "Ꮖ": "I",
    "Ꮐ": "G",
    "Օ": "O",
    "օ": "o",
    "ս": "u",
    "ց": "g",
    "հ": "h",
    "ո": "n",
    "ᴄ": "c",
    "ɪ": "i",
    "ᴏ": "o",
    "ꜱ": "s",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ᴢ": "z",
    "ʀ": "r",
    "ʜ": "h",
    "ʟ": "l",
    "ɴ": "n",
    "ᴍ": "m",
    "ᴋ": "k",
    "ᴛ": "t",
    "ᴀ": "a",
    "ʙ": "b",
    "ᴅ": "d",
    "ᴇ": "e",
    "ɢ": "g",
    "ᴊ": "j",
    "ᴘ": "p",
    "\u2010": "-",
    "\u2015": "-",
    "\u2043": "-",
    "\u02d7": "-",
    "\u2e3a": "-",
    "\u2e3b": "-",
    "\ufe58": "-",
    "\u23af": "-",
    "\u2500": "-",
    "\u30fc": "-",
    "\u2796": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2044": "/",
    "\u2215": "/",
    "\uff0f": "/",
    "\u29f8": "/",
}
INVISIBLE: Final = frozenset(_INVISIBLE)
_OVERRIDE: Final = "\u202e"  # right-to-left override: what follows displays reversed
_POP: Final = "\u202c\u2069\n"
_DELETE_INVISIBLE: Final = {cp: None for cp in _INVISIBLE}
_NONASCII_TABLE: Final = {cp: None for cp in _INVISIBLE} | {
    ord(k): v for k, v in _LOOKALIKES.items()
}
_MARKUP_TABLE: Final = {ord("*"): None, ord("~"): None, ord("`"): None, ord("_"): " "}
# ASCII fast paths use bytes.translate (a C table lookup per byte); str.translate with a dict
# costs a Python-level lookup per character.
_MARKUP_BYTES: Final = bytes.maketrans(b"_", b" ")
_MARKUP_DELETE: Final = b"*~`"
_LEET_FROM: Final = b"013457@$!|+"
_LEET_BYTES: Final = bytes.maketrans(_LEET_FROM, b"oieaststiit")
_LEET: Final = str.maketrans(_LEET_FROM.decode(), "oieaststiit")
_COMPACT_DELETE: Final = bytes(b for b in range(256) if not (97 <= b <= 122 or b in _LEET_FROM))
_NOT_LETTER: Final = re.compile(r"[^a-z]+")
_FILENAME_SEPARATORS: Final = str.maketrans({"_": " ", ".": " ", "-": " "})


def _fold_unicode(text: str) -> str:
    if _OVERRIDE in text:
        text = _bidi_views(text)
    # Look-alikes first too: NFKC turns some (lunate sigma) into letters that look nothing
    # like what the reader saw (Σ).
    text = unicodedata.normalize("NFKC", text.translate(_NONASCII_TABLE)).translate(
        _NONASCII_TABLE
    )
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        text = unicodedata.normalize("NFKC", text).translate(_NONASCII_TABLE)
    return text


def _bidi_views(text: str) -> str:
    """Text holding a right-to-left override, as a reader sees it (the overridden run
    reversed) followed by its stored order: "\u202e4321-IC" displays as "CI-1234", and a
    partner whose client ignores the override would read the stored order."""
    shown: list[str] = []
    i = 0
    while i < len(text):
        j = text.find(_OVERRIDE, i)
        if j < 0:
            shown.append(text[i:])
            break
        shown.append(text[i:j])
        end = j + 1
        while end < len(text) and text[end] not in _POP:
            end += 1
        shown.append(text[j + 1 : end][::-1])
        i = end
    return "".join(shown) + " " + text


def strip_invisible(text: str) -> str:
    """``text`` without invisible format characters (bidi controls, zero-width characters):
    they never leave in outgoing text."""
    if text.isascii():
        return text
    return text.translate(_DELETE_INVISIBLE)


def _strip_markup(text: str) -> str:
    if text.isascii():
        return text.encode().translate(_MARKUP_BYTES, _MARKUP_DELETE).decode()
    return text.translate(_MARKUP_TABLE)


def fold(text: str) -> str:
    """The view every regex detector matches: disguises undone, case kept."""
    if not text.isascii():
        text = _fold_unicode(text)
    return " ".join(_strip_markup(text).split())


def fold_lines(texts: list[str]) -> list[str]:
    """``fold`` of each text, in one pass when the texts are ASCII (the common case)."""
    joined = "\n".join(texts)
    if not joined.isascii():
        return [fold(t) for t in texts]
    return [" ".join(t.split()) for t in _strip_markup(joined).split("\n")]


def compact(folded: str) -> str:
    """Letters only, lower case, digits read as letters: for keyword terms."""
    lowered = folded.lower() if folded.isascii() else _fold_unicode(folded).lower()
    if lowered.isascii():
        return lowered.encode().translate(_LEET_BYTES, _COMPACT_DELETE).decode()
    return _NOT_LETTER.sub("", lowered.translate(_LEET))


def fold_filename(name: str) -> str:
    """File names: ``_ . -`` become spaces first, so ``CI-0871_buy.jpg`` reads ``CI 0871 buy``."""
    return fold(name.translate(_FILENAME_SEPARATORS))
