"""JSON from a peer, read strictly: one spelling of each document or a refusal with a code.

:func:`loads_strict` takes the bytes as they arrived and refuses, before or while parsing:

- more than ``max_bytes`` (``too_large``);
- anything but UTF-8: a byte order mark, UTF-16 or UTF-32 (which ``json.loads`` on bytes
  would quietly detect and accept), invalid or overlong sequences, encoded surrogates, NUL
  bytes (``malformed``);
- nesting deeper than ``max_depth`` arrays and objects, counted before the parser recurses
  (``malformed``);
- a member name twice in one object, at any depth (``json`` keeps the last one silently);
  ``NaN``/``Infinity``; an escaped lone surrogate (``"\\ud800"``), which has no UTF-8 form
  (``malformed``);
- text that is not JSON at all (``bad_request``).

Pure: no I/O, no logging. Messages name the problem and a count or position, never content.
"""

from __future__ import annotations

import json
import re
from typing import Final

from relay.core.canonical import JSONValue
from relay.core.reasons import Reason

__all__ = ["DEFAULT_MAX_DEPTH", "StrictJSONError", "loads_strict"]

DEFAULT_MAX_DEPTH: Final = 64
_BOM: Final = b"\xef\xbb\xbf"
# JSON strings (escapes included) and everything that is not a bracket, removed before the
# nesting is counted; what is left is only brackets, in document order.
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")


class StrictJSONError(ValueError):
    """A refused document; ``code`` is a :class:`Reason` (``malformed``, ``bad_request``,
    ``too_large``)."""

    def __init__(self, message: str, *, code: Reason) -> None:
        super().__init__(message)
        self.code = code


def _no_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise StrictJSONError("a member name appears twice in one object", code=Reason.MALFORMED)
    return out


def _no_constant(name: str) -> JSONValue:
    raise StrictJSONError("NaN or Infinity is not JSON", code=Reason.MALFORMED)


_decode: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant, strict=True
).decode


def loads_strict(
    data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, max_bytes: int = 1 << 20
) -> JSONValue:
    """The JSON value of ``data``, or :class:`StrictJSONError` with a code."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("loads_strict takes bytes")
    raw = bytes(data)
    if len(raw) > max_bytes:
        raise StrictJSONError(f"{len(raw)} bytes > {max_bytes}", code=Reason.TOO_LARGE)
    if raw.startswith(_BOM):
        raise StrictJSONError("a byte order mark is not allowed", code=Reason.MALFORMED)
    if b"\x00" in raw:  # UTF-16/32 text, or a NUL no JSON text may hold
        raise StrictJSONError("not UTF-8 (NUL bytes: UTF-16 or UTF-32?)", code=Reason.MALFORMED)
    try:
        text = raw.decode("utf-8")  # strict: refuses overlong forms and encoded surrogates
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8 at byte {exc.start}", code=Reason.MALFORMED) from None
    _check_depth(text, max_depth)
    try:
        value: JSONValue = _decode(text)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, int too long: not JSON
        raise StrictJSONError("not JSON", code=Reason.BAD_REQUEST) from None
    _check_strings(value)
    return value


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` without recursing (unbalanced text is left to
    the parser, which refuses it)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text) if '"' in text else text)
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise StrictJSONError(f"nested deeper than {max_depth}", code=Reason.MALFORMED)
        else:
            depth -= 1


def _check_strings(value: JSONValue) -> None:
    """Every string and member name has a UTF-8 form (no lone surrogate from an escape)."""
    stack: list[JSONValue] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts: list[str] = [item]
        elif isinstance(item, dict):
            texts = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in texts:
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise StrictJSONError(
                        "a string holds a lone surrogate", code=Reason.MALFORMED
                    ) from None
