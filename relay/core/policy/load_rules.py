"""A policy's rules from its YAML: pattern sets (each regex compiled to check it) and detectors,
on top of those of the policy it extends.
"""

from __future__ import annotations

import re
from typing import Final

from relay.core.policy.model import Action, Detector, PatternSet, Policy, Scope, Stage, Unit
from relay.core.policy.reader import Reader
from relay.core.policy.reviewable import never_reviewable
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["read_rules"]

_RULE_ID: Final = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


def _pattern_set(name: str, loc: Loc, problems: Problems) -> PatternSet:
    r = Reader(
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
            "across_lines",
            "list_letters",
            "unless_quoted",
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
        across_lines=bool(r.get("across_lines", bool, False)),
        list_letters=bool(r.get("list_letters", bool, False)),
        unless_quoted=bool(r.get("unless_quoted", bool, False)),
    )


def _groups(loc: Loc | None, r: Reader, problems: Problems) -> list[list[tuple[str, int]]]:
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
    r = Reader(
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
            "reviewable",
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
    reviewable = r.get("reviewable", bool, False) is True
    if rule_id is None or action is None or not when:
        return None
    det = Detector(
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
        reviewable=reviewable,
    )
    if reviewable and never_reviewable(det):
        problems.add(
            r.line_of("reviewable"),
            f"detector '{rule_id}' can never be reviewable (classified markings, criminal"
            " history, informants, undercover officers, juveniles, sex-offence victims,"
            " sealed and protected records)",
        )
    return det


def read_rules(
    root: Reader, base: Policy | None, problems: Problems
) -> tuple[dict[str, PatternSet], list[Detector]]:
    """The pattern sets and detectors of ``root``: the base policy's, less those it disables,
    plus its own."""
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
