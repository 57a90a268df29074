"""Policy YAML text to a :class:`Policy`, failing closed with ``file:line`` problems.

``load_policy`` takes text, not a path (the caller reads files), and today's date (expired
agreements refuse to load). ``extends: other.yaml`` inherits the rules (patterns, detectors and
defaults, never the agency or partners) of another policy through an injected ``resolve``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from relay.core.model import AgencyId
from relay.core.policy.match import compile_rules
from relay.core.policy.model import (
    Action,
    Detector,
    Level,
    Partner,
    PatternSet,
    Policy,
    Scope,
    Stage,
    Unit,
)
from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml
from relay.errors import PolicyError

__all__ = ["ORI_PATTERN", "PolicyLoadError", "Resolver", "load_policy"]

ORI_PATTERN: Final = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")
_RULE_ID: Final = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
_TOPIC: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_HOST: Final = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z0-9-]+$")
_PARTNER_KINDS: Final = frozenset(
    {
        "law_enforcement",
        "parole_probation",
        "fusion_center",
        "prosecutor",
        "federal",
        "corrections",
    }
)
_LEVELS: Final = {
    "unclassified": Level.UNCLASSIFIED,
    "controlled": Level.CONTROLLED,
    "specified": Level.SPECIFIED,
}
_DEFAULT_FILE_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")

Resolver = Callable[[str], tuple[str, str]]  # name -> (text, source)


class PolicyLoadError(PolicyError):
    """All problems of one file; ``str()`` gives one ``file:line: message`` per line."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        first_line, first = problems[0]
        super().__init__(first, source=source, line=first_line)
        self.problems = sorted(problems)

    def lines(self) -> list[str]:
        return [f"{self.source}:{line}: {msg}" for line, msg in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class _Reader:
    """Typed access to a located mapping, recording problems instead of raising."""

    def __init__(self, loc: Loc, what: str, allowed: Iterable[str], problems: Problems) -> None:
        self.problems = problems
        self.line = loc.line
        self.ok = isinstance(loc.value, dict)
        self.data: dict[str, Loc] = loc.value if self.ok else {}
        if not self.ok:
            problems.add(loc.line, f"{what} must be a mapping")
        allowed_set = set(allowed)
        for key, value in self.data.items():
            if key not in allowed_set:
                problems.add(value.line, f"unknown key '{key}' in {what}")

    def line_of(self, key: str) -> int:
        loc = self.data.get(key)
        return loc.line if loc else self.line

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False
    ) -> Any:
        loc = self.data.get(key)
        if loc is None or loc.value is None:
            if required:
                self.problems.add(self.line, f"missing key '{key}'")
            return default
        if (
            isinstance(loc.value, bool)
            and kind is not bool
            and bool not in (kind if isinstance(kind, tuple) else (kind,))
        ):
            self.problems.add(loc.line, f"'{key}' has the wrong type")
            return default
        if not isinstance(loc.value, kind):
            self.problems.add(loc.line, f"'{key}' has the wrong type")
            return default
        return loc.value

    def strings(self, key: str, required: bool = False) -> list[tuple[str, int]]:
        loc = self.data.get(key)
        if loc is None or loc.value is None:
            if required:
                self.problems.add(self.line, f"missing key '{key}'")
            return []
        items = loc.value if isinstance(loc.value, list) else [loc]
        out: list[tuple[str, int]] = []
        for item in items:
            if isinstance(item.value, str) and item.value:
                out.append((item.value, item.line))
            else:
                self.problems.add(item.line, f"'{key}' must hold non-empty strings")
        return out


def _level(reader: _Reader, key: str, default: Level) -> Level:
    name = reader.get(key, str)
    if name is None:
        return default
    if name not in _LEVELS:
        reader.problems.add(reader.line_of(key), f"'{key}' must be one of {', '.join(_LEVELS)}")
        return default
    return _LEVELS[name]


