"""Pattern sets compiled once per policy, matched against a message's folded lines.

Python ``re`` is the judge of every match. When the ``hyperscan`` wheel is present, all of a
policy's patterns are also compiled into one Hyperscan database in prefilter mode
(``HS_FLAG_PREFILTER``: Hyperscan may report a pattern that ``re`` would not match, never the
reverse), and one scan of the message says which patterns can match at all; ``re`` then runs
only those. The fast path is taken only for ASCII text (after folding, nearly every message),
where Hyperscan's and Python's character classes agree; any other text, a pattern Hyperscan
cannot compile, or a missing wheel means ``re`` runs every pattern: slower, never less strict.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from relay.core.policy.model import PatternSet
from relay.core.policy.spanning import across, in_context
from relay.core.policy.units import sentence_ends
from relay.core.text import compact

_hs: Any
try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - the fallback is tested by turning the fast path off
    _hs = None

__all__ = ["Candidates", "CompiledRules", "LineHits", "compile_rules", "hyperscan_available"]

# Dates of birth for `dob_under_age`. Each alternative is its own pattern with a literal
# anchor inside the match (not a lookbehind, which a prefilter drops), so the fast path does
# not flag every four-digit year.
_BIRTH: Final = (
    r"(?:\b(?:DOB|D\.O\.B\.?|born(?: on)?|birth ?date|date of birth|b\.|nacid[oa](?: el)?|"
    r"fecha de nacimiento|f\. ?nac\.?|nascid[oa](?: em)?|data de nascimento)(?:/age)?\W{0,3}"
    r"|(?-i:\b[A-Z][a-z]+ [A-Z][a-z]+),?\s\(?)"
)
_DATES: Final = (
    # a full date is a date of birth only where the text says so (an incident date is not)
    _BIRTH + r"(?P<m>\d{1,2})[/.-](?P<d>\d{1,2})[/.-](?P<y>(?:19|20)\d{2})\b",
    _BIRTH + r"(?P<y>(?:19|20)\d{2})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b",
    r"\bDOB[/: ]\s?(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})\b",
    r"\b(?:DOB|YOB)[/: ]\s?(?P<year>(?:19|20)\d{2})\b(?![/.-]\d)",
    r"\bborn in (?P<year>(?:19|20)\d{2})\b",
    # a two-digit year after a birth label: "DOB 03/14/11" (the century nearest today)
    _BIRTH + r"(?P<m>\d{1,2})[/.-](?P<d>\d{1,2})[/.-](?P<yy>\d{2})\b(?![/.-]\d)",
    # a month written out: "DOB March 14, 2011", "born 14 March 2011"
    _BIRTH + r"(?P<mon>[A-Za-z]{3,9})\.? (?P<d>\d{1,2})(?:st|nd|rd|th)?,? (?P<y>(?:19|20)\d{2})\b",
    _BIRTH + r"(?P<d>\d{1,2}) (?P<mon>[A-Za-z]{3,9})\.?,? (?P<y>(?:19|20)\d{2})\b",
)
_MONTHS: Final = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "january", "enero", "janeiro"),
            ("feb", "february", "febrero", "fevereiro"),
            ("mar", "march", "marzo", "marco"),
            ("apr", "april", "abril"),
            ("may", "mayo", "maio"),
            ("jun", "june", "junio", "junho"),
            ("jul", "july", "julio", "julho"),
            ("aug", "august", "agosto"),
            ("sep", "sept", "september", "septiembre", "setembro"),
            ("oct", "october", "octubre", "outubro"),
            ("nov", "november", "noviembre", "novembro"),
            ("dec", "december", "diciembre", "dezembro"),
        ),
        start=1,
    )
    for name in names
}
_MIN_COMPACT_TERM: Final = 6

# fold index -> (start, end, matched text) of each match; a keyword term found only in the
# letters-only view has no offsets: (-1, -1, term)
LineHits = dict[int, list[tuple[int, int, str]]]
Candidates = dict[int, "set[int] | None"]  # pattern index -> lines it may match (None: all)
_MISSING: Final = object()


def hyperscan_available() -> bool:
    return _hs is not None


def _term_regex(term: str) -> str:
    words = [re.escape(w) for w in term.split()]
    return r"(?<![A-Za-z0-9])" + r"[\W_]*".join(words) + r"(?:s|es)?(?![A-Za-z0-9])"


# Syntax whose meaning differs between Python ``re`` and Hyperscan/PCRE ({,n} is a quantifier in
# Python and literal text in PCRE; \A and \Z anchor the line for ``re`` here but the joined
# text for Hyperscan; \N, \u, \U, \x{ and POSIX classes differ too). A pattern using any of
# them is never prefiltered: ``re`` runs it on every line. (Lookarounds and backreferences
# are fine: prefilter mode approximates them by a superset.)
_NOT_PREFILTERABLE: Final = (
    "{,",
    "\\A",
    "\\Z",
    "\\z",
    "\\N",
    "\\u",
    "\\U",
    "\\x{",
    "(?(",
    "\\Q",
    "[[:",
)


_CONDITIONAL: Final = re.compile(r"(?<!\\)\(\?\(")


# A repeat this wide ("[^\n]{0,60}") costs Hyperscan seconds to compile: such patterns run with re.
_WIDE_REPEAT: Final = re.compile(r"\{\d*,(\d{2,})\}")
_WIDE: Final = 25


def _prefilterable(pattern: str) -> bool:
    if any(part in pattern for part in _NOT_PREFILTERABLE if part != "(?("):
        return False
    if any(int(m.group(1)) >= _WIDE for m in _WIDE_REPEAT.finditer(pattern)):
        return False
    return _CONDITIONAL.search(pattern) is None  # "\(?(?:" is an optional "(", not "(?("


def _hs_expression(pattern: str) -> bytes:
    return pattern.encode()


@dataclass(slots=True)
class CompiledRules:
    patterns: list[re.Pattern[str]]
    set_patterns: dict[str, list[int]]
    sets_of_pattern: list[frozenset[str]]  # pattern index -> the sets it belongs to
    set_terms: dict[str, tuple[str, ...]]
    set_dob_age: dict[str, int]
    # set name -> (before, after, near) look-alike guards, compiled (see PatternSet)
    set_unless: dict[str, tuple[re.Pattern[str] | None, ...]] = field(default_factory=dict)
    term_pattern: re.Pattern[str] | None = None  # every compact term, one alternation
    # (detectors, set name -> indices of detectors whose first group names the set); rebuilt
    # whenever the detectors tuple is not the one it was built for
    detector_index: tuple[object, dict[str, tuple[int, ...]]] | None = None
    sets_of_term: dict[str, frozenset[str]] = field(default_factory=dict)
    across: frozenset[str] = frozenset()  # sets also matched over blocks joined
    list_letters: frozenset[str] = frozenset()
    quoted: frozenset[str] = frozenset()
    database: Any = None
    always: frozenset[int] = frozenset()
    use_fast_path: bool = True

    def candidates(self, joined: str, starts: list[int]) -> Candidates | None:
        """Which patterns may match, and on which lines; None means run them all everywhere.

        ``joined`` is the message's folded lines joined by newlines, ``starts`` the offset of
        each line in it. Every match ``re`` can find on one line is also a match of the
        prefilter pattern in ``joined`` (the prefilter language is a superset, and line edges
        read the same as the newline), so its end offset is reported and its line is listed.
        """
        if self.database is None or not self.use_fast_path or not joined.isascii():
            return None
        found: Candidates = dict.fromkeys(self.always)
        self.database.scan(joined.encode(), match_event_handler=_collect, context=(found, starts))
        return found

    def match_set(
        self,
        name: str,
        folds: list[str],
        candidates: Candidates | None,
        compacts: list[str] | None,
        now: dt.datetime | None,
    ) -> LineHits:
        hits: LineHits = {}
        age = self.set_dob_age.get(name)
        unless = self.set_unless.get(name)
        for idx in self.set_patterns.get(name, ()):
            lines: Iterable[int]
            if name in self.across and len(folds) > 1:
                for block, span in across(self.patterns[idx], folds, quoted=name in self.quoted):
                    if unless is None or not _looks_alike(span[3], span[4], unless):
                        hits.setdefault(block, []).append(span[:3])
            if candidates is None:
                lines = range(len(folds))
            elif idx not in candidates:
                continue
            else:
                where = candidates[idx]
                lines = range(len(folds)) if where is None else sorted(where)
            pattern = self.patterns[idx]
            search = pattern.search
            for i in lines:
                line = folds[i]
                if not line or search(line) is None:
                    continue
                found = [m for m in pattern.finditer(line) if m.group(0)]
                if age is not None:
                    found = [m for m in found if _is_minor(m, age, now)]
                if unless is not None:
                    found = [m for m in found if not _looks_alike(line, m, unless)]
                if found:
                    spans = [(m.start(), m.end(), m.group(0)) for m in found]
                    if name in self.list_letters or name in self.quoted:
                        spans = in_context(
                            folds,
                            i,
                            spans,
                            letters=name in self.list_letters,
                            quoted=name in self.quoted,
                        )
                    if spans:
                        hits.setdefault(i, []).extend(spans)
        terms = self.set_terms.get(name)
        if terms and compacts is not None:
            joined = "\n".join(compacts)
            for term in terms:
                if term in joined:
                    for i, c in enumerate(compacts):
                        if term in c:
                            hits.setdefault(i, []).append((-1, -1, term))
        return hits


def _collect(pattern_id: int, start: int, end: int, flags: int, context: Any) -> None:
    found, starts = context
    line = bisect_right(starts, end - 1) - 1
    where = found.get(pattern_id, _MISSING)
    if where is _MISSING:
        found[pattern_id] = {line}
    elif where is not None:
        where.add(line)


def _looks_alike(line: str, m: re.Match[str], unless: tuple[re.Pattern[str] | None, ...]) -> bool:
    before, after, near = unless
    start, end = m.start(), m.end()
    if before is not None and before.search(line, max(0, start - 48), start) is not None:
        return True
    if after is not None and after.match(line, end) is not None:
        return True
    if near is None:
        return False
    # "near": in the same sentence (abbreviation-aware, as units are cut)
    lo, hi = 0, len(line)
    for cut in sentence_ends(line):
        if cut <= start:
            lo = cut
        elif cut >= end:
            hi = cut
            break
    return near.search(line, lo, hi) is not None


def _is_minor(m: re.Match[str], age_limit: int, now: dt.datetime | None) -> bool:
    """Could the person born on this date be under ``age_limit`` at ``now``?

    A year alone counts as a minor when any birthday in that year would (fail closed).
    """
    if now is None:
        return False
    g = m.groupdict()
    today = now.date()
    year_only = g.get("year")
    if year_only:
        return 0 <= today.year - int(year_only) <= age_limit
    try:
        month = _MONTHS.get(g["mon"].lower(), 0) if g.get("mon") else int(g["m"])
        if g.get("yy"):
            year = 2000 + int(g["yy"])
            if year > today.year:
                year -= 100  # "03/14/91" is 1991
        else:
            year = int(g["y"])
        born = dt.date(year, month, int(g["d"]))
    except (TypeError, ValueError, KeyError):
        return False
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return 0 <= years < age_limit


def compile_rules(sets: dict[str, PatternSet], *, fast_path: bool = True) -> CompiledRules:
    patterns: list[re.Pattern[str]] = []
    caseless: list[bool] = []
    set_patterns: dict[str, list[int]] = {}
    set_terms: dict[str, tuple[str, ...]] = {}
    set_dob_age: dict[str, int] = {}
    for name, ps in sets.items():
        flags = 0 if ps.case_sensitive else re.IGNORECASE
        sources = list(ps.regexes) + [_term_regex(t) for t in ps.terms]
        if ps.dob_under_age is not None:
            set_dob_age[name] = ps.dob_under_age
            sources.extend(_DATES)
        indices = []
        for src in sources:
            patterns.append(re.compile(src, flags))
            caseless.append(not ps.case_sensitive)
            indices.append(len(patterns) - 1)
        set_patterns[name] = indices
        long_terms = tuple(
            c for c in (compact(t) for t in ps.terms) if len(c) >= _MIN_COMPACT_TERM
        )
        if long_terms:
            set_terms[name] = long_terms
    set_unless: dict[str, tuple[re.Pattern[str] | None, ...]] = {}
    for name, ps in sets.items():
        if ps.unless_before or ps.unless_after or ps.unless_near:
            flags = 0 if ps.case_sensitive else re.IGNORECASE
            set_unless[name] = (
                re.compile(f"(?:{ps.unless_before})\\s{{0,2}}$", flags)
                if ps.unless_before
                else None,
                re.compile(ps.unless_after, flags) if ps.unless_after else None,
                re.compile(ps.unless_near, flags) if ps.unless_near else None,
            )
    rules = CompiledRules(
        across=frozenset(n for n, ps in sets.items() if ps.across_lines),
        list_letters=frozenset(n for n, ps in sets.items() if ps.list_letters),
        quoted=frozenset(n for n, ps in sets.items() if ps.unless_quoted),
        set_unless=set_unless,
        patterns=patterns,
        set_patterns=set_patterns,
        sets_of_pattern=[
            frozenset(k for k, v in set_patterns.items() if i in v) for i in range(len(patterns))
        ],
        set_terms=set_terms,
        set_dob_age=set_dob_age,
        use_fast_path=fast_path,
    )
    if set_terms:
        every = sorted({t for terms in set_terms.values() for t in terms}, key=len, reverse=True)
        # A lookahead at every position finds each place a term starts, overlapping or not;
        # the longest term wins at a position, so it also stands for every term inside it.
        rules.term_pattern = re.compile("(?=(" + "|".join(re.escape(t) for t in every) + "))")
        rules.sets_of_term = {
            t: frozenset(n for n, terms in set_terms.items() if any(u in t for u in terms))
            for t in every
        }
    if _hs is not None and len(patterns) > 0:
        _build_database(rules, caseless)
    return rules


_KEPT_DATABASES: Final = 16
# patterns (and caseless flags) -> (database, patterns run with ``re`` everywhere)
_DATABASES: OrderedDict[tuple[tuple[str, bool], ...], tuple[Any, frozenset[int]]] = OrderedDict()


def _build_database(rules: CompiledRules, caseless: list[bool]) -> None:
    """One Hyperscan database for every prefilterable pattern. Compiled in one go (the usual
    case: compiling each pattern alone first would double a policy's load time); only when
    that fails are the patterns tried one by one, and those Hyperscan refuses run with ``re``
    on every block."""
    assert _hs is not None  # noqa: S101 - guarded by the caller
    # The same patterns compile to the same database: relays of one process (the lab, the
    # tests) and a policy read again share it instead of compiling it again (a second each).
    key = tuple((p.pattern, caseless[i]) for i, p in enumerate(rules.patterns))
    kept = _DATABASES.get(key)
    if kept is not None:
        _DATABASES.move_to_end(key)
        rules.database, rules.always = kept
        return
    _compile_database(rules, caseless)
    _DATABASES[key] = (rules.database, rules.always)
    while len(_DATABASES) > _KEPT_DATABASES:
        _DATABASES.popitem(last=False)


def _compile_database(rules: CompiledRules, caseless: list[bool]) -> None:
    assert _hs is not None  # noqa: S101 - guarded by the caller
    base = _hs.HS_FLAG_PREFILTER | _hs.HS_FLAG_MULTILINE
    always = {i for i, p in enumerate(rules.patterns) if not _prefilterable(p.pattern)}
    ok = [i for i in range(len(rules.patterns)) if i not in always]

    def compile_all(ids: list[int]) -> Any:
        db = _hs.Database()
        db.compile(
            expressions=[_hs_expression(rules.patterns[i].pattern) for i in ids],
            ids=ids,
            elements=len(ids),
            flags=[base | (_hs.HS_FLAG_CASELESS if caseless[i] else 0) for i in ids],
        )
        return db

    if ok:
        try:
            rules.database = compile_all(ok)
        except _hs.error:
            good = []
            for i in ok:
                try:
                    compile_all([i])
                    good.append(i)
                except _hs.error:
                    always.add(i)
            rules.database = compile_all(good) if good else None
    rules.always = frozenset(always)
