"""Rebuild the body from the units that survive: cut units out, rewrite tokens, re-banner.

The unit of removal is the sentence (see :mod:`relay.core.policy.units`): a removed unit is
cut out of its line and the rest of the line stays. A ``unit: match`` detector (SSNs)
rewrites only its matches; if a match cannot be located inside one text segment (a value
split across style runs), the whole line goes instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from relay.core.model import Line, Link, Ref, Segment, Text, TextPart
from relay.core.mrkdwn import line_text
from relay.core.policy.contacts import AGENCY_LINE, CONTACT_LINE, SIGNATURE, TITLES
from relay.core.policy.marking import Mark, parse_banner, render_banner
from relay.core.policy.model import Detector, Policy
from relay.core.policy.units import ends_with_abbreviation, sentence_ends
from relay.core.text import compact, fold, strip_invisible

__all__ = ["Rebuild", "has_substance", "rebuild_part", "tidy"]

LINK_REMOVED: Final = "[link removed]"
MENTION_REMOVED: Final = "[mention removed]"
CHANNEL_REMOVED: Final = "[channel removed]"
_WORD: Final = re.compile(r"[A-Za-z]{2,}")
# A contact line (contacts.CONTACT_LINE) counts from a clause on: "Call Det. Ruiz if ...".
_CLAUSE: Final = re.compile(
    r"\b(?:if|when|re|regarding|about|with info(?:rmation)? on)\b", re.IGNORECASE
)
# Openers carry no substance either, but what follows them may ("Heads up: white van on Elm St").
_OPENER: Final = re.compile(
    r"^\W*(?:fyi|fysa|heads up|attention|attn|be advised|all units)\b\W*", re.IGNORECASE
)
# Greetings and sign-offs carry nothing either.
_GREETING: Final = re.compile(
    r"(?i)\b(?:good (?:morning|afternoon|evening)|morning|afternoon|evening|hi|hello|hey|"
    r"greetings|all|team|folks|everyone|guys|thanks|thank you|thx|ty|regards|cheers|"
    r"buenos d[ií]as|buenas tardes|hola|gracias|bom dia|boa tarde|ol[aá]|obrigad[oa])\b[\s,.!:-]*"
)
# What a first line that is plainly substance does not start with (a contact, a greeting, a
# signature, a marking, an opener): anything else with enough words is substance.
_PLAIN_START: Final = re.compile(
    rf"(?i)^\W*(?:{TITLES}|thanks?|thank|thx|ty|regards|cheers|hi|hello|"
    r"hey|morning|afternoon|evening|good|greetings|all|team|folks|everyone|guys|call|contact|"
    r"questions?|report|poc|see|please|pls|fyi|fysa|heads|attention|attn|be|unclassified|cui|"
    r"controlled|u|buenos|buenas|hola|gracias|bom|boa|ola|obrigad\w*|"
    r"[A-Z][\w.&'-]* (?:pd|police))\b"
)
_MAYBE_SENTENCE_END: Final = re.compile(r"[.!?]\s+\S")
_PLACEHOLDERS: Final = re.compile(r"\[(?:link|mention|channel|SSN) removed\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rebuild:
    lines: list[Line]
    reasons: Counter[str]
    top: Mark | None = None  # the highest mark of the lines that survive


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
            out.append(seg if seg.text.isascii() else seg._replace(text=strip_invisible(seg.text)))
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
    released: set[int],
    marks: dict[int, Mark],
    banners: dict[int, Mark],
    cuts: dict[int, list[tuple[int, int]]],
    subst: dict[int, list[Detector]],
) -> Rebuild:
    """The part's lines as they leave: units cut out (``cuts``: line -> removed ranges of
    its display text), token rules applied, references and links resolved, invisible
    characters dropped, the banner recomputed from the portions that survive. A line that
    leaves unchanged is the very same object."""
    reasons: Counter[str] = Counter()
    kept: list[tuple[int, Line | None]] = []  # None marks a banner position
    for offset, line in enumerate(part.lines):
        i = start + offset
        if i in banners:
            kept.append((i, None))
            continue
        if i not in released:
            continue
        ranges = cuts.get(i)
        if ranges:
            cut = cut_line(line, ranges)
            if cut is None:
                continue
            line = cut
        dets = subst.get(i)
        if dets:
            new = _substitute(line, dets, policy, reasons)
            if new is None:
                continue
            line = new
        plain = True
        for seg in line.segments:
            if type(seg) is not Text:
                plain = False
            elif not seg.text.isascii():
                plain = plain and strip_invisible(seg.text) == seg.text
        if not plain:
            line = Line(
                _resolve(line.segments, policy.link_hosts, reasons), line.kind, line.indent
            )
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
            if banner_line is not None:
                lines.append(banner_line)
            elif all(type(seg) is Text and seg.text.isascii() for seg in original.segments):
                lines.append(original)  # the banner still holds: the very same line
            else:
                lines.append(
                    Line(
                        _resolve(original.segments, policy.link_hosts, reasons),
                        original.kind,
                        original.indent,
                    )
                )
        else:
            lines.append(ln)
    top_mark = max(surviving, key=lambda m: m.rank) if surviving else None
    return Rebuild(lines=tidy(lines), reasons=reasons, top=top_mark)


def _width(seg: Segment) -> int:
    """How much of the line's display text (``line_text``) a segment takes."""
    if isinstance(seg, Text):
        return len(seg.text)
    if isinstance(seg, Link):
        return len(seg.label) + 1 + len(seg.url) if seg.label else len(seg.url)
    return len(seg.label)


