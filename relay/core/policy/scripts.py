"""Which non-Latin script, and so which language, holds the majority of a unit's letters;
and the Cyrillic and Greek letters that only pass for Latin ones (a disguise, not a language).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["LOOKALIKES", "MAYBE_OTHER_SCRIPT", "MIN_WORDS", "script_language"]

_HAN, _KANA, _HANGUL = "zh", "ja", "ko"
_SCRIPT_RANGES: Final[tuple[tuple[int, int, str], ...]] = (
    (0x0370, 0x03FF, "el"),
    (0x1F00, 0x1FFF, "el"),
    (0x0400, 0x052F, "ru"),
    (0x1C80, 0x1C8F, "ru"),
    (0x2DE0, 0x2DFF, "ru"),
    (0xA640, 0xA69F, "ru"),
    (0x0530, 0x058F, "hy"),
    (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "ar"),
    (0x0750, 0x077F, "ar"),
    (0x08A0, 0x08FF, "ar"),
    (0xFB50, 0xFDFF, "ar"),
    (0xFE70, 0xFEFC, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0980, 0x09FF, "bn"),
    (0x0A00, 0x0A7F, "pa"),
    (0x0A80, 0x0AFF, "gu"),
    (0x0B80, 0x0BFF, "ta"),
    (0x0C00, 0x0C7F, "te"),
    (0x0E00, 0x0E7F, "th"),
    (0x0E80, 0x0EFF, "lo"),
    (0x10A0, 0x10FF, "ka"),
    (0x1200, 0x137F, "am"),
    (0x1780, 0x17FF, "km"),
    (0x1100, 0x11FF, _HANGUL),
    (0x3130, 0x318F, _HANGUL),
    (0xAC00, 0xD7AF, _HANGUL),
    (0x3040, 0x30FF, _KANA),
    (0x31F0, 0x31FF, _KANA),
    (0xFF66, 0xFF9D, _KANA),
    (0x3400, 0x4DBF, _HAN),
    (0x4E00, 0x9FFF, _HAN),
    (0xF900, 0xFAFF, _HAN),
    (0x20000, 0x2FFFF, _HAN),
)
# Anything outside Latin letters, their accents and general punctuation: a cheap test before
# the letters are counted script by script.
MAYBE_OTHER_SCRIPT: Final = re.compile("[^\x00-\u036f\u1e00-\u1eff\u2000-\u206f]")
_NON_LATIN: Final = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(z))}" for a, z, _ in _SCRIPT_RANGES) + "]+"
)
_LATIN_LETTERS: Final = re.compile(
    r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+"
)
_LETTER_RUN: Final = re.compile(r"[^\W\d_]+")
_CJK: Final = frozenset({_HAN, _KANA, _HANGUL})
_UNSPACED: Final = frozenset({"th", "lo", "km"})  # scripts written without spaces between words
_MIN_SCRIPT_LETTERS: Final = 8
_MIN_CJK_CHARS: Final = 5
_MIN_OWN_LETTERS: Final = 4  # Cyrillic/Greek letters that do not pass for Latin ones
MIN_WORDS: Final = 4  # fewer words are a name or a phrase, not a sentence (in any script)


def _script_table() -> dict[int, str]:
    # Keyed by 16-code-point block (every range above starts on a block boundary or shares
    # its block only with punctuation, which is not a letter): a few thousand entries.
    table: dict[int, str] = {}
    for start, end, code in _SCRIPT_RANGES:
        if start < 0x20000:  # the supplementary Han planes are tested by value
            for block in range(start >> 4, (end >> 4) + 1):
                table[block] = code
    return table


_SCRIPT_OF: Final = _script_table()
# Cyrillic and Greek letters that pass for Latin ones inside an otherwise Latin word.
LOOKALIKES: Final = str.maketrans(
    (
        "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422"
        "\u0425\u0423\u0406\u0408\u0405\u0430\u0435\u043e\u0440\u0441"
        "\u0443\u0445\u0456\u0458\u0455\u0501\u0391\u0392\u0395\u0396"
        "\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
        "\u03bf\u03b1\u03b9\u03ba\u03bd\u03c1\u03c4\u03c5\u03c7"
    ),
    "ABEKMHOPCTXYIJSaeopcyxijsdABEZHIKMNOPTYXoaikvptux",
)
_LOOKALIKE_LETTERS: Final = frozenset(chr(cp) for cp in LOOKALIKES)


def script_language(text: str) -> tuple[str | None, bool]:
    """The language a non-Latin script names when it holds the majority of the letters, and
    whether look-alike letters were seen (to be read as Latin when no script wins)."""
    counts: dict[str, int] = {}
    lookalikes = 0
    get = _SCRIPT_OF.get
    for run in _NON_LATIN.findall(text):
        for ch in run:
            cp = ord(ch)
            code = get(cp >> 4) or (_HAN if cp >= 0x20000 else None)
            if code is not None and ch.isalpha():
                counts[code] = counts.get(code, 0) + 1
                if ch in _LOOKALIKE_LETTERS:
                    lookalikes += 1
    if not counts:
        return None, False
    latin = sum(map(len, _LATIN_LETTERS.findall(text)))
    total = latin + sum(counts.values())
    cjk = counts.get(_HAN, 0) + counts.get(_KANA, 0) + counts.get(_HANGUL, 0)
    if cjk >= _MIN_CJK_CHARS and 2 * cjk > total:
        if counts.get(_HANGUL, 0) * 2 > cjk:
            return _HANGUL, False
        return (_KANA if counts.get(_KANA, 0) >= 2 else _HAN), False
    code, count = max(counts.items(), key=lambda item: item[1])
    if code in _CJK or count < _MIN_SCRIPT_LETTERS or 2 * count <= total:
        return None, lookalikes > 0
    if code in ("ru", "el") and count - lookalikes < _MIN_OWN_LETTERS:
        return None, True  # Latin words spelled with look-alike letters: a disguise
    if code not in _UNSPACED and len(_LETTER_RUN.findall(text)) < MIN_WORDS:
        return None, False  # a name or a word or two: too short to tell
    return code, False
