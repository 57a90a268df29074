"""Rebuild the body from the lines that survive: strip, rewrite tokens, re-banner.

The redaction unit is the line (BOLO templates put one fact per line). A ``unit: match``
detector (SSNs) rewrites only its matches; if a match cannot be located inside one text
segment (a value split across style runs), the whole line goes instead.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from relay.core.model import Line, Link, Ref, Segment, Text, TextPart
from relay.core.mrkdwn import line_text
from relay.core.policy.marking import Mark, parse_banner, render_banner
from relay.core.policy.model import Detector, Policy, Unit
from relay.core.text import compact, fold

__all__ = ["Rebuild", "has_substance", "rebuild_part", "tidy"]

LINK_REMOVED: Final = "[link removed]"
MENTION_REMOVED: Final = "[mention removed]"
CHANNEL_REMOVED: Final = "[channel removed]"
_WORD: Final = re.compile(r"[A-Za-z]{2,}")
# Lines that are only a contact or a pointer carry no substance of their own.
_CONTACT: Final = re.compile(
    r"^\W*(?:\([A-Z/ -]+\)\s*)?(?:contact|call|questions?|report (?:sightings|info\w*)|poc|"
    r"thanks?|thank you|see (?:below|above|attached)|please advise|"
    r"\[(?:link|mention|channel) removed\])\b",
    re.IGNORECASE,
)
_CLAUSE: Final = re.compile(
    r"\b(?:if|when|re|regarding|about|with info(?:rmation)? on)\b", re.IGNORECASE
)
# Openers carry none either, but what follows them may ("Heads up: white van on Elm St").
_OPENER: Final = re.compile(
    r"^\W*(?:fyi|fysa|heads up|attention|be advised|all units)\b\W*", re.IGNORECASE
)
_PLACEHOLDERS: Final = re.compile(r"\[(?:link|mention|channel|SSN) removed\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rebuild:
    lines: list[Line]
    reasons: Counter[str]


def _host_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    try:
        split = urlsplit(url)
    except ValueError:
        return False
    host = (split.hostname or "").lower()
    if split.scheme not in ("http", "https") or not host:
        return False
    return any(host == h or host.endswith("." + h) for h in hosts)


def _resolve(
    segments: tuple[Segment, ...], hosts: tuple[str, ...], reasons: Counter[str]
) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for seg in segments:
        if isinstance(seg, Text):
            out.append(seg)
        elif isinstance(seg, Link):
            if _host_allowed(seg.url, hosts):
                out.append(seg)
            else:
                reasons["link_not_allowlisted"] += 1
                out.append(Text(text=LINK_REMOVED))
        elif isinstance(seg, Ref):
            reasons["slack_channel" if seg.kind == "channel" else "slack_mention"] += 1
            if seg.kind == "channel":
                out.append(Text(text=CHANNEL_REMOVED))
            elif seg.kind in ("user", "usergroup"):
                out.append(Text(text=MENTION_REMOVED))
    return tuple(out)


def _substitute(
    line: Line, dets: list[Detector], policy: Policy, reasons: Counter[str]
) -> Line | None:
    rules = policy.rules
    segments: list[Segment] = []
    for seg in line.segments:
        if not isinstance(seg, Text):
            segments.append(seg)
            continue
        text = fold(seg.text)
        changed = False
        for det in dets:
            for name in (n for group in det.when for n in group):
                for idx in rules.set_patterns.get(name, ()):
                    text, n = rules.patterns[idx].subn(det.replacement, text)
                    if n:
                        reasons[det.id] += n
                        changed = True
        segments.append(
            Text(text=text, bold=seg.bold, italic=seg.italic, strike=seg.strike, code=seg.code)
            if changed
            else seg
        )
    new = Line(segments=tuple(segments), kind=line.kind, indent=line.indent)
    check = fold(line_text(new))
    letters = compact(check)
    for det in dets:
        for name in (n for group in det.when for n in group):
            regex_hit = any(
                rules.patterns[i].search(check) for i in rules.set_patterns.get(name, ())
            )
            # A term seen only in the letters-only view cannot be rewritten in place: the
            # whole line goes.
            term_hit = any(t in letters for t in rules.set_terms.get(name, ()))
            if regex_hit or term_hit:
                reasons[det.id] += 1
                return None
    return new


def rebuild_part(
    part: TextPart,
    start: int,
    policy: Policy,
    folds: list[str],
    released: set[int],
    marks: dict[int, Mark],
    banners: dict[int, Mark],
    strip: dict[str, set[int]],
    detectors: dict[str, Detector],
) -> Rebuild:
    reasons: Counter[str] = Counter()
    if not strip and not banners and _plain(part.lines):
        plain = [
            part.lines[i - start] for i in range(start, start + len(part.lines)) if i in released
        ]
        return Rebuild(lines=tidy(plain), reasons=reasons)
    kept: list[tuple[int, Line | None]] = []  # None marks a banner position
    for offset, line in enumerate(part.lines):
        i = start + offset
        if i in banners:
            kept.append((i, None))
            continue
        if i not in released:
            continue
        hits = [detectors[rule] for rule, lines in strip.items() if i in lines] if strip else []
        if hits:
            line_rules = [d for d in hits if d.unit is Unit.LINE]
            if line_rules:
                for d in line_rules:
                    reasons[d.id] += 1
                continue
            new = _substitute(line, hits, policy, reasons)
            if new is None:
                continue
            line = new
        for seg in line.segments:
            if type(seg) is not Text:
                line = Line(
                    _resolve(line.segments, policy.link_hosts, reasons), line.kind, line.indent
                )
                break
        kept.append((i, line))
    surviving = [marks[i] for i, ln in kept if ln is not None and i in marks]
    banner_line: Line | None = None
    if banners and surviving:
        top = max(surviving, key=lambda m: m.rank)
        if any(b != top for b in banners.values()):
            banner_line = Line(segments=(Text(text=render_banner(top)),))
    lines: list[Line] = []
    for i, ln in kept:
        if ln is None:
            if not surviving:
                continue
            original = part.lines[i - start]
            lines.append(
                banner_line
                if banner_line is not None
                else Line(
                    _resolve(original.segments, policy.link_hosts, reasons),
                    original.kind,
                    original.indent,
                )
            )
        else:
            lines.append(ln)
    return Rebuild(lines=tidy(lines), reasons=reasons)


def _plain(lines: tuple[Line, ...]) -> bool:
    """Only text segments: nothing for the reference and link rules to rewrite."""
    return all(type(seg) is Text for line in lines for seg in line.segments)


def _blank(line: Line) -> bool:
    return all(type(s) is Text and not s.text.strip() for s in line.segments)


def tidy(lines: list[Line]) -> list[Line]:
    """No leading, trailing or repeated blank lines."""
    if all(line.segments and not _blank(line) for line in lines):
        return lines
    out: list[Line] = []
    for line in lines:
        if _blank(line) and (not out or _blank(out[-1])):
            continue
        out.append(line)
    while out and _blank(out[-1]):
        out.pop()
    return out


def has_substance(lines: list[Line], min_words: int) -> bool:
    """More than markings, contacts and boilerplate: at least ``min_words`` words."""
    words = 0
    for line in lines:
        text = fold(line_text(line))
        if not text or parse_banner(text) is not None:
            continue
        if _CONTACT.match(text):
            # "Contact Det. Ruiz 555-0140 if you see a silver Nissan...": the clause counts.
            clause = _CLAUSE.search(text)
            if clause is None:
                continue
            text = text[clause.end() :]
        text = _OPENER.sub("", text, count=1)
        words += len(_WORD.findall(_PLACEHOLDERS.sub(" ", text)))
        if words >= min_words:
            return True
    return False
