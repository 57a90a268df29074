"""The policy engine: one Slack message, one partner, one topic -> a :class:`Decision`.

Order (domain brief §6): partner and topic checks; what the relay cannot evaluate (unknown
fields, ignored subtypes, bots not federated, file types); classified markings anywhere; keep
only what follows the last tearline; drop portions above the partner's ceiling; block
detectors; strip detectors; Slack references and links; block when nothing of substance is
left. Reasons are rule ids with counts, never matched text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

from relay.core.model import Line, MessageKind, SlackFile, SlackMessage, Text
from relay.core.mrkdwn import line_text
from relay.core.policy.language import uncovered
from relay.core.policy.marking import (
    UNKNOWN_MARK,
    Mark,
    is_tearline,
    may_carry_mark,
    parse_banner,
    parse_portion,
    releasable,
)
from relay.core.policy.match import LineHits
from relay.core.policy.model import Action, Detector, Partner, Policy, Scope, Stage, Unit
from relay.core.policy.outbound import OutboundMessage
from relay.core.policy.people import Anchor, People, TooComplexError, find_people
from relay.core.policy.redact import Rebuild, has_substance, rebuild_part
from relay.core.policy.redact import tidy as _tidy
from relay.core.policy.units import Segmented, segment
from relay.core.text import compact, fold_lines, strip_invisible

__all__ = [
    "Analysis",
    "Decision",
    "Reason",
    "Rule",
    "analyze",
    "decide",
    "evaluate_inbound",
    "evaluate_outbound",
    "evaluate_outbound_all",
    "evaluate_relay",
    "explain",
]


class Rule(StrEnum):
    """Built-in reasons; policy detectors add their own ids."""

    PARTNER_UNKNOWN = "partner_unknown"
    TOPIC_NOT_SHARED = "topic_not_shared"
    TOPIC_NOT_ACCEPTED = "topic_not_accepted"
    AGREEMENT_EXPIRED = "agreement_expired"
    UNKNOWN_FIELD = "unknown_field"
    NOT_RELAYED = "not_relayed"
    BOT_NOT_FEDERATED = "bot_not_federated"
    FILE_TYPE = "file_type_not_allowed"
    FILE_UNVERIFIABLE = "file_unverifiable"
    TEARLINE = "tearline"
    MARKING_UNKNOWN = "marking_unknown"
    ABOVE_CEILING = "marking_above_ceiling"
    SHARED_DROPPED = "shared_content_dropped"
    NOTHING_LEFT = "nothing_left"
    LANGUAGE_NOT_COVERED = "language_not_covered"
    TOO_COMPLEX = "too_complex"  # more than the engine will evaluate (fail closed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    rule: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a partner receives. ``kept_lines`` and ``kept_files`` index the body lines (in
    display order across the body parts) and files that leave exactly as they came in, so a
    relay passing a signed envelope on withholds the rest without comparing text; ``trace``
    lists the removed units with their rule ids (for ``relay policy apply --explain``)."""

    action: Action
    message: OutboundMessage | None
    reasons: tuple[Reason, ...]
    kept_lines: frozenset[int] = frozenset()
    kept_files: frozenset[int] = frozenset()
    trace: tuple[tuple[int, str], ...] = ()


# An abbreviation the message defines for itself: "Coast Inn (CI)", "United Cab (UC Taxi)",
# "CI unit (Customer Incident unit)". Such a token means what the message says it means.
_DEFINED_AFTER: Final = re.compile(r"\b((?:[A-Z][a-z]+\s+){1,4})\(([A-Z]{2,4})\b")
_DEFINED_BEFORE: Final = re.compile(r"\b([A-Z]{2,4})(?:\s+\w+)?\s+\(((?:[A-Z][a-z]+\s*){2,4})")


def _defined_abbreviations(text: str) -> frozenset[str]:
    out: set[str] = set()
    for m in _DEFINED_AFTER.finditer(text):
        if "".join(w[0] for w in m.group(1).split()).endswith(m.group(2)):
            out.add(m.group(2))
    for m in _DEFINED_BEFORE.finditer(text):
        if "".join(w[0] for w in m.group(2).split()).startswith(m.group(1)):
            out.add(m.group(1))
    return frozenset(out)


