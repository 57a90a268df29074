"""The policy engine: one Slack message, one partner, one topic -> a :class:`Decision`.

Order (domain brief §6): partner and topic checks; what the relay cannot evaluate (unknown
fields, ignored subtypes, bots not federated, file types); classified markings anywhere; keep
only what follows the last tearline; drop portions above the partner's ceiling; block
detectors; strip detectors; Slack references and links; block when nothing of substance is
left. Reasons are rule ids with counts, never matched text.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from relay.core.model import Line, MessageKind, SlackMessage, Text
from relay.core.mrkdwn import line_text
from relay.core.policy.marking import (
    UNKNOWN_MARK,
    Mark,
    is_tearline,
    may_carry_mark,
    parse_banner,
    parse_portion,
    releasable,
)
from relay.core.policy.model import Action, Detector, Partner, Policy, Scope, Stage
from relay.core.policy.outbound import OutboundMessage
from relay.core.policy.redact import Rebuild, has_substance, rebuild_part
from relay.core.policy.redact import tidy as _tidy
from relay.core.text import compact, fold, fold_filename, fold_lines

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    rule: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    action: Action
    message: OutboundMessage | None
    reasons: tuple[Reason, ...]


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
    if topic not in policy.topics or topic not in p.share:
        return _block((Rule.TOPIC_NOT_SHARED, 1))
    if now.date() > p.agreement_expires:
        return _block((Rule.AGREEMENT_EXPIRED, 1))
    return judge(message, policy, p, now=now)


def evaluate_inbound(
    message: SlackMessage, policy: Policy, partner: str, topic: str, *, now: dt.datetime
) -> Decision:
    """The receiving agency's own rules over what ``partner`` sent in ``topic``."""
    p = policy.partners.get(partner)
    if p is None:
        return _block((Rule.PARTNER_UNKNOWN, 1))
    if topic not in policy.topics or topic not in p.accept:
        return _block((Rule.TOPIC_NOT_ACCEPTED, 1))
    if now.date() > p.agreement_expires:
        return _block((Rule.AGREEMENT_EXPIRED, 1))
    return judge(message, policy, None, now=now)


@dataclass(slots=True)
class _Scan:
    """Every line the detectors read: text lines of each part, then file fields.

    ``part_start[i]`` is -1 for a part that repeats another part word for word (Slack's
    ``text`` fallback usually mirrors the blocks): it is neither scanned twice nor counted.
    """

    folds: list[str]
    part_start: list[int]
    file_start: int
    joined: str = ""
    starts: list[int] = field(default_factory=list)  # offset of each fold in `joined`


def _scan(message: SlackMessage) -> _Scan:
    folds: list[str] = []
    starts: list[int] = []
    body_folds: list[list[str]] = []
    for part in message.parts:
        part_folds = fold_lines([line_text(line) for line in part.lines])
        if part.body:
            body_folds.append(part_folds)
        elif any(part_folds == b for b in body_folds):
            starts.append(-1)
            continue
        starts.append(len(folds))
        folds.extend(part_folds)
    file_start = len(folds)
    for f in message.files:
        folds.extend((fold_filename(f.name), fold(f.title), fold(f.alt_txt)))
    line_starts = []
    offset = 0
    for text in folds:
        line_starts.append(offset)
        offset += len(text) + 1
    return _Scan(
        starts=line_starts,
        folds=folds,
        part_start=starts,
        file_start=file_start,
        joined="\n".join(folds),
    )


_NOTHING: frozenset[int] = frozenset()


class _Matcher:
    def __init__(self, policy: Policy, scan: _Scan, now: dt.datetime) -> None:
        self.rules = policy.rules
        self.scan = scan
        self.now = now
        self.candidates = self.rules.candidates(scan.joined, scan.starts)
        self.memo: dict[str, dict[int, list[str]]] = {}
        self.compacts: list[str] | None = None
        self.compact_joined = ""
        self.possible = self._possible_sets()

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

    def hits(self, name: str) -> dict[int, list[str]]:
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
                m.upper()
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
    folds = scan.folds
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
            if folds[i][:1] in _BANNER_START and (m := parse_banner(folds[i])) is not None
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
    blocked: dict[str, int] = field(default_factory=dict)  # file-type refusals


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
    matcher = _Matcher(policy, scan, now)
    firing = matcher.firing(policy.detectors)
    if not firing and not blocked:
        quick = _forward_untouched(message, policy, scan)
        if quick is not None:
            return Analysis(message, policy, quick)
    text_lines = set(range(scan.file_start))
    file_lines = set(range(scan.file_start, len(scan.folds)))
    for det in firing:
        if det.stage is Stage.WHOLE_MESSAGE and det.action is Action.BLOCK:
            allowed = (text_lines if Scope.TEXT in det.scope else set()) | (
                file_lines if Scope.FILES in det.scope else set()
            )
            hit = matcher.detect(det, allowed)
            if hit:
                blocked[det.id] = blocked.get(det.id, 0) + len(hit)
    if blocked:
        return Analysis(message, policy, _block(*blocked.items()))
    return Analysis(message, policy, None, scan, matcher, firing)


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
    file_lines = set(range(scan.file_start, len(scan.folds)))
    scopes = {
        frozenset({Scope.TEXT, Scope.FILES}): released.lines | file_lines,
        frozenset({Scope.TEXT}): released.lines,
        frozenset({Scope.FILES}): file_lines,
    }
    blocked: dict[str, int] = {}
    strip: dict[str, set[int]] = {}
    for det in analysis.firing:
        if det.stage is Stage.WHOLE_MESSAGE and det.action is Action.BLOCK:
            continue
        hit = matcher.detect(det, scopes.get(det.scope, set()))
        if not hit:
            continue
        if det.action is Action.BLOCK:
            blocked[det.id] = blocked.get(det.id, 0) + len(hit)
        else:
            strip[det.id] = hit
    if blocked:
        return _block(*blocked.items())
    return _assemble(message, policy, scan, released, strip)


