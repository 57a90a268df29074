"""What happened to each unit of a message (``relay policy apply --explain``): the agency's
own view, whose text never leaves its workspace.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from relay.core.model import SlackMessage
from relay.core.policy.analysis import analyze
from relay.core.policy.decide import decide
from relay.core.policy.decision import Decision
from relay.core.policy.model import Action, Partner, Policy
from relay.core.policy.release import release
from relay.core.policy.scan import scan_message

__all__ = ["UnitView", "explain"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitView:
    """One unit as the agency's own analyst sees it (``relay policy apply --explain``): the
    text is the agency's own and never leaves its workspace."""

    index: int
    where: str  # "line 3", "lines 3-4", "file 1 name", "file 1 title", "file 1 alt text"
    status: str  # "kept", "removed", "not released" (tearline, marking), "blocked"
    rules: tuple[str, ...]
    text: str


def explain(
    message: SlackMessage, policy: Policy, partner: Partner | None, *, now: dt.datetime
) -> tuple[Decision, list[UnitView]]:
    """The decision for ``partner`` and what happened to each unit of the message."""
    analysis = analyze(message, policy, now=now)
    decision = decide(analysis, partner)
    scan = analysis.scan if analysis.scan is not None else scan_message(message)
    seg = scan.seg
    removed: dict[int, list[str]] = {}
    for u, rule in decision.trace:
        removed.setdefault(u, []).append(rule)
    released: set[int] | None = None
    if analysis.verdict is None:
        released = release(message, policy, partner, scan).lines
    blocked = decision.action is Action.BLOCK
    fields = ("name", "title", "alt text")
    views: list[UnitView] = []
    for u, unit in enumerate(seg.units):
        lines = [i for i, _, _ in unit.spans]
        if seg.blocks[unit.block].kind == "photo":
            fi, k = scan.photo_lines[lines[0]]
            where = f"file {fi + 1} photo {k + 1}"
        elif seg.blocks[unit.block].kind == "file":
            k = lines[0] - scan.file_start
            where = f"file {k // 3 + 1} {fields[k % 3]}"
        else:
            where = (
                f"line {lines[0] + 1}"
                if len(set(lines)) == 1
                else (f"lines {lines[0] + 1}-{lines[-1] + 1}")
            )
        text = " ".join(scan.texts[i][a:z] for i, a, z in unit.spans)
        if not text.strip():
            continue
        if u in removed:
            status = "removed"
        elif (
            released is not None
            and lines
            and not all(
                i in released for i in lines if i < scan.file_start and i not in scan.photo_lines
            )
        ):
            status = "not released"
        elif blocked:
            status = "blocked"
        else:
            status = "kept"
        views.append(
            UnitView(
                index=u + 1,
                where=where,
                status=status,
                rules=tuple(dict.fromkeys(removed.get(u, ()))),
                text=text,
            )
        )
    return decision, views
