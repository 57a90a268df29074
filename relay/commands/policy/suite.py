"""``relay policy test``: a directory of example cases run against a policy, one table row per
case, and with ``--score`` the tallies per case class, the total and the pass thresholds."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from relay.commands.policy.cases import resolve_images, run_case, safe
from relay.commands.policy.files import load_or_report, now_of
from relay.commands.policy.score import CaseScore, score_case, unreadable_score
from relay.core.policy.model import Policy
from relay.errors import InputError

__all__ = ["case_class", "run_suite"]


@dataclass(slots=True)
class _Tally:
    strip_total: int = 0
    leaked: int = 0
    keep_total: int = 0
    lost: int = 0
    expected_actions: int = 0
    right_actions: int = 0

    def add(self, score: CaseScore) -> None:
        self.strip_total += score.strip_total
        self.leaked += score.leaked
        self.keep_total += score.keep_total
        self.lost += score.lost
        self.expected_actions += score.expects_action
        self.right_actions += score.expects_action and score.action_ok

    @property
    def over_pct(self) -> float:
        return 100.0 * self.lost / self.keep_total if self.keep_total else 0.0

    @property
    def actions_pct(self) -> float:
        if not self.expected_actions:
            return 100.0
        return 100.0 * self.right_actions / self.expected_actions

    def line(self, name: str) -> str:
        return (
            f"{name}: leaks {self.leaked}/{self.strip_total}, "
            f"over-redaction {self.lost}/{self.keep_total} ({self.over_pct:.1f}%), "
            f"actions {self.right_actions}/{self.expected_actions} ({self.actions_pct:.1f}%)"
        )


def case_class(path: Path) -> str:
    """A case's class: its file name up to the first ``_`` (``bolo_01.json`` -> ``bolo``)."""
    return safe(path.stem.split("_", 1)[0]) or "-"


_READ_ERRORS: Final = (
    json.JSONDecodeError,
    UnicodeDecodeError,
    InputError,
    OSError,
    TypeError,
    AttributeError,
    KeyError,
    ValueError,
)


def _score_or_unreadable(
    case: dict[str, Any], policy: Policy, peer: str | None, topic: str | None, now: dt.datetime
) -> CaseScore:
    """:func:`score_case`, with any failure a failed row naming the error's class only (a
    traceback or an exception's message could echo the case's text)."""
    try:
        return score_case(case, policy, peer, topic, now)
    except (*_READ_ERRORS, RecursionError):
        return unreadable_score(case, "unreadable case")
    except Exception as exc:  # noqa: BLE001 - a bug must not print a traceback or text
        return unreadable_score(case, f"internal error ({type(exc).__name__})")


def run_suite(args: argparse.Namespace) -> int:
    if not args.score and (args.max_over is not None or args.min_actions is not None):
        print("relay: --max-over and --min-actions need --score", file=sys.stderr)
        return 2
    now = now_of(args)
    policy = load_or_report(args.file, now.date())
    if policy is None:
        return 2
    cases = sorted(Path(args.cases_dir).glob("*.json"))
    if not cases:
        print(f"relay: {args.cases_dir}: no *.json cases", file=sys.stderr)
        return 2
    passed = failed = 0
    classes: dict[str, _Tally] = {}
    total = _Tally()
    print(f"{'CASE':<40} {'EXPECTED':<9} {'GOT':<9} RESULT")
    for path in cases:
        case: Any = None
        try:
            case = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(case, dict):
                raise InputError("case must be a JSON object")
            case = resolve_images(case, path.parent)
            if args.score:
                score = _score_or_unreadable(case, policy, args.peer, args.topic, now)
                got, failures = score.action, score.failures
            else:
                got, failures = run_case(case, policy, args.peer, args.topic, now)
        except _READ_ERRORS:
            score = unreadable_score(case, "unreadable case")
            got, failures = "-", ["unreadable case"]
        if args.score:
            classes.setdefault(case_class(path), _Tally()).add(score)
            total.add(score)
        expected = (
            safe(case["expected"].get("action", "-"))
            if isinstance(case, dict) and isinstance(case.get("expected"), dict)
            else "-"
        )
        result = "pass" if not failures else "FAIL: " + "; ".join(failures)
        print(f"{safe(path.stem)[:40]:<40} {expected:<9} {got:<9} {result}")
        passed += not failures
        failed += bool(failures)
    if not args.score:
        print(f"policy cases: {passed} passed, {failed} failed")
        return 1 if failed else 0
    for name in sorted(classes):
        print(classes[name].line(name))
    print(total.line("total"))
    max_over = 5.0 if args.max_over is None else args.max_over
    min_actions = 90.0 if args.min_actions is None else args.min_actions
    ok = total.leaked == 0 and total.over_pct <= max_over and total.actions_pct >= min_actions
    return 0 if ok else 1
