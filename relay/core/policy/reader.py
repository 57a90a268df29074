"""Typed reading of the located mappings of a policy's YAML: a value of the expected type, or a
``file:line`` problem recorded instead of an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from relay.core.policy.model import Level
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["Reader", "read_level"]

_LEVELS: Final = {
    "unclassified": Level.UNCLASSIFIED,
    "controlled": Level.CONTROLLED,
    "specified": Level.SPECIFIED,
}


class Reader:
    """Typed access to a located mapping, recording problems instead of raising."""

    def __init__(self, loc: Loc, what: str, allowed: Iterable[str], problems: Problems) -> None:
        self.problems = problems
        self.line = loc.line
        self.ok = isinstance(loc.value, dict)
        self.data: dict[str, Loc] = loc.value if self.ok else {}
        if not self.ok:
            problems.add(loc.line, f"{what} must be a mapping")
        allowed_set = set(allowed)
        for key, value in self.data.items():
            if key not in allowed_set:
                problems.add(value.line, f"unknown key '{key}' in {what}")

    def line_of(self, key: str) -> int:
        loc = self.data.get(key)
        return loc.line if loc else self.line

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False
    ) -> Any:
        loc = self.data.get(key)
        if loc is None or loc.value is None:
            if required:
                self.problems.add(self.line, f"missing key '{key}'")
            return default
        if (
            isinstance(loc.value, bool)
            and kind is not bool
            and bool not in (kind if isinstance(kind, tuple) else (kind,))
        ):
            self.problems.add(loc.line, f"'{key}' has the wrong type")
            return default
        if not isinstance(loc.value, kind):
            self.problems.add(loc.line, f"'{key}' has the wrong type")
            return default
        return loc.value

    def strings(self, key: str, required: bool = False) -> list[tuple[str, int]]:
        loc = self.data.get(key)
        if loc is None or loc.value is None:
            if required:
                self.problems.add(self.line, f"missing key '{key}'")
            return []
        items = loc.value if isinstance(loc.value, list) else [loc]
        out: list[tuple[str, int]] = []
        for item in items:
            if isinstance(item.value, str) and item.value:
                out.append((item.value, item.line))
            else:
                self.problems.add(item.line, f"'{key}' must hold non-empty strings")
        return out


def read_level(reader: Reader, key: str, default: Level) -> Level:
    name = reader.get(key, str)
    if name is None:
        return default
    if name not in _LEVELS:
        reader.problems.add(reader.line_of(key), f"'{key}' must be one of {', '.join(_LEVELS)}")
        return default
    return _LEVELS[name]