def _pattern_set(name: str, loc: Loc, problems: Problems) -> PatternSet:
    r = _Reader(
        loc,
        f"pattern set '{name}'",
        {
            "regex",
            "terms",
            "case_sensitive",
            "dob_under_age",
            "unless_before",
            "unless_after",
            "unless_near",
        },
        problems,
    )
    case_sensitive = bool(r.get("case_sensitive", bool, False))
    flags = 0 if case_sensitive else re.IGNORECASE
    regexes = r.strings("regex")
    for pattern, line in regexes:
        try:
            re.compile(pattern, flags)
        except re.error as exc:
            problems.add(
                line, f"bad regex in pattern set '{name}': {exc.msg} at position {exc.pos}"
            )
    unless: dict[str, str] = {}
    for key in ("unless_before", "unless_after", "unless_near"):
        value = r.get(key, str, "") or ""
        if value:
            try:
                re.compile(value, flags)
            except re.error as exc:
                problems.add(
                    r.line_of(key),
                    f"bad regex in '{key}' of pattern set '{name}': {exc.msg} at position "
                    f"{exc.pos}",
                )
        unless[key] = value
    age = r.get("dob_under_age", int)
    terms = r.strings("terms")
    if not regexes and not terms and age is None:
        problems.add(loc.line, f"pattern set '{name}' has no regex, terms or dob_under_age")
    return PatternSet(
        name=name,
        regexes=tuple(p for p, _ in regexes),
        terms=tuple(t for t, _ in terms),
        case_sensitive=case_sensitive,
        dob_under_age=age,
        unless_before=unless["unless_before"],
        unless_after=unless["unless_after"],
        unless_near=unless["unless_near"],
    )


def _groups(loc: Loc | None, r: _Reader, problems: Problems) -> list[list[tuple[str, int]]]:
    """``when``: a list whose items are a pattern-set name or a list of names (any of)."""
    if loc is None or not isinstance(loc.value, (list, str)) or not loc.value:
        problems.add(loc.line if loc else r.line, "'when' must list pattern sets")
        return []
    items = loc.value if isinstance(loc.value, list) else [loc]
    groups: list[list[tuple[str, int]]] = []
    for item in items:
        names = item.value if isinstance(item.value, list) else [item]
        group = [(n.value, n.line) for n in names if isinstance(n.value, str)]
        if len(group) != len(names) or not group:
            problems.add(item.line, "'when' items must be pattern-set names or lists of them")
        else:
            groups.append(group)
    return groups


def _detector(loc: Loc, sets: dict[str, PatternSet], problems: Problems) -> Detector | None:
    r = _Reader(
        loc,
        "detector",
        {
            "id",
            "action",
            "when",
            "context",
            "min_distinct",
            "scope",
            "stage",
            "unit",
            "replacement",
            "protects",
            "note",
        },
        problems,
    )
    rule_id = r.get("id", str, required=True)
    if rule_id is not None and not _RULE_ID.match(rule_id):
        problems.add(r.line_of("id"), "detector id must be lower-case letters, digits, . _ -")
    action_name = r.get("action", str, required=True)
    action = {"strip": Action.REDACT, "block": Action.BLOCK}.get(action_name or "")
    if action_name is not None and action is None:
        problems.add(r.line_of("action"), "action must be 'strip' or 'block'")
    when = _groups(r.data.get("when"), r, problems)
    context = r.strings("context")
    for set_name, line in [*(x for g in when for x in g), *context]:
        if set_name not in sets:
            problems.add(line, f"unknown pattern set '{set_name}'")
    scopes = r.strings("scope")
    scope_values: set[Scope] = set()
    for s, line in scopes:
        try:
            scope_values.add(Scope(s))
        except ValueError:
            problems.add(line, "scope must be 'text' or 'files'")
    stage_name = r.get("stage", str, "released")
    unit_name = r.get("unit", str, "line")
    try:
        stage, unit = Stage(stage_name), Unit(unit_name)
    except ValueError:
        problems.add(r.line, "stage must be whole_message|released, unit line|match")
        return None
    if unit is Unit.MATCH and action is Action.BLOCK:
        problems.add(r.line_of("unit"), "unit 'match' only applies to strip detectors")
    min_distinct = r.get("min_distinct", int, 1)
    protects = r.get("protects", str, "") or ""
    if protects and not _RULE_ID.match(protects):
        problems.add(r.line_of("protects"), "protects must name a rule id")
    if protects and action is Action.BLOCK:
        problems.add(r.line_of("protects"), "protects only applies to strip detectors")
    if rule_id is None or action is None or not when:
        return None
    return Detector(
        id=rule_id,
        action=action,
        when=tuple(tuple(n for n, _ in g) for g in when),
        context=tuple(c for c, _ in context),
        min_distinct=max(1, min_distinct),
        scope=frozenset(scope_values) or frozenset({Scope.TEXT, Scope.FILES}),
        stage=stage,
        unit=unit,
        replacement=r.get("replacement", str, "") or "",
        protects=protects,
    )