def judge(
    message: SlackMessage, policy: Policy, partner: Partner | None, *, now: dt.datetime
) -> Decision:
    """Apply ``policy`` to ``message`` for ``partner`` (None: the agency's own inbound view)."""
    return decide(analyze(message, policy, now=now), partner)


def evaluate_outbound_all(
    message: SlackMessage, policy: Policy, topic: str, *, now: dt.datetime
) -> dict[str, Decision]:
    """:func:`evaluate_outbound` for every partner of ``policy``, analysing the message once."""
    analysis: Analysis | None = None
    out: dict[str, Decision] = {}
    for ori, p in policy.partners.items():
        if topic not in policy.topics or topic not in p.share:
            out[ori] = _block((Rule.TOPIC_NOT_SHARED, 1))
        elif now.date() > p.agreement_expires:
            out[ori] = _block((Rule.AGREEMENT_EXPIRED, 1))
        else:
            if analysis is None:
                analysis = analyze(message, policy, now=now)
            out[ori] = decide(analysis, p)
    return out


def _forward_untouched(message: SlackMessage, policy: Policy, scan: _Scan) -> Decision | None:
    """The common case, decided without per-line bookkeeping: no detector can fire, and the
    message has no tearline, marking, reference, link or shared content to handle. Returns
    None whenever any of that is present (the full path then decides)."""
    folds = scan.folds
    if policy.tearline and "tear" in scan.joined.lower():
        return None
    for text in folds[: scan.file_start]:
        first = text[:1]
        if may_carry_mark(text) or (first in _BANNER_START and parse_banner(text) is not None):
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
        lines.extend(part.lines)
        start = scan.part_start[pi]
        blank.extend(not folds[i] for i in range(start, start + len(part.lines)))
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
    return Decision(action=Action.FORWARD, message=out, reasons=())


def _assemble(
    message: SlackMessage,
    policy: Policy,
    scan: _Scan,
    released: _Released,
    strip: dict[str, set[int]],
) -> Decision:
    reasons: Counter[str] = Counter(released.removed)
    detectors = {d.id: d for d in policy.detectors}
    body_lines: list[Line] = []
    aux_counts: Counter[str] = Counter()
    for pi, part in enumerate(message.parts):
        start = scan.part_start[pi]
        if start < 0:
            continue
        if not part.body:
            if part.where == "shared_message" and part.lines:
                reasons[Rule.SHARED_DROPPED] += 1
            for rule, hit in strip.items():
                n = sum(1 for i in hit if start <= i < start + len(part.lines))
                aux_counts[rule] = max(aux_counts[rule], n)
            continue
        built: Rebuild = rebuild_part(
            part,
            start,
            policy,
            scan.folds,
            released.lines,
            released.marks,
            released.banners.get(pi, {}),
            strip,
            detectors,
        )
        body_lines.extend(built.lines)
        reasons.update(built.reasons)
    for rule, n in aux_counts.items():
        if n > reasons[rule]:
            reasons[rule] = n
    files = []
    for fi, f in enumerate(message.files):
        base = scan.file_start + 3 * fi
        dropped = [rule for rule, hit in strip.items() if hit & {base, base + 1, base + 2}]
        for rule in dropped:
            reasons[rule] += 1
        if not dropped:
            files.append(f)
    if not has_substance(body_lines, policy.min_words) and not files:
        reasons[Rule.NOTHING_LEFT] += 1
        return Decision(action=Action.BLOCK, message=None, reasons=_sorted(reasons))
    out = OutboundMessage(
        kind=message.kind,
        lines=tuple(body_lines),
        files=tuple(files),
        thread_ts=message.thread_ts,
        broadcast=message.broadcast,
        target_ts=message.target_ts,
        rich_text=message.from_blocks,
    )
    action = Action.REDACT if reasons else Action.FORWARD
    return Decision(action=action, message=out, reasons=_sorted(reasons))


def _sorted(reasons: Counter[str]) -> tuple[Reason, ...]:
    return tuple(Reason(rule=str(r), count=c) for r, c in sorted(reasons.items()) if c > 0)
