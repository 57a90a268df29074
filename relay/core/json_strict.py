"""Strict JSON for bytes nobody vouches for yet: size, encoding, depth and duplicate keys
checked before (or while) the document is built, each refusal a reason code.

``json.loads`` alone accepts what a careful reader must not: a body in any encoding it can
guess, an object naming one key twice (the last one wins, silently), ``NaN`` and
``Infinity``, and nesting deep enough to raise :class:`RecursionError` out of the parser. A
:class:`JsonRefused` names which of these the bytes were, never what they said.

The depth is measured on the text before it is parsed (brackets outside strings), so a
deeply nested body costs one regular-expression scan, not a stack.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from relay.core.reasons import Reason
from relay.errors import InputError

__all__ = ["DEFAULT_MAX_DEPTH", "JsonRefused", "loads_strict", "nesting_depth"]

DEFAULT_MAX_DEPTH: Final = 64
# A string (escapes included) or one structural bracket: brackets inside strings are skipped.
# Possessive: a string that never closes is one token to the end, not a scan restarted at
# every quote (which made `"` + `\\"` * n quadratic).
_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\Z)|[\[\]{}]', re.DOTALL)
_OPEN: Final = frozenset(b"[{")


class JsonRefused(InputError):
    """Bytes :func:`loads_strict` will not turn into a document; ``code`` says why."""

    def __init__(self, code: Reason, *, constant: bool = False) -> None:
        super().__init__(f"JSON refused: {code}", code=code)
        self.reason = code
        self.constant = constant  # NaN or Infinity: JSON's shape, with a value it has not

    @property
    def peer_code(self) -> Reason:
        """The code a federation peer is answered with (``docs/openapi.yaml``): text that is
        not JSON at all ``bad_request``; too large ``too_large``; JSON in a form the relay
        does not take (another encoding, a name twice, too deep) ``malformed``."""
        if self.reason is Reason.JSON_INVALID and not self.constant:
            return Reason.BAD_REQUEST
        if self.reason is Reason.TOO_LARGE:
            return Reason.TOO_LARGE
        return Reason.MALFORMED


def nesting_depth(body: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects in ``body``, counted up to ``limit + 1``
    (the scan stops there). An unterminated string leaves its brackets counted: such a body is
    not JSON anyway, so it is refused either way."""
    depth = deepest = 0
    for match in _TOKEN.finditer(body):
        first = match.group()[0]
        if first == 0x22:  # '"': a whole string, skipped
            continue
        if first in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise JsonRefused(Reason.DUPLICATE_KEY)
    return out


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999: Infinity by another spelling
        raise JsonRefused(Reason.JSON_INVALID, constant=True)
    return value


def _no_constant(name: str) -> Any:
    raise JsonRefused(Reason.JSON_INVALID, constant=True)  # NaN, Infinity: not JSON


def loads_strict(
    body: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, max_bytes: int = 1 << 20
) -> Any:
    """The JSON value in ``body``, or :class:`JsonRefused` with one of ``too_large``,
    ``encoding_invalid`` (not strict UTF-8, a byte-order mark, an escaped lone surrogate),
    ``json_too_deep``, ``duplicate_key`` (at any level) or ``json_invalid``. Never
    :class:`RecursionError`."""
    if len(body) > max_bytes:
        raise JsonRefused(Reason.TOO_LARGE)
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise JsonRefused(Reason.ENCODING_INVALID) from None
    if text.startswith("\ufeff") or "\x00" in text:  # a BOM; UTF-16/32 (NUL bytes)
        raise JsonRefused(Reason.ENCODING_INVALID)
    if nesting_depth(body, max_depth) > max_depth:
        raise JsonRefused(Reason.JSON_TOO_DEEP)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except RecursionError:  # pragma: no cover - the scan above keeps the parser shallow
        raise JsonRefused(Reason.JSON_TOO_DEEP) from None
    except ValueError:  # JSONDecodeError, or an integer past Python's digit limit
        raise JsonRefused(Reason.JSON_INVALID) from None
    if b"\\u" in body:  # an escaped lone surrogate ("\\ud800") is no character at all
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRefused(Reason.ENCODING_INVALID) from None
    return value