def _partner(
    loc: Loc, topics: set[str], default_ceiling: Level, today: dt.date, problems: Problems
) -> Partner | None:
    r = _Reader(
        loc,
        "partner",
        {
            "ori",
            "name",
            "state",
            "kind",
            "agreement",
            "share",
            "accept",
            "ceiling",
            "allow_categories",
            "redisseminate",
        },
        problems,
    )
    ori = r.get("ori", str, required=True)
    if ori is not None and not ORI_PATTERN.match(ori):
        problems.add(r.line_of("ori"), "partner ori must match ^[A-Z]{2}[A-Z0-9]{7}$")
    kind = r.get("kind", str, required=True)
    if kind is not None and kind not in _PARTNER_KINDS:
        problems.add(r.line_of("kind"), f"unknown partner kind '{kind}'")
    agreement_loc = r.data.get("agreement")
    agreement_id, expires = "", dt.date.min
    if agreement_loc is None:
        problems.add(r.line, "missing key 'agreement' (information exchange agreement)")
    else:
        a = _Reader(agreement_loc, "agreement", {"id", "expires"}, problems)
        agreement_id = a.get("id", str, "", required=True) or ""
        expires = a.get("expires", dt.date, dt.date.min, required=True)
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        if a.data.get("expires") and expires < today:
            problems.add(
                a.line_of("expires"),
                f"agreement {agreement_id or '?'} expired on {expires.isoformat()}",
            )
    share, accept = r.strings("share"), r.strings("accept")
    for topic, line in [*share, *accept]:
        if topic not in topics:
            problems.add(line, f"topic '{topic}' is not one of this agency's topics")
    if ori is None or kind is None:
        return None
    return Partner(
        ori=AgencyId(ori),
        name=r.get("name", str, "", required=True) or "",
        kind=kind,
        state=r.get("state", str, "") or "",
        agreement_id=agreement_id,
        agreement_expires=expires,
        share=frozenset(t for t, _ in share),
        accept=frozenset(t for t, _ in accept),
        ceiling=_level(r, "ceiling", default_ceiling),
        allow_categories=frozenset(c.upper() for c, _ in r.strings("allow_categories")),
        redisseminate=bool(r.get("redisseminate", bool, False)),
    )


_TOP_KEYS: Final = {
    "version",
    "extends",
    "agency",
    "topics",
    "ceiling",
    "tearline",
    "links",
    "files",
    "bots",
    "substance",
    "partners",
    "patterns",
    "detectors",
    "disable",
    "cancellations",
    "on_source_identity",
    "languages",
}
_LANGUAGE: Final = re.compile(r"^[a-z]{2}$")


def _rules(
    root: _Reader, base: Policy | None, problems: Problems
) -> tuple[dict[str, PatternSet], list[Detector]]:
    sets = dict(base.pattern_sets) if base else {}
    patterns_loc = root.data.get("patterns")
    if patterns_loc is not None:
        if isinstance(patterns_loc.value, dict):
            for name, loc in patterns_loc.value.items():
                sets[name] = _pattern_set(name, loc, problems)
        else:
            problems.add(patterns_loc.line, "'patterns' must be a mapping")
    detectors = list(base.detectors) if base else []
    disabled = {d for d, _ in root.strings("disable")}
    detectors = [d for d in detectors if d.id not in disabled]
    det_loc = root.data.get("detectors")
    if det_loc is not None:
        if isinstance(det_loc.value, list):
            for loc in det_loc.value:
                det = _detector(loc, sets, problems)
                if det is not None:
                    if any(d.id == det.id for d in detectors):
                        problems.add(loc.line, f"duplicate detector id '{det.id}'")
                    detectors.append(det)
        else:
            problems.add(det_loc.line, "'detectors' must be a list")
    if not detectors:
        problems.add(root.line, "no detectors: a policy without rules would let everything out")
    return sets, detectors