def cut_line(line: Line, ranges: list[tuple[int, int]]) -> Line | None:
    """``line`` without the given ranges of its display text; None when nothing of
    substance is left. Where text was cut out, the pieces either side are joined by one
    space; a link or reference survives only whole."""
    ranges = sorted(ranges)
    total = sum(_width(s) for s in line.segments)
    keep: list[tuple[int, int]] = []
    pos = 0
    for a, z in ranges:
        if a > pos:
            keep.append((pos, a))
        pos = max(pos, z)
    if pos < total:
        keep.append((pos, total))
    pieces: list[list[Segment]] = []
    for a, z in keep:
        piece: list[Segment] = []
        off = 0
        for seg in line.segments:
            w = _width(seg)
            lo, hi = max(a, off), min(z, off + w)
            if lo < hi:
                if isinstance(seg, Text):
                    piece.append(seg._replace(text=seg.text[lo - off : hi - off]))
                elif lo == off and hi == off + w:
                    piece.append(seg)
            off += w
        if any(not isinstance(s, Text) or s.text.strip() for s in piece):
            pieces.append(piece)
    if not pieces:
        return None
    out: list[Segment] = []
    for n, piece in enumerate(pieces):
        if n:
            _trim(out, end=True)
            piece = list(piece)
            _trim(piece, end=False)
            out.append(Text(" "))
        out.extend(piece)
    _trim(out, end=False)
    _trim(out, end=True)
    body = "".join(s.text for s in out if isinstance(s, Text))
    if not _MEANINGFUL.search(body) and all(isinstance(s, Text) for s in out):
        return None
    return Line(tuple(s for s in out if not isinstance(s, Text) or s.text), line.kind, line.indent)


_MEANINGFUL: Final = re.compile(r"[^\W_]")


def _trim(segments: list[Segment], *, end: bool) -> None:
    """Strip white space at one end of a run of segments (in place)."""
    idx = len(segments) - 1 if end else 0
    while segments and 0 <= idx < len(segments) and isinstance(segments[idx], Text):
        seg = segments[idx]
        assert isinstance(seg, Text)  # noqa: S101
        text = seg.text.rstrip() if end else seg.text.lstrip()
        if text:
            segments[idx] = seg._replace(text=text)
            return
        segments.pop(idx)
        idx = len(segments) - 1 if end else 0


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
    """More than markings, contacts, greetings and signatures: at least ``min_words`` words,
    judged sentence by sentence ("Call me at 555-0153. Det. Haverty, Eastfield PD" is a
    contact and a signature, however it is wrapped)."""
    for line in lines:  # the common case, decided on the first line
        first = fold(line_text(line))
        if first:
            end = _MAYBE_SENTENCE_END.search(first)
            head = first if end is None else first[: end.start() + 1]
            if (
                _PLAIN_START.match(head) is None
                and "[" not in head
                and len(_WORD.findall(head)) >= min_words
            ):
                return True
            break
    words = 0
    for text in _sentences(lines):
        if not text or parse_banner(text) is not None:
            continue
        if len(text) <= 160 and (SIGNATURE.match(text) or AGENCY_LINE.match(text)):
            continue
        text = _GREETING.sub("", text)
        if CONTACT_LINE.match(text):
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


def _sentences(lines: list[Line]) -> Iterator[str]:
    """The folded sentences of the lines, lazily (a sentence broken after an abbreviation at
    a line's end, "... through Det." / "Haverty, Eastfield PD", is read whole)."""
    carry = ""
    for line in lines:
        text = fold(line_text(line))
        if not text:
            continue
        if carry:
            text = carry + " " + text
            carry = ""
        pos = 0
        for cut in sentence_ends(text):
            yield text[pos:cut].strip()
            pos = cut
        rest = text[pos:].strip()
        if rest and rest[-1] == "." and ends_with_abbreviation(rest):
            carry = rest
        elif rest:
            yield rest
    if carry:
        yield carry
