"""Tearlines and classification marks: which text lines of a message may be released to a
partner, and under which marks.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from relay.core.model import SlackMessage
from relay.core.policy.marking import (
    UNKNOWN_MARK,
    Mark,
    is_tearline,
    line_portions,
    may_carry_mark,
    parse_banner,
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
    cut_units: dict[int, str] = field(default_factory=dict)  # units above the ceiling


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
    several: dict[int, list[tuple[int, int, Mark]]] = {}
    for pi, idx, _ in spans:
        banners = {
            i: m
            for i in idx
            if folds[i][:1].upper() in BANNER_START and (m := parse_banner(folds[i])) is not None
        }
        out.banners[pi] = banners
        for i in idx:
            if i not in banners and may_carry_mark(folds[i]):
                found = line_portions(folds[i])
                if found:
                    portions[i] = max((m for _, _, m in found), key=lambda m: m.rank)
                if len(found) > 1:
                    several[i] = found
    marks = [
        *(m for f in several.values() for _, _, m in f),
        *portions.values(),
        *(m for b in out.banners.values() for m in b.values()),
    ]
    if any(m is UNKNOWN_MARK for m in marks):
        out.unknown_mark = True
    highest = max(marks, key=lambda m: m.rank) if marks else None
    inherited = _inherited(scan, spans, portions, out.banners)
    for pi, idx, _ in spans:
        banners = out.banners[pi]
        for i in idx:
            if i in banners:
                continue
            if i in several:
                mark: Mark | None = _split_line(scan, i, several[i], partner, policy, out)
            else:
                mark = portions.get(i) or inherited.get(i) or highest
            if mark is not None and folds[i]:
                if not releasable(mark, partner, policy.ceiling):
                    out.removed[Reason.MARKING_ABOVE_CEILING] += 1
                    continue
                out.marks[i] = mark
            out.lines.add(i)
    return out


def _inherited(
    scan: Scan,
    spans: list[tuple[int, list[int], bool]],
    portions: dict[int, Mark],
    banners: dict[int, dict[int, Mark]],
) -> dict[int, Mark]:
    """Unmarked lines that take the mark of the line before them: a line that is only a mark
    ("(U//LES)" on its own line) marks the lines after it up to a blank line or the next
    mark; a sentence carried onto the next line keeps its mark there."""
    folds, seg = scan.line_folds, scan.seg
    block_of = {line: b for b, block in enumerate(seg.blocks) for line in block.lines}
    out: dict[int, Mark] = {}
    for pi, idx, _ in spans:
        carry: Mark | None = None
        previous: int | None = None
        for i in idx:
            text = folds[i]
            if not text or i in banners[pi]:
                carry, previous = None, None
                continue
            own = portions.get(i)
            if own is not None:
                lone = _ONLY_MARK.match(text) is not None
                carry = own if lone else None
            elif carry is not None:
                out[i] = carry
            elif previous is not None and (prior := out.get(previous, portions.get(previous))):
                same_block = block_of.get(i) is not None and block_of.get(i) == block_of.get(
                    previous
                )
                if same_block or not _ENDS_SENTENCE.search(folds[previous]):
                    out[i] = prior
            previous = i
    return out


_ONLY_MARK: Final = re.compile(r"^\W*[(\[][^)\]]*[)\]]\W*$")
_ENDS_SENTENCE: Final = re.compile(r"[.!?:]\W*$|[)\]]\s*$")


def _split_line(
    scan: Scan,
    i: int,
    found: list[tuple[int, int, Mark]],
    partner: Partner | None,
    policy: Policy,
    out: Released,
) -> Mark | None:
    """A line holding several portions: each sentence takes the mark that opens it (or, when
    the marks close their sentences, the one after it); sentences above the ceiling are cut
    (``out.cut_units``). The line's mark: the highest that stays (None: nothing stays)."""
    seg = scan.seg
    units = seg.line_units.get(i, [])
    if not units:
        return max((m for _, _, m in found), key=lambda m: m.rank)
    lone = [bool(_ONLY_MARK.match(seg.units[u].fold)) for u in units]
    trailing = lone[-1] and not line_portions(seg.units[units[0]].fold)
    order = list(reversed(units)) if trailing else units
    current: Mark | None = None
    kept: list[Mark] = []
    for u in order:
        own = line_portions(seg.units[u].fold)
        if own:
            # two marks in one sentence ("...; (CUI//SP-INV) a pen register"): the higher
            current = max((m for _, _, m in own), key=lambda m: m.rank)
        mark = current or (found[-1][2] if trailing else found[0][2])
        if releasable(mark, partner, policy.ceiling):
            kept.append(mark)
        elif any(s[0] != i for s in seg.units[u].spans):
            return UNKNOWN_MARK  # a sentence running on to another line: the whole line goes
        else:
            out.cut_units[u] = Reason.MARKING_ABOVE_CEILING
    if not kept:
        return UNKNOWN_MARK  # nothing of the line may go (never releasable)
    return max(kept, key=lambda m: m.rank)


BANNER_START = ("U", "C")
