"""What ``relay policy diff`` found, tallied and printed: as text for a person, as one JSON
document for tools. Only counts, partner ORIs, topics, kinds, rule ids, case file names and
message links: never a message's text."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from relay.core.policy.compare import Difference, Kind

__all__ = ["FORMAT", "Change", "DiffReport"]

FORMAT: Final = 1  # the JSON document's "format": raised when its shape changes incompatibly


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One partner's decision on one item changed. ``where``: a case's file name, or a
    message's permalink (None when Slack would not give one; then ``channel`` and ``ts``)."""

    where: str | None
    partner: str
    topic: str
    diff: Difference
    channel: str | None = None
    ts: str | None = None

    def as_json(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {key: self.where}
        if self.channel is not None:
            out |= {"channel": self.channel, "ts": self.ts}
        return out | {
            "partner": self.partner,
            "topic": self.topic,
            "kinds": [k.value for k in self.diff.kinds],
            "rules": {k.value: list(rules) for k, rules in self.diff.rules},
            "started": list(self.diff.started),
            "stopped": list(self.diff.stopped),
        }


@dataclass(slots=True)
class DiffReport:
    """The tally. ``source`` is ``cases`` or ``workspace``; ``old``/``new`` name the two
    policies (file, digest)."""

    source: str
    old: tuple[str, str]
    new: tuple[str, str]
    judged: int = 0  # cases or messages judged
    decisions: int = 0  # partner decisions compared (each judged by both policies)
    changes: list[Change] = field(default_factory=list)

    def add(
        self,
        where: str | None,
        topic: str,
        differences: dict[str, Difference],
        *,
        channel: str | None = None,
        ts: str | None = None,
    ) -> None:
        self.judged += 1
        self.decisions += len(differences)
        for partner, diff in sorted(differences.items()):
            if diff.changed:
                self.changes.append(
                    Change(
                        where=where,
                        partner=partner,
                        topic=topic,
                        diff=diff,
                        channel=channel,
                        ts=ts,
                    )
                )

    @property
    def by_partner(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for c in self.changes:
            for kind in c.diff.kinds:
                out.setdefault(c.partner, Counter())[kind.value] += 1
        return {p: dict(sorted(k.items())) for p, k in sorted(out.items())}

    def _rules(self, side: str) -> dict[str, int]:
        """Rule ids that started (or stopped) firing, with the decisions they did so in."""
        counts: Counter[str] = Counter()
        for c in self.changes:
            counts.update(c.diff.started if side == "started" else c.diff.stopped)
        return dict(sorted(counts.items()))

    @property
    def items(self) -> str:
        return "cases" if self.source == "cases" else "messages"

    def as_json(self) -> dict[str, Any]:
        key = "case" if self.source == "cases" else "link"
        return {
            "format": FORMAT,
            "source": self.source,
            "old": {"file": self.old[0], "digest": self.old[1]},
            "new": {"file": self.new[0], "digest": self.new[1]},
            "judged": self.judged,
            "decisions": self.decisions,
            "changed": len(self.changes),
            "by_partner": self.by_partner,
            "rules": {"started": self._rules("started"), "stopped": self._rules("stopped")},
            "changes": [c.as_json(key) for c in self.changes],
        }

    def json_text(self) -> str:
        return json.dumps(self.as_json(), sort_keys=False, ensure_ascii=True)

    def text(self) -> list[str]:
        out = [
            f"policy diff: {self.judged} {self.items} judged, "
            f"{self.decisions} decisions compared, {len(self.changes)} changed"
        ]
        by_partner = self.by_partner
        if by_partner:
            out.append("changed by partner and kind:")
            for partner, kinds in by_partner.items():
                for kind, n in kinds.items():
                    out.append(f"  {partner}  {kind:<14} {n}")
        for side in ("started", "stopped"):
            fired = self._rules(side)
            listed = ", ".join(f"{r} ({n})" for r, n in fired.items()) or "none"
            out.append(f"rules {side} firing: {listed}")
        if self.changes:
            out.append("changes:")
            for c in self.changes:
                where = c.where or f"{c.channel} {c.ts}"
                shown = ",".join(k.value for k in c.diff.kinds)
                out.append(f"  {where}  {c.partner}  {c.topic}  {shown}  {_rule_note(c.diff)}")
        return out


def _rule_note(diff: Difference) -> str:
    """``+started -stopped`` rule ids, else the rules behind the first kind."""
    marks = [f"+{r}" for r in diff.started] + [f"-{r}" for r in diff.stopped]
    if marks:
        return " ".join(marks)
    first: Kind = diff.kinds[0]
    return ",".join(diff.rules_for(first)) or "-"
