"""Canonical JSON bytes: the RFC 8785 JSON Canonicalization Scheme (JCS).

Every signed byte string in an envelope (payload, protected headers, disclosures) is the JCS
form of its JSON value, so a verifier can insist that what it received is *exactly* that form.

- Object members are sorted by their names' UTF-16 code units (not code points, not locale).
- Strings are escaped minimally: ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other control
  characters as lowercase ``\\u00xx``; everything else is written as UTF-8.
- Numbers are IEEE-754 doubles written as ECMAScript ``Number.prototype.toString`` does.
  A Python ``int`` must be a double's exact value or its shortest text (``2**53 + 1`` would be
  rounded, silently changing signed data); NaN and the infinities have no JSON form.

:func:`parse_json` is the matching strict reader: duplicate member names, ``NaN`` and
``Infinity`` are errors rather than silently accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final, TypeAlias

__all__ = [
    "CanonicalizationError",
    "JSONValue",
    "canonicalize",
    "format_number",
    "parse_json",
]

JSONValue: TypeAlias = (
    "bool | int | float | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)

MAX_SAFE_INTEGER: Final = 2**53 - 1

_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class CanonicalizationError(ValueError):
    """A value with no canonical JSON form (NaN, a set, a lone surrogate, a huge int, ...)."""


def canonicalize(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``."""
    parts: list[str] = []
    _write(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string holds a lone surrogate") from None


def parse_json(data: bytes | str) -> JSONValue:
    """Parse JSON strictly: duplicate member names, NaN and Infinity raise ``ValueError``."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    value: JSONValue = json.loads(
        text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant
    )
    return value


def _no_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {}
    for key, val in pairs:
        if key in out:
            raise CanonicalizationError("duplicate member name")
        out[key] = val
    return out


def _no_constant(name: str) -> JSONValue:
    raise CanonicalizationError(f"{name} is not JSON")


def _write(value: JSONValue, out: list[str]) -> None:
    # bool before int: bool is a subclass of int.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) <= MAX_SAFE_INTEGER:
            out.append(str(value))
        elif _exact_double(value):  # 2**53, 10**21 ("1e+21" read back), 52067206126294110
            out.append(format_number(float(value)))
        else:
            raise CanonicalizationError("integer not exactly representable as a double")
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        _write_object(value, out)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalizationError(f"{type(value).__name__} has no JSON form")


def _exact_double(value: int) -> bool:
    """True if ``value`` is a double, or is written exactly as its nearest double is."""
    try:
        nearest = float(value)
    except OverflowError:
        return False
    return int(nearest) == value or format_number(nearest) == str(value)


def _write_object(value: Mapping[str, JSONValue], out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise CanonicalizationError("object member names must be strings")
    out.append("{")
    for i, key in enumerate(sorted(value, key=_utf16_key)):
        if i:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _write(value[key], out)
    out.append("}")


def _utf16_key(name: str) -> bytes:
    try:
        return name.encode("utf-16-be")
    except UnicodeEncodeError:
        raise CanonicalizationError("member name holds a lone surrogate") from None


_SPECIAL: Final = re.compile('["\\\\\\x00-\\x1f]')  # what JCS escapes


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _string(text: str) -> str:
    """A JSON string as RFC 8785 writes it: ``"`` and ``\\`` escaped, the short escapes for
    b f n r t, ``\\u00xx`` for the other controls, everything else as it is."""
    return '"' + _SPECIAL.sub(_escape, text) + '"'


def format_number(number: float) -> str:
    """Write a finite double as ECMAScript ``Number.prototype.toString`` does."""
    if not math.isfinite(number):
        raise CanonicalizationError("NaN and Infinity have no JSON form")
    if number == 0:
        return "0"  # also -0
    sign = "-" if number < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    if not isinstance(exponent, int):  # "n"/"F" exponents only for NaN/Infinity
        raise CanonicalizationError("NaN and Infinity have no JSON form")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + body