def load_policy(
    text: str, *, source: str, today: dt.date, resolve: Resolver | None = None
) -> Policy:
    """Load a policy or raise :class:`PolicyLoadError` listing every problem found."""
    problems = Problems()
    doc = parse_yaml(text, problems)
    if doc is None:
        raise PolicyLoadError(source, problems.items)
    root = _Reader(doc, "policy", _TOP_KEYS, problems)
    base: Policy | None = None
    extends = root.get("extends", str)
    if extends is not None:
        if resolve is None:
            problems.add(root.line_of("extends"), "'extends' cannot be resolved here")
        else:
            try:
                base_text, base_source = resolve(extends)
                base = load_policy(base_text, source=base_source, today=today, resolve=None)
            except PolicyLoadError as exc:
                problems.add(
                    root.line_of("extends"),
                    f"base policy '{extends}' does not load ({len(exc.problems)} "
                    f"problem(s), first: {exc.lines()[0]})",
                )
            except (OSError, ValueError):
                problems.add(root.line_of("extends"), f"base policy '{extends}' not found")
    agency = _Reader(
        root.data.get("agency", Loc(None, root.line)), "agency", {"ori", "name", "state"}, problems
    )
    ori = agency.get("ori", str, required=True)
    if ori is not None and not ORI_PATTERN.match(ori):
        problems.add(agency.line_of("ori"), "agency ori must match ^[A-Z]{2}[A-Z0-9]{7}$")
    topics: set[str] = set()
    for topic, line in root.strings("topics", required=True):
        if not _TOPIC.match(topic):
            problems.add(line, f"topic '{topic}' must be lower-case letters, digits, - or _")
        topics.add(topic)
    ceiling = _level(root, "ceiling", base.ceiling if base else Level.CONTROLLED)
    tearline = root.get("tearline", (str, bool), None)
    if tearline is False:  # YAML 1.1 reads a bare `off` as false
        tearline = "off"
    if tearline not in (None, "release_after_last", "off"):
        problems.add(root.line_of("tearline"), "tearline must be 'release_after_last' or 'off'")
    sub_loc = root.data.get("links")
    links = _Reader(sub_loc, "links", {"allow_hosts"}, problems) if sub_loc else None
    hosts = [(h.lower(), ln) for h, ln in links.strings("allow_hosts")] if links else []
    for host, line in hosts:
        if not _HOST.match(host):
            problems.add(line, "allow_hosts entries must be host names")
    files_loc = root.data.get("files")
    files = _Reader(files_loc, "files", {"allow_types"}, problems) if files_loc else None
    bots_loc = root.data.get("bots")
    bots = _Reader(bots_loc, "bots", {"federate"}, problems) if bots_loc else None
    sub_loc = root.data.get("substance")
    substance = _Reader(sub_loc, "substance", {"min_words"}, problems) if sub_loc else None
    cancellations = root.get("cancellations", str, base.cancellations if base else "mark")
    if cancellations not in ("mark", "delete"):
        problems.add(root.line_of("cancellations"), "cancellations must be 'mark' or 'delete'")
    on_source = root.get("on_source_identity", str, base.on_source_identity if base else "strip")
    if on_source not in ("strip", "block"):
        problems.add(
            root.line_of("on_source_identity"), "on_source_identity must be 'strip' or 'block'"
        )
    languages = [(lang, line) for lang, line in root.strings("languages")]
    for lang, line in languages:
        if not _LANGUAGE.match(lang):
            problems.add(line, f"language '{lang}' must be a two-letter ISO 639-1 code")
    sets, detectors = _rules(root, base, problems)
    partners: dict[str, Partner] = {}
    partners_loc = root.data.get("partners")
    for loc in partners_loc.value if partners_loc and isinstance(partners_loc.value, list) else []:
        partner = _partner(loc, topics, ceiling, today, problems)
        if partner is not None:
            if partner.ori in partners:
                problems.add(loc.line, f"duplicate partner '{partner.ori}'")
            partners[partner.ori] = partner
    if problems.items:
        raise PolicyLoadError(source, problems.items)
    return Policy(
        source=source,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        version=str(root.get("version", (str, int, float), "") or ""),
        ori=AgencyId(ori or ""),
        name=agency.get("name", str, "") or "",
        state=agency.get("state", str, "") or "",
        topics=frozenset(topics),
        partners=partners,
        ceiling=ceiling,
        tearline=(tearline or ("release_after_last" if base is None or base.tearline else "off"))
        == "release_after_last",
        link_hosts=tuple(h for h, _ in hosts) if links else (base.link_hosts if base else ()),
        file_types=frozenset(t for t, _ in files.strings("allow_types"))
        if files
        else (base.file_types if base else frozenset(_DEFAULT_FILE_TYPES)),
        bots=frozenset(b for b, _ in bots.strings("federate")) if bots else frozenset(),
        min_words=(
            substance.get("min_words", int, 3) if substance else (base.min_words if base else 3)
        ),
        cancellations=cancellations,
        pattern_sets=sets,
        detectors=tuple(detectors),
        rules=compile_rules(sets),
        on_source_identity=on_source,
        languages=frozenset(lang for lang, _ in languages)
        if languages
        else (base.languages if base else frozenset({"en"})),
    )
