"""Where ``relay config check`` puts what it finds: the report of errors and warnings, the line
of relay.yaml each one points at, and the guard that turns a check's crash into one line."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from relay.core.policy.yamlnodes import Loc

__all__ = ["Lines", "Report", "guard", "mode_warning"]


@dataclass(slots=True)
class Report:
    items: list[tuple[str, int, str, str]] = field(default_factory=list)

    def error(self, source: str, line: int, message: str) -> None:
        self.items.append((source, line, "error", message))

    def warning(self, source: str, line: int, message: str) -> None:
        self.items.append((source, line, "warning", message))

    @property
    def errors(self) -> int:
        return sum(1 for item in self.items if item[2] == "error")

    def lines(self) -> list[str]:
        return [f"{src}:{line}: {sev}: {msg}" for src, line, sev, msg in self.items]


class Lines:
    """Line numbers in relay.yaml, from the located YAML (relay/core/policy/yamlnodes.py)."""

    def __init__(self, doc: Loc | None) -> None:
        self.doc = doc

    def at(self, *path: str | int, base: Loc | None = None) -> int:
        """The line of the deepest node of ``path`` that exists (1 without a document)."""
        node = base or self.doc
        if node is None:
            return 1
        line = node.line
        for step in path:
            if isinstance(step, str) and isinstance(node.value, dict) and step in node.value:
                node = node.value[step]
            elif isinstance(step, int) and isinstance(node.value, list):
                if not 0 <= step < len(node.value):
                    return line
                node = node.value[step]
            else:
                return line
            line = node.line
        return line

    def _find(self, items: Loc | None, key: str, value: str) -> Loc | None:
        if items is None or not isinstance(items.value, list):
            return None
        for item in items.value:
            if isinstance(item.value, dict):
                got = item.value.get(key)
                if got is not None and got.value == value:
                    found: Loc = item
                    return found
        return None

    def partner(self, ori: str, section: str = "partners") -> Loc | None:
        """The entry for ``ori`` in ``partners:`` (or another list of agencies: ``origins``)."""
        root: dict[str, Loc] = (
            self.doc.value if self.doc and isinstance(self.doc.value, dict) else {}
        )
        return self._find(root.get(section), "ori", ori)

    def partner_at(self, ori: str, *path: str | int, section: str = "partners") -> int:
        loc = self.partner(ori, section)
        return self.at(*path, base=loc) if loc else self.at(section)

    def key_at(self, ori: str, kid: str, *path: str, section: str = "partners") -> int:
        partner = self.partner(ori, section)
        if partner is None or not isinstance(partner.value, dict):
            return self.at(section)
        key = self._find(partner.value.get("keys"), "kid", kid)
        return self.at(*path, base=key) if key else int(partner.line)


@contextmanager
def guard(report: Report, source: str, line: int, what: str) -> Iterator[None]:
    """A check that fails unexpectedly is one error line, never a traceback."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (or a secret in it)
        report.error(source, line, f"{what}: cannot be checked ({type(exc).__name__})")


def mode_warning(path: Path, what: str, source: str, line: int, report: Report) -> None:
    """A warning when a secret file is readable by group or others."""
    with suppress(OSError):
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            report.warning(source, line, f"{what} {path} is readable by others (chmod 600)")
