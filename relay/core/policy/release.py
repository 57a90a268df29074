"""Tearlines and classification marks: which text lines of a message may be released to a
partner, and under which marks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from relay.core.model import SlackMessage
from relay.core.policy.marking import (
    UNKNOWN_MARK,
    Mark,
    is_tearline,
    may_carry_mark,
    parse_banner,
    parse_portion,
    releasable,
)
from relay.core.policy.model import Partner, Policy
from relay.core.policy.scan import Scan
from relay.core.reasons import Reason

__all__ = ["BANNER_START", "Released", "release"]


@dataclass(slots=True)
class Released:
    """The text lines that may go (with their marks), and what tearlines and ceilings cut."""

    lines: set[int]
    marks: dict[int, Mark]
    banners: dict[int, dict[int, Mark]]  # part -> line -> banner mark
    removed: Counter[str]
    unknown_mark: bool = False


def release(
    message: SlackMessage, policy: Policy, partner: Partner | None, scan: Scan
) -> Released:
    """Tearline and portion marks, over the whole message: which text lines may go.

    The body (text or blocks, then attachments, in display order) is one document: only what
    follows its last tearline goes. A part that is never sent (the text fallback, metadata)
    is cut at its own last tearline. Unmarked lines take the highest mark anywhere in the
    message, banners included.
    """
    out = Released(lines=set(), marks={}, banners={}, removed=Counter())
    folds = scan.line_folds
    spans: list[tuple[int, list[int], bool]] = []
    for pi, part in enumerate(message.parts):
        start = scan.part_start[pi]
        if start >= 0:
            spans.append((pi, list(range(start, start + len(part.lines))), part.body))
    if policy.tearline and "tear" in scan.joined.lower():
        body_last = max(
            (i for _, idx, body in spans if body for i in idx if is_tearline(folds[i])),
            default=None,
        )
        cut: list[tuple[int, list[int], bool]] = []
        for pi, idx, body in spans:
            last = (
                body_last if body else max((i for i in idx if is_tearline(folds[i])), default=None)
            )
            if last is not None:
                out.removed[Reason.TEARLINE] += sum(1 for i in idx if i <= last and folds[i])
                idx = [i for i in idx if i > last]
            cut.append((pi, idx, body))
        spans = cut
    portions: dict[int, Mark] = {}
    for pi, idx, _ in spans:
        banners = {
            i: m
            for i in idx
            if folds[i][:1].upper() in BANNER_START and (m := parse_banner(folds[i])) is not None
        }
        out.banners[pi] = banners
        for i in idx:
            if i not in banners and may_carry_mark(folds[i]):
                pm = parse_portion(folds[i])
                if pm is not None:
                    portions[i] = pm[0]
    marks = [*portions.values(), *(m for b in out.banners.values() for m in b.values())]
    if any(m is UNKNOWN_MARK for m in marks):
        out.unknown_mark = True
    highest = max(marks, key=lambda m: m.rank) if marks else None
    for pi, idx, _ in spans:
        banners = out.banners[pi]
        for i in idx:
            if i in banners:
                continue
            mark = portions.get(i, highest)
            if mark is not None and folds[i]:
                if not releasable(mark, partner, policy.ceiling):
                    out.removed[Reason.MARKING_ABOVE_CEILING] += 1
                    continue
                out.marks[i] = mark
            out.lines.add(i)
    return out


BANNER_START = ("U", "C")