def _not_defined(hits: LineHits, defined: frozenset[str]) -> LineHits:
    out: LineHits = {}
    for block, matches in hits.items():
        kept = [
            m
            for m in matches
            if (m[2].split() or [""])[-1].strip(" .#-()'s").upper() not in defined
        ]
        if kept:
            out[block] = kept
    return out


def _block(*rules: tuple[str, int]) -> Decision:
    return Decision(
        action=Action.BLOCK, message=None, reasons=tuple(Reason(rule=r, count=c) for r, c in rules)
    )


def evaluate_outbound(
    message: SlackMessage, policy: Policy, partner: str, topic: str, *, now: dt.datetime
) -> Decision:
    """What ``partner`` may receive of ``message`` posted in ``topic``."""
    p = policy.partners.get(partner)
    if p is None:
        return _block((Rule.PARTNER_UNKNOWN, 1))
    refused = _refuse_outbound(policy, p, topic, now)
    if refused is not None:
        return refused
    return judge(message, policy, p, now=now)


def evaluate_inbound(
    message: SlackMessage, policy: Policy, partner: str, topic: str, *, now: dt.datetime
) -> Decision:
    """The receiving agency's own rules over what ``partner`` sent in ``topic``."""
    refused = _refuse_inbound(policy, partner, topic, now)
    if refused is not None:
        return refused
    return judge(message, policy, None, now=now)


def _refuse_outbound(policy: Policy, p: Partner, topic: str, now: dt.datetime) -> Decision | None:
    """The block for a partner this agency does not share ``topic`` with today, or None."""
    if topic not in policy.topics or topic not in p.share:
        return _block((Rule.TOPIC_NOT_SHARED, 1))
    if now.date() > p.agreement_expires:
        return _block((Rule.AGREEMENT_EXPIRED, 1))
    return None


def _refuse_inbound(policy: Policy, partner: str, topic: str, now: dt.datetime) -> Decision | None:
    """The block for a sender this agency does not accept ``topic`` from today, or None."""
    p = policy.partners.get(partner)
    if p is None:
        return _block((Rule.PARTNER_UNKNOWN, 1))
    if topic not in policy.topics or topic not in p.accept:
        return _block((Rule.TOPIC_NOT_ACCEPTED, 1))
    if now.date() > p.agreement_expires:
        return _block((Rule.AGREEMENT_EXPIRED, 1))
    return None


@dataclass(slots=True)
class _Scan:
    """What the detectors read, computed once per message.

    ``texts`` holds the display text of every scanned line (each part's lines, then three
    per file: name, title, alt text); ``line_folds`` the folded view of each text line (for
    tearlines and marks). ``part_start[i]`` is -1 for a part that repeats another part word
    for word (Slack's ``text`` fallback usually mirrors the blocks): neither scanned twice
    nor counted. ``seg`` cuts the lines into blocks and units; detectors match the folded
    blocks (``folds``), joined by newlines in ``joined`` with ``starts`` their offsets.
    """

    texts: list[str]
    line_folds: list[str]
    part_start: list[int]
    file_start: int
    seg: Segmented
    folds: list[str] = field(default_factory=list)
    joined: str = ""
    starts: list[int] = field(default_factory=list)


def _scan(message: SlackMessage) -> _Scan:
    texts: list[str] = []
    starts: list[int] = []
    body_texts: list[list[str]] = []
    parts: list[tuple[tuple[Line, ...], int]] = []
    for part in message.parts:
        part_texts = [line_text(line) for line in part.lines]
        if part.body:
            body_texts.append(part_texts)
        elif any(part_texts == b for b in body_texts):
            starts.append(-1)
            continue
        starts.append(len(texts))
        parts.append((part.lines, len(texts)))
        texts.extend(part_texts)
    file_start = len(texts)
    line_folds = fold_lines(texts)
    extra: list[str] = []
    for f in message.files:
        extra.extend((f.name.translate(_FILENAME_SEPARATORS), f.title, f.alt_txt))
    seg = segment(parts, texts, extra, line_folds)
    folds = [b.fold for b in seg.blocks]
    block_starts = []
    offset = 0
    for text in folds:
        block_starts.append(offset)
        offset += len(text) + 1
    return _Scan(
        texts=texts,
        line_folds=line_folds,
        part_start=starts,
        file_start=file_start,
        seg=seg,
        folds=folds,
        joined="\n".join(folds),
        starts=block_starts,
    )


