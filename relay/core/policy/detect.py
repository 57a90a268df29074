"""Which detectors fire on a scanned message, on which blocks and which units; an
abbreviation the message defines for itself ("Coast Inn (CI)") is not a match.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from relay.core.policy.match import LineHits
from relay.core.policy.model import Detector, Policy
from relay.core.policy.scan import Scan
from relay.core.text import compact

__all__ = ["Matcher", "detector_spans", "term_units", "units_hit"]


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


class Matcher:
    """The policy's pattern sets and detectors over one scanned message, each set matched at
    most once (memoised), and only the sets the prefilter says can match at all."""

    def __init__(self, policy: Policy, scan: Scan, now: dt.datetime) -> None:
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
        if self.rules.across and "\n" in self.scan.joined:
            # a match over two blocks (read as one text): the prefilter on that view too
            flat = self.rules.candidates(self.scan.joined.replace("\n", " "), [0])
            if flat is None:
                return None
            for idx in flat:
                names |= self.rules.sets_of_pattern[idx] & self.rules.across
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


def detector_spans(
    matcher: Matcher, det: Detector, blocks: set[int]
) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for name in det.when[0]:
        for block, matches in matcher.hits(name).items():
            if block in blocks:
                out.extend((block, m[0], m[1]) for m in matches)
    return out


def term_units(scan: Scan, matcher: Matcher, det: Detector, block: int) -> list[int]:
    """Units of ``block`` holding a keyword term seen only in the letters-only view; all of
    them when the term straddles units."""
    seg = scan.seg
    terms = [t for name in det.when[0] for t in matcher.rules.set_terms.get(name, ())]
    found = [u for u in seg.units_of(block) if any(t in compact(seg.units[u].fold) for t in terms)]
    return found or list(seg.units_of(block))


def units_hit(scan: Scan, matcher: Matcher, det: Detector, blocks: set[int]) -> set[int]:
    out: set[int] = set()
    seg = scan.seg
    for block, start, end in detector_spans(matcher, det, blocks):
        if start < 0:
            out.update(term_units(scan, matcher, det, block))
        else:
            out.update(seg.units_between(block, start, end))
    if not out:  # matched through a later group only: the whole block
        for block in blocks:
            out.update(seg.units_of(block))
    return out
