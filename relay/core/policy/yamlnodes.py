"""YAML with line numbers and no silent surprises.

PyYAML keeps the last of two duplicate keys without a word (yaml/pyyaml#165). This module
composes the document into nodes with a ``SafeLoader`` and converts them into :class:`Loc`
values that remember their line, refusing duplicate keys, so every later error can name
``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Loc", "Problems", "parse_yaml"]


@dataclass(frozen=True, slots=True)
class Loc:
    """A YAML value and the 1-based line it starts on. Mappings hold ``dict[str, Loc]``."""

    value: Any
    line: int


@dataclass(slots=True)
class Problems:
    """Collects ``(line, message)`` problems so a check reports all of them at once."""

    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))


def _convert(node: yaml.Node, loader: yaml.SafeLoader, problems: Problems) -> Loc:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Loc] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                problems.add(key_line, "keys must be strings")
                continue
            if key in out:
                problems.add(key_line, f"duplicate key '{key}'")
                continue
            out[key] = _convert(value_node, loader, problems)
        return Loc(out, line)
    if isinstance(node, yaml.SequenceNode):
        return Loc([_convert(n, loader, problems) for n in node.value], line)
    return Loc(loader.construct_object(node), line)


def parse_yaml(text: str, problems: Problems) -> Loc | None:
    """Parse one YAML document; syntax errors become problems, never exceptions."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            problems.add(1, "empty document")
            return None
        return _convert(node, loader, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problems.add(mark.line + 1 if mark else 1, f"YAML syntax error: {exc.problem}")
        return None
    except yaml.YAMLError:
        problems.add(1, "YAML syntax error")
        return None
    finally:
        loader.dispose()