_FILENAME_SEPARATORS: Final = str.maketrans({"_": " ", ".": " ", "-": " "})


_NOTHING: frozenset[int] = frozenset()


class _Matcher:
    def __init__(self, policy: Policy, scan: _Scan, now: dt.datetime) -> None:
        self.rules = policy.rules
        self.scan = scan
        self.now = now
        self.candidates = self.rules.candidates(scan.joined, scan.starts)
        self.memo: dict[str, LineHits] = {}
        self.compacts: list[str] | None = None
        self.compact_joined = ""
        self.possible = self._possible_sets()
        self.defined = _defined_abbreviations(scan.joined) if "(" in scan.joined else frozenset()

    def _possible_sets(self) -> frozenset[str] | None:
        """Sets that can match at all (None: any). Cheap: from the prefilter's candidates."""
        if self.candidates is None:
            return None
        names: set[str] = set()
        for idx in self.candidates:
            names |= self.rules.sets_of_pattern[idx]
        pattern = self.rules.term_pattern
        if pattern is not None:
            joined = self.compact_joined = compact(self.scan.joined)
            for term in set(pattern.findall(joined)):
                names |= self.rules.sets_of_term[term]
        return frozenset(names)

    def hits(self, name: str) -> LineHits:
        found = self.memo.get(name)
        if found is None:
            compacts = None
            terms = self.rules.set_terms.get(name)
            if terms and (self.possible is None or any(t in self.compact_joined for t in terms)):
                if self.compacts is None:
                    self.compacts = [compact(f) for f in self.scan.folds]
                compacts = self.compacts
            found = self.rules.match_set(
                name, self.scan.folds, self.candidates, compacts, self.now
            )
            if self.defined and found:
                found = _not_defined(found, self.defined)
            self.memo[name] = found
        return found

    def may_fire(self, det: Detector) -> bool:
        possible = self.possible
        if possible is None:
            return True
        for group in det.when:
            if possible.isdisjoint(group):
                return False
        return not det.context or not possible.isdisjoint(det.context)

    def firing(self, detectors: tuple[Detector, ...]) -> list[Detector]:
        """The detectors that can fire on this message, in policy order."""
        possible = self.possible
        if possible is None:
            return list(detectors)
        if not possible:
            return []
        cached = self.rules.detector_index
        if cached is None or cached[0] is not detectors:
            index: dict[str, list[int]] = {}
            for i, det in enumerate(detectors):
                for name in det.when[0]:
                    index.setdefault(name, []).append(i)
            cached = (detectors, {k: tuple(v) for k, v in index.items()})
            self.rules.detector_index = cached
        candidates = sorted({i for name in possible for i in cached[1].get(name, ())})
        return [detectors[i] for i in candidates if self.may_fire(detectors[i])]

    def detect(self, det: Detector, allowed: set[int]) -> set[int]:
        lines: set[int] | None = None
        for group in det.when:
            h: set[int] = set()
            for name in group:
                h |= self.hits(name).keys() & allowed
            lines = h if lines is None else lines & h
            if not lines:
                return set()
        assert lines is not None  # noqa: S101 - `when` is never empty
        if det.min_distinct > 1:
            found = {
                m[2].upper()
                for name in det.when[0]
                for i, ms in self.hits(name).items()
                if i in lines
                for m in ms
            }
            if len(found) < det.min_distinct:
                return set()
        if det.context and not any(self.hits(c).keys() & allowed for c in det.context):
            return set()
        return lines


