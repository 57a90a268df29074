"""The partner-dependent half of a decision: the marking ceiling, the detectors over what
may be released, and the message rebuilt from the units that survive.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Final

from relay.core.model import Line, SlackFile, SlackMessage
from relay.core.policy.analysis import Analysis
from relay.core.policy.decision import Decision, block_decision, sorted_reasons
from relay.core.policy.detect import units_hit
from relay.core.policy.marking import Mark, portion_text
from relay.core.policy.model import Action, Detector, Partner, Policy, Scope, Stage, Unit
from relay.core.policy.outbound import OutboundMessage
from relay.core.policy.photo_units import NOT_CHECKED, photo_outcome, split_hits
from relay.core.policy.redact import Rebuild, has_substance, rebuild_part
from relay.core.policy.release import Released, release
from relay.core.policy.scan import Scan
from relay.core.reasons import Reason
from relay.core.text import strip_invisible

__all__ = ["decide"]


def decide(analysis: Analysis, partner: Partner | None) -> Decision:
    """The partner-dependent half: marking ceiling, released-text detectors, rebuild."""
    if analysis.verdict is not None:
        return analysis.verdict
    message, policy = analysis.message, analysis.policy
    scan, matcher = analysis.scan, analysis.matcher
    assert scan is not None  # noqa: S101 - set whenever there is no verdict
    assert matcher is not None  # noqa: S101
    released = release(message, policy, partner, scan)
    if released.unknown_mark:
        return block_decision((Reason.MARKING_UNKNOWN, 1))
    seg = scan.seg
    text_blocks: set[int] = set()
    file_blocks: set[int] = set()
    for b, block in enumerate(seg.blocks):
        if block.kind == "file":
            file_blocks.add(b)
        elif block.kind == "photo":  # a photo's text: read by every detector
            file_blocks.add(b)
            text_blocks.add(b)
        elif any(i in released.lines for i in block.lines):
            text_blocks.add(b)
    scopes = {
        frozenset({Scope.TEXT, Scope.FILES}): text_blocks | file_blocks,
        frozenset({Scope.TEXT}): text_blocks,
        frozenset({Scope.FILES}): file_blocks,
    }
    blocked: dict[str, int] = {}
    removed: dict[int, str] = {}
    subst: dict[int, list[Detector]] = {}
    for det in analysis.firing:
        if det.stage is Stage.WHOLE_MESSAGE and det.action is Action.BLOCK:
            continue
        hit = matcher.detect(det, scopes.get(det.scope, set()))
        if not hit:
            continue
        if det.action is Action.BLOCK:
            if (
                released.cut_units
                and units_hit(scan, matcher, det, hit) <= released.cut_units.keys()
            ):
                continue  # only inside portions cut above the ceiling: that text never leaves
            for rule, n in split_hits(seg, det.id, hit):
                blocked[rule] = blocked.get(rule, 0) + n
            continue
        for u in units_hit(scan, matcher, det, hit):
            if det.unit is Unit.MATCH and seg.blocks[seg.units[u].block].kind == "text":
                for line, _, _ in seg.units[u].spans:
                    dets = subst.setdefault(line, [])
                    if det not in dets:
                        dets.append(det)
            else:
                removed.setdefault(u, det.id)
    if blocked:
        return block_decision(*blocked.items())
    for u, rule in released.cut_units.items():
        removed.setdefault(u, rule)
    if analysis.people is not None:
        for u, rule in analysis.people.units.items():
            removed.setdefault(u, rule)
    return _assemble(message, policy, scan, released, removed, subst)


def _neutral_name(f: SlackFile, n: int) -> str:
    ext = _EXTENSIONS.get(f.mimetype, "")
    return f"photo-{n}{ext}"


_EXTENSIONS: Final = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
}


def _assemble(
    message: SlackMessage,
    policy: Policy,
    scan: Scan,
    released: Released,
    removed: dict[int, str],
    subst: dict[int, list[Detector]],
) -> Decision:
    reasons: Counter[str] = Counter(released.removed)
    seg = scan.seg
    cuts: dict[int, list[tuple[int, int]]] = {}
    trace: list[tuple[int, str]] = []
    aux_counts: Counter[str] = Counter()
    body_lines: set[int] = set()
    for pi, part in enumerate(message.parts):
        start = scan.part_start[pi]
        if start >= 0 and part.body:
            body_lines.update(range(start, start + len(part.lines)))
    for u, rule in sorted(removed.items()):
        unit = seg.units[u]
        if seg.blocks[unit.block].kind != "text":
            continue  # a file's fields and photo text: with the files below
        lines = [i for i, _, _ in unit.spans]
        if not all(i in released.lines for i in lines):
            continue  # above the ceiling or before the tearline: gone already, counted there
        for i, a, z in unit.spans:
            cuts.setdefault(i, []).append((a, z))
        trace.append((u, rule))
        if lines[0] in body_lines:
            reasons[rule] += 1
        else:
            aux_counts[rule] += 1
    for rule, n in aux_counts.items():
        if n > reasons[rule]:
            reasons[rule] = n
    out_lines: list[Line] = []
    top: Mark | None = None
    for pi, part in enumerate(message.parts):
        start = scan.part_start[pi]
        if start < 0:
            continue
        if not part.body:
            if part.where == "shared_message" and part.lines:
                reasons[Reason.SHARED_CONTENT_DROPPED] += 1
            continue
        built: Rebuild = rebuild_part(
            part,
            start,
            policy,
            released.lines,
            released.marks,
            released.banners.get(pi, {}),
            cuts,
            subst,
        )
        out_lines.extend(built.lines)
        reasons.update(built.reasons)
        if built.top is not None and (top is None or built.top.rank > top.rank):
            top = built.top
    survivors = {id(line) for line in out_lines}
    kept_lines: set[int] = set()
    k = 0
    for part in message.parts:
        if part.body:
            for line in part.lines:
                if id(line) in survivors:
                    kept_lines.add(k)
                k += 1
    files: list[SlackFile] = []
    kept_files: set[int] = set()
    for fi, f in enumerate(message.files):
        fields: list[str | None] = []
        for k2 in range(3):
            units = seg.line_units.get(scan.file_start + 3 * fi + k2, [])
            hit = next((removed[u] for u in units if u in removed), None)
            fields.append(hit)
            if hit is not None:
                reasons[hit] += 1
                trace.extend((u, hit) for u in units)
        name, title, alt = (strip_invisible(v) for v in (f.name, f.title, f.alt_txt))
        if fields[0] is not None:
            name = _neutral_name(f, fi + 1)
        if fields[1] is not None:
            title = ""
        if fields[2] is not None:
            alt = ""
        named = f
        if (name, title, alt) != (f.name, f.title, f.alt_txt):
            named = replace(f, name=name, title=title, alt_txt=alt)
        decided = photo_outcome(named, fi, policy, scan, removed, reasons, trace)
        files.append(decided)
        if decided is message.files[fi]:
            kept_files.add(fi)
    if not has_substance(out_lines, policy.min_words) and all(f.withheld for f in files):
        reasons[Reason.NOTHING_LEFT] += 1
        return Decision(
            action=Action.BLOCK, message=None, reasons=sorted_reasons(reasons), trace=tuple(trace)
        )
    out = OutboundMessage(
        kind=message.kind,
        lines=tuple(out_lines),
        files=tuple(files),
        thread_ts=message.thread_ts,
        broadcast=message.broadcast,
        target_ts=message.target_ts,
        rich_text=message.from_blocks,
    )
    # a photo with no pixels to read is reported (never as clean) but changes nothing
    action = Action.REDACT if set(reasons) - {NOT_CHECKED} else Action.FORWARD
    return Decision(
        action=action,
        message=out,
        reasons=sorted_reasons(reasons),
        kept_lines=frozenset(kept_lines),
        kept_files=frozenset(kept_files),
        trace=tuple(trace),
        marking=None if top is None else portion_text(top),
    )
