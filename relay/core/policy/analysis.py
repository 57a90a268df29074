"""The partner-independent half of a decision: what blocks a message for everyone, what is
forwarded untouched, and otherwise the detectors and protected people, computed once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from relay.core.model import Line, MessageKind, SlackMessage, Text
from relay.core.policy.decision import Decision, block_decision
from relay.core.policy.detect import Matcher, detector_spans, term_units
from relay.core.policy.language import uncovered
from relay.core.policy.marking import may_carry_mark, parse_banner
from relay.core.policy.model import Action, Detector, Policy, Scope, Stage
from relay.core.policy.outbound import OutboundMessage
from relay.core.policy.people import Anchor, People, TooComplexError, find_people
from relay.core.policy.photo_units import split_hits
from relay.core.policy.redact import has_substance, tidy
from relay.core.policy.release import BANNER_START
from relay.core.policy.scan import Scan, scan_message
from relay.core.reasons import Reason
from relay.core.text import strip_invisible

__all__ = ["Analysis", "analyze"]


@dataclass(slots=True)
class Analysis:
    """Everything about a message that does not depend on the partner: computed once, then
    :func:`decide` runs per partner. Internal caches; not a wire value."""

    message: SlackMessage
    policy: Policy
    verdict: Decision | None  # decided for every partner already (block, delete, untouched)
    scan: Scan | None = None
    matcher: Matcher | None = None
    firing: list[Detector] = field(default_factory=list)
    people: People | None = None


def analyze(message: SlackMessage, policy: Policy, *, now: dt.datetime) -> Analysis:
    """The partner-independent half of a decision."""
    if message.kind is MessageKind.IGNORED:
        return Analysis(message, policy, block_decision((Reason.NOT_RELAYED, 1)))
    if message.unknown:
        return Analysis(
            message, policy, block_decision((Reason.UNKNOWN_FIELD, len(message.unknown)))
        )
    if message.is_bot and (message.bot_id or "") not in policy.bots:
        return Analysis(message, policy, block_decision((Reason.BOT_NOT_FEDERATED, 1)))
    if message.kind is MessageKind.DELETE:
        out = OutboundMessage(
            kind=MessageKind.DELETE, target_ts=message.target_ts, thread_ts=message.thread_ts
        )
        return Analysis(message, policy, Decision(action=Action.FORWARD, message=out, reasons=()))
    blocked: dict[str, int] = {}
    for f in message.files:
        if not f.mimetype or f.mode not in ("hosted", "snippet"):
            blocked[Reason.FILE_UNVERIFIABLE] = blocked.get(Reason.FILE_UNVERIFIABLE, 0) + 1
        elif f.mimetype not in policy.file_types:
            blocked[Reason.FILE_TYPE_NOT_ALLOWED] = (
                blocked.get(Reason.FILE_TYPE_NOT_ALLOWED, 0) + 1
            )
    scan = scan_message(message, photos=policy.photo_text == "checked")
    uncovered = _uncovered_units(scan, policy)
    if uncovered:
        blocked[Reason.LANGUAGE_NOT_COVERED] = uncovered
    matcher = Matcher(policy, scan, now)
    firing = matcher.firing(policy.detectors)
    if not firing and not blocked and not _photos_to_check(message, policy):
        quick = _forward_untouched(message, policy, scan)
        if quick is not None:
            return Analysis(message, policy, quick)
    seg = scan.seg
    every = set(range(len(seg.blocks)))
    photo_blocks = {b for b in every if seg.blocks[b].kind == "photo"}
    text_blocks = {b for b in every if seg.blocks[b].kind == "text"} | photo_blocks
    file_blocks = every - text_blocks | photo_blocks
    for det in firing:
        if det.stage is Stage.WHOLE_MESSAGE and det.action is Action.BLOCK:
            allowed = (text_blocks if Scope.TEXT in det.scope else set()) | (
                file_blocks if Scope.FILES in det.scope else set()
            )
            hit = matcher.detect(det, allowed)
            for rule, n in split_hits(seg, det.id, hit):
                blocked[rule] = blocked.get(rule, 0) + n
    if blocked:
        return Analysis(message, policy, block_decision(*blocked.items()))
    try:
        people = _people(scan, matcher, firing, every)
    except TooComplexError:
        return Analysis(message, policy, block_decision((Reason.TOO_COMPLEX, 1)))
    named = people is not None and (people.units or people.count)
    if people is not None and named and policy.on_source_identity == "block":
        rules = Counter(people.units.values())
        for rule in people.rules:
            rules[rule] = max(rules[rule], 1)
        return Analysis(message, policy, block_decision(*rules.items()))
    return Analysis(message, policy, None, scan, matcher, firing, people)


def _photos_to_check(message: SlackMessage, policy: Policy) -> bool:
    """Images whose text the policy reads: the full path decides (blackout, withheld, not
    checked)."""
    return policy.photo_text == "checked" and any(
        f.mimetype.startswith("image/") for f in message.files
    )


def _uncovered_units(scan: Scan, policy: Policy) -> int:
    """Text units written in a language the policy has no rules for."""
    seg = scan.seg
    count = 0
    for unit in seg.units:
        if seg.blocks[unit.block].kind != "text":
            continue
        fold = unit.fold
        if fold.isascii() and len(fold) < 24:
            continue  # too short to tell (a plate, a name): judged as it is
        raw = " ".join(scan.texts[i][a:z] for i, a, z in unit.spans)
        if uncovered(raw, policy.languages):
            count += 1
    return count


def _people(
    scan: Scan, matcher: Matcher, firing: list[Detector], blocks: set[int]
) -> People | None:
    """Protected people: bound to the matches of detectors that protect (sources,
    undercover officers), over the whole message."""
    anchors: list[Anchor] = []
    sources: dict[int, str] = {}
    for det in firing:
        if not det.protects or det.action is not Action.REDACT:
            continue
        hit = matcher.detect(det, blocks)
        if not hit:
            continue
        for block, start, end in detector_spans(matcher, det, hit):
            if start < 0:
                for u in term_units(scan, matcher, det, block):
                    sources.setdefault(u, det.protects)
                continue
            anchors.append(Anchor(block=block, start=start, end=end, rule=det.protects))
            for u in scan.seg.units_between(block, start, end):
                sources.setdefault(u, det.protects)
    if not sources:
        return None
    if len(anchors) > _MAX_ANCHORS:
        raise TooComplexError
    return find_people(scan.seg, anchors, sources)


_MAX_ANCHORS: Final = 256  # source references in one message: past this, it is not judged


def _body_count(message: SlackMessage) -> int:
    return sum(len(part.lines) for part in message.parts if part.body)


def _forward_untouched(message: SlackMessage, policy: Policy, scan: Scan) -> Decision | None:
    """The common case, decided without per-unit bookkeeping: no detector can fire, and the
    message has no tearline, marking, reference, link, invisible character or shared content
    to handle. Returns None whenever any of that is present (the full path then decides)."""
    folds = scan.line_folds
    if policy.tearline and "tear" in scan.joined.lower():
        return None
    for text in folds[: scan.file_start]:
        first = text[:1]
        if may_carry_mark(text) or (
            first.upper() in BANNER_START and parse_banner(text) is not None
        ):
            return None
    lines: list[Line] = []
    blank: list[bool] = []
    for pi, part in enumerate(message.parts):
        if not part.body:
            if scan.part_start[pi] >= 0 and part.where == "shared_message" and part.lines:
                return None
            continue
        for line in part.lines:
            for seg in line.segments:
                if type(seg) is not Text:
                    return None
                if not seg.text.isascii() and strip_invisible(seg.text) != seg.text:
                    return None
        lines.extend(part.lines)
        start = scan.part_start[pi]
        blank.extend(not folds[i] for i in range(start, start + len(part.lines)))
    for f in message.files:
        for value in (f.name, f.title, f.alt_txt):
            if not value.isascii() and strip_invisible(value) != value:
                return None
    if any(blank):
        lines = tidy(lines)
    if not message.files and not has_substance(lines, policy.min_words):
        return None
    out = OutboundMessage(
        kind=message.kind,
        lines=tuple(lines),
        files=message.files,
        thread_ts=message.thread_ts,
        broadcast=message.broadcast,
        target_ts=message.target_ts,
        rich_text=message.from_blocks,
    )
    return Decision(
        action=Action.FORWARD,
        message=out,
        reasons=(),
        kept_lines=frozenset(range(_body_count(message))),
        kept_files=frozenset(range(len(message.files))),
    )