@dataclass(slots=True)
class _Released:
    lines: set[int]
    marks: dict[int, Mark]
    banners: dict[int, dict[int, Mark]]  # part -> line -> banner mark
    removed: Counter[str]
    unknown_mark: bool = False


def _release(
    message: SlackMessage, policy: Policy, partner: Partner | None, scan: _Scan
) -> _Released:
    """Tearline and portion marks, over the whole message: which text lines may go.

    The body (text or blocks, then attachments, in display order) is one document: only what
    follows its last tearline goes. A part that is never sent (the text fallback, metadata)
    is cut at its own last tearline. Unmarked lines take the highest mark anywhere in the
    message, banners included.
    """
    out = _Released(lines=set(), marks={}, banners={}, removed=Counter())
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
                out.removed[Rule.TEARLINE] += sum(1 for i in idx if i <= last and folds[i])
                idx = [i for i in idx if i > last]
            cut.append((pi, idx, body))
        spans = cut
    portions: dict[int, Mark] = {}
    for pi, idx, _ in spans:
        banners = {
            i: m
            for i in idx
            if folds[i][:1].upper() in _BANNER_START and (m := parse_banner(folds[i])) is not None
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
                    out.removed[Rule.ABOVE_CEILING] += 1
                    continue
                out.marks[i] = mark
            out.lines.add(i)
    return out


_BANNER_START = ("U", "C")


@dataclass(slots=True)
class Analysis:
    """Everything about a message that does not depend on the partner: computed once, then
    :func:`decide` runs per partner. Internal caches; not a wire value."""

    message: SlackMessage
    policy: Policy
    verdict: Decision | None  # decided for every partner already (block, delete, untouched)
    scan: _Scan | None = None
    matcher: _Matcher | None = None
    firing: list[Detector] = field(default_factory=list)
    people: People | None = None


def analyze(message: SlackMessage, policy: Policy, *, now: dt.datetime) -> Analysis:
    """The partner-independent half of a decision."""
    if message.kind is MessageKind.IGNORED:
        return Analysis(message, policy, _block((Rule.NOT_RELAYED, 1)))
    if message.unknown:
        return Analysis(message, policy, _block((Rule.UNKNOWN_FIELD, len(message.unknown))))
    if message.is_bot and (message.bot_id or "") not in policy.bots:
        return Analysis(message, policy, _block((Rule.BOT_NOT_FEDERATED, 1)))
    if message.kind is MessageKind.DELETE:
        out = OutboundMessage(
            kind=MessageKind.DELETE, target_ts=message.target_ts, thread_ts=message.thread_ts
        )
        return Analysis(message, policy, Decision(action=Action.FORWARD, message=out, reasons=()))
    blocked: dict[str, int] = {}
    for f in message.files:
        if not f.mimetype or f.mode not in ("hosted", "snippet"):
            blocked[Rule.FILE_UNVERIFIABLE] = blocked.get(Rule.FILE_UNVERIFIABLE, 0) + 1
        elif f.mimetype not in policy.file_types:
            blocked[Rule.FILE_TYPE] = blocked.get(Rule.FILE_TYPE, 0) + 1
    scan = _scan(message)
    uncovered = _uncovered_units(scan, policy)
    if uncovered:
        blocked[Rule.LANGUAGE_NOT_COVERED] = uncovered
    matcher = _Matcher(policy, scan, now)
    firing = matcher.firing(policy.detectors)
    if not firing and not blocked:
        quick = _forward_untouched(message, policy, scan)
        if quick is not None:
            return Analysis(message, policy, quick)
    seg = scan.seg
    every = set(range(len(seg.blocks)))
    text_blocks = {b for b in every if seg.blocks[b].kind == "text"}
    file_blocks = every - text_blocks
    for det in firing:
        if det.stage is Stage.WHOLE_MESSAGE and det.action is Action.BLOCK:
            allowed = (text_blocks if Scope.TEXT in det.scope else set()) | (
                file_blocks if Scope.FILES in det.scope else set()
            )
            hit = matcher.detect(det, allowed)
            if hit:
                blocked[det.id] = blocked.get(det.id, 0) + len(hit)
    if blocked:
        return Analysis(message, policy, _block(*blocked.items()))
    try:
        people = _people(scan, matcher, firing, every)
    except TooComplexError:
        return Analysis(message, policy, _block((Rule.TOO_COMPLEX, 1)))
    named = people is not None and (people.units or people.count)
    if people is not None and named and policy.on_source_identity == "block":
        rules = Counter(people.units.values())
        for rule in people.rules:
            rules[rule] = max(rules[rule], 1)
        return Analysis(message, policy, _block(*rules.items()))
    return Analysis(message, policy, None, scan, matcher, firing, people)


def _uncovered_units(scan: _Scan, policy: Policy) -> int:
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
    scan: _Scan, matcher: _Matcher, firing: list[Detector], blocks: set[int]
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
        for block, start, end in _spans(matcher, det, hit):
            if start < 0:
                for u in _term_units(scan, matcher, det, block):
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


def _spans(matcher: _Matcher, det: Detector, blocks: set[int]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for name in det.when[0]:
        for block, matches in matcher.hits(name).items():
            if block in blocks:
                out.extend((block, m[0], m[1]) for m in matches)
    return out


def _term_units(scan: _Scan, matcher: _Matcher, det: Detector, block: int) -> list[int]:
    """Units of ``block`` holding a keyword term seen only in the letters-only view; all of
    them when the term straddles units."""
    seg = scan.seg
    terms = [t for name in det.when[0] for t in matcher.rules.set_terms.get(name, ())]
    found = [u for u in seg.units_of(block) if any(t in compact(seg.units[u].fold) for t in terms)]
    return found or list(seg.units_of(block))


def _units_hit(scan: _Scan, matcher: _Matcher, det: Detector, blocks: set[int]) -> set[int]:
    out: set[int] = set()
    seg = scan.seg
    for block, start, end in _spans(matcher, det, blocks):
        if start < 0:
            out.update(_term_units(scan, matcher, det, block))
        else:
            out.update(seg.units_between(block, start, end))
    if not out:  # matched through a later group only: the whole block
        for block in blocks:
            out.update(seg.units_of(block))
    return out


def decide(analysis: Analysis, partner: Partner | None) -> Decision:
    """The partner-dependent half: marking ceiling, released-text detectors, rebuild."""
    if analysis.verdict is not None:
        return analysis.verdict
    message, policy = analysis.message, analysis.policy
    scan, matcher = analysis.scan, analysis.matcher
    assert scan is not None  # noqa: S101 - set whenever there is no verdict
    assert matcher is not None  # noqa: S101
    released = _release(message, policy, partner, scan)
    if released.unknown_mark:
        return _block((Rule.MARKING_UNKNOWN, 1))
    seg = scan.seg
    text_blocks: set[int] = set()
    file_blocks: set[int] = set()
    for b, block in enumerate(seg.blocks):
        if block.kind == "file":
            file_blocks.add(b)
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
            blocked[det.id] = blocked.get(det.id, 0) + len(hit)
            continue
        for u in _units_hit(scan, matcher, det, hit):
            if det.unit is Unit.MATCH and seg.blocks[seg.units[u].block].kind == "text":
                for line, _, _ in seg.units[u].spans:
                    dets = subst.setdefault(line, [])
                    if det not in dets:
                        dets.append(det)
            else:
                removed.setdefault(u, det.id)
    if blocked:
        return _block(*blocked.items())
    if analysis.people is not None:
        for u, rule in analysis.people.units.items():
            removed.setdefault(u, rule)
    return _assemble(message, policy, scan, released, removed, subst)


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
    scan = analysis.scan if analysis.scan is not None else _scan(message)
    seg = scan.seg
    removed: dict[int, list[str]] = {}
    for u, rule in decision.trace:
        removed.setdefault(u, []).append(rule)
    released: set[int] | None = None
    if analysis.verdict is None:
        released = _release(message, policy, partner, scan).lines
    blocked = decision.action is Action.BLOCK
    fields = ("name", "title", "alt text")
    views: list[UnitView] = []
    for u, unit in enumerate(seg.units):
        lines = [i for i, _, _ in unit.spans]
        if seg.blocks[unit.block].kind == "file":
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
            and not all(i in released for i in lines if i < scan.file_start)
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


def judge(
    message: SlackMessage, policy: Policy, partner: Partner | None, *, now: dt.datetime
) -> Decision:
    """Apply ``policy`` to ``message`` for ``partner`` (None: the agency's own inbound view)."""
    return decide(analyze(message, policy, now=now), partner)


def evaluate_outbound_all(
    message: SlackMessage, policy: Policy, topic: str, *, now: dt.datetime
) -> dict[str, Decision]:
    """:func:`evaluate_outbound` for every partner of ``policy``, analysing the message once."""
    return _outbound_all(message, policy, topic, now, None)


def evaluate_relay(
    message: SlackMessage, policy: Policy, sender: str, topic: str, *, now: dt.datetime
) -> tuple[Decision, dict[str, Decision]]:
    """What a relay decides of ``message`` received from ``sender`` in ``topic``: the same
    as :func:`evaluate_inbound` and :func:`evaluate_outbound_all`, analysing it once."""
    analysis: Analysis | None = None
    inbound = _refuse_inbound(policy, sender, topic, now)
    if inbound is None:
        analysis = analyze(message, policy, now=now)
        inbound = decide(analysis, None)
    return inbound, _outbound_all(message, policy, topic, now, analysis)


def _outbound_all(
    message: SlackMessage,
    policy: Policy,
    topic: str,
    now: dt.datetime,
    analysis: Analysis | None,
) -> dict[str, Decision]:
    out: dict[str, Decision] = {}
    for ori, p in policy.partners.items():
        refused = _refuse_outbound(policy, p, topic, now)
        if refused is not None:
            out[ori] = refused
        else:
            if analysis is None:
                analysis = analyze(message, policy, now=now)
            out[ori] = decide(analysis, p)
    return out


def _body_count(message: SlackMessage) -> int:
    return sum(len(part.lines) for part in message.parts if part.body)


def _forward_untouched(message: SlackMessage, policy: Policy, scan: _Scan) -> Decision | None:
    """The common case, decided without per-unit bookkeeping: no detector can fire, and the
    message has no tearline, marking, reference, link, invisible character or shared content
    to handle. Returns None whenever any of that is present (the full path then decides)."""
    folds = scan.line_folds
    if policy.tearline and "tear" in scan.joined.lower():
        return None
    for text in folds[: scan.file_start]:
        first = text[:1]
        if may_carry_mark(text) or (
            first.upper() in _BANNER_START and parse_banner(text) is not None
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
        lines = _tidy(lines)
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
    scan: _Scan,
    released: _Released,
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
        if seg.blocks[unit.block].kind == "file":
            continue
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
    for pi, part in enumerate(message.parts):
        start = scan.part_start[pi]
        if start < 0:
            continue
        if not part.body:
            if part.where == "shared_message" and part.lines:
                reasons[Rule.SHARED_DROPPED] += 1
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
        if (name, title, alt) == (f.name, f.title, f.alt_txt):
            files.append(f)
            kept_files.add(fi)
        else:
            files.append(replace(f, name=name, title=title, alt_txt=alt))
    if not has_substance(out_lines, policy.min_words) and not files:
        reasons[Rule.NOTHING_LEFT] += 1
        return Decision(
            action=Action.BLOCK, message=None, reasons=_sorted(reasons), trace=tuple(trace)
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
    action = Action.REDACT if reasons else Action.FORWARD
    return Decision(
        action=action,
        message=out,
        reasons=_sorted(reasons),
        kept_lines=frozenset(kept_lines),
        kept_files=frozenset(kept_files),
        trace=tuple(trace),
    )


def _sorted(reasons: Counter[str]) -> tuple[Reason, ...]:
    return tuple(Reason(rule=str(r), count=c) for r, c in sorted(reasons.items()) if c > 0)
