"""Read a wire JSON object through an allowlist: rebuild, don't filter (STYLE.md section 1).

:class:`Fields` refuses a member it was not told about (``unknown_field``) and a missing or
mistyped one (``malformed``). Error messages name the place (``payload.author``) and at most a
few unknown member names, and only names that look like identifiers: a member name is wire
input and could carry message text.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from re import Pattern
from typing import Final

from relay.core.canonical import MAX_SAFE_INTEGER, JSONValue
from relay.core.reasons import Reason
from relay.errors import VerificationError

__all__ = ["Fields", "malformed"]

_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def malformed(message: str) -> VerificationError:
    return VerificationError(message, code=Reason.MALFORMED)


class Fields:
    """The members of one JSON object, checked against ``allowed`` on construction."""

    __slots__ = ("_value", "_where")

    def __init__(self, value: JSONValue, *, where: str, allowed: Collection[str]) -> None:
        if not isinstance(value, dict):
            raise malformed(f"{where} is not an object")
        if not value.keys() <= (allowed if isinstance(allowed, frozenset) else set(allowed)):
            unknown = sorted(set(value) - set(allowed))
            shown = [name for name in unknown if _SAFE_NAME.fullmatch(name)][:3]
            raise VerificationError(
                f"{where} has {len(unknown)} unknown field(s) {shown}", code=Reason.UNKNOWN_FIELD
            )
        self._value: dict[str, JSONValue] = value
        self._where = where

    def has(self, key: str) -> bool:
        return key in self._value

    def raw(self, key: str) -> JSONValue:
        if key not in self._value:
            raise malformed(f"{self._where}.{key} is missing")
        return self._value[key]

    def text(self, key: str, *, pattern: Pattern[str] | None = None, max_len: int = 256) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not 0 < len(value) <= max_len:
            raise malformed(f"{self._where}.{key} is not a string of 1-{max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise malformed(f"{self._where}.{key} has the wrong form")
        if _CONTROL.search(value):
            raise malformed(f"{self._where}.{key} holds control characters")
        return value

    def optional_text(self, key: str, *, pattern: Pattern[str] | None = None) -> str | None:
        return self.text(key, pattern=pattern) if key in self._value else None

    def integer(self, key: str, *, low: int = 0, high: int = MAX_SAFE_INTEGER) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise malformed(f"{self._where}.{key} is not an integer in [{low}, {high}]")
        return value

    def text_list(self, key: str, *, pattern: Pattern[str], max_items: int) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list) or len(value) > max_items:
            raise malformed(f"{self._where}.{key} is not a list of at most {max_items}")
        for item in value:
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise malformed(f"{self._where}.{key} holds an item of the wrong form")
        return tuple(str(item) for item in value)
