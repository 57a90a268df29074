"""``relay policy diff OLD NEW CASES_DIR`` and ``relay policy diff OLD NEW --config relay.yaml
--since DATE``: what a new policy would decide differently from the old one, over an agency's
example cases (offline) or its own recent messages read from its workspace (read only).

Every case or message is judged by both policies for every partner of either (or ``--peer``),
in its topic (or ``--topic``), and the two decisions compared
(:mod:`relay.core.policy.compare`). Output: a summary (:mod:`relay.commands.policy.diff_report`)
or, with ``--json``, one JSON document. Exit 0 when nothing changed, 1 when something did (as
``diff`` does), 2 on bad input: a policy that does not load (``FILE:LINE: message``), a
directory without cases, an unreadable case, a bad date, a ``relay.yaml`` that does not load.
Nothing of a message's text is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from relay.commands.policy.cases import case_topic, safe, simple_case_to_event
from relay.commands.policy.diff_report import DiffReport
from relay.commands.policy.files import load_or_report, now_of
from relay.core.model import SlackMessage
from relay.core.policy.compare import Difference, compare_all
from relay.core.policy.engine import evaluate_outbound_all
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError, InputError

__all__ = ["add_diff_parser", "diff_message", "run_diff"]

_BAD_CASE = (json.JSONDecodeError, UnicodeDecodeError, InputError, OSError, TypeError, ValueError)


def diff_message(
    message: SlackMessage,
    old: Policy,
    new: Policy,
    topic: str,
    now: dt.datetime,
    peer: str | None = None,
) -> dict[str, Difference]:
    """Per partner (of either policy, or only ``peer``), how ``new`` decides ``message``
    differently from ``old``."""
    differences = compare_all(
        evaluate_outbound_all(message, old, topic, now=now),
        evaluate_outbound_all(message, new, topic, now=now),
    )
    if peer is not None:
        return {p: d for p, d in differences.items() if p == peer}
    return differences


def _read_cases(cases_dir: str) -> list[tuple[str, str, SlackMessage]] | None:
    """(file name, topic, message) of every ``*.json`` case; None (and stderr lines) when
    there are none or one cannot be read."""
    paths = sorted(Path(cases_dir).glob("*.json"))
    if not paths:
        print(f"relay policy diff: {cases_dir}: no *.json cases", file=sys.stderr)
        return None
    out, bad = [], False
    for path in paths:
        try:
            case: Any = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(case, dict):
                raise InputError("case must be a JSON object")
            out.append((path.name, case_topic(case), parse_event(simple_case_to_event(case))))
        except (*_BAD_CASE, RecursionError):
            print(f"relay policy diff: {safe(path.name, 80)}: unreadable case", file=sys.stderr)
            bad = True
    return None if bad else out


def _diff_cases(
    args: argparse.Namespace, old: Policy, new: Policy, now: dt.datetime
) -> DiffReport | None:
    cases = _read_cases(args.cases_dir)
    if cases is None:
        return None
    report = DiffReport("cases", (args.old, old.digest), (args.new, new.digest))
    for name, topic, message in cases:
        topic = args.topic or topic
        report.add(safe(name, 80), topic, diff_message(message, old, new, topic, now, args.peer))
    return report


def _usage(problem: str) -> int:
    print(f"relay policy diff: {problem}", file=sys.stderr)
    return 2


def run_diff(args: argparse.Namespace) -> int:
    if (args.cases_dir is None) == (args.config is None):
        return _usage("give either CASES_DIR or --config relay.yaml --since DATE")
    if (args.config is None) != (args.since is None):
        return _usage("--config and --since go together")
    now = now_of(args)
    old, new = load_or_report(args.old, now.date()), load_or_report(args.new, now.date())
    if old is None or new is None:
        return 2
    if old.ori != new.ori:
        return _usage(f"OLD is a policy of {old.ori}, NEW of {new.ori}")
    if args.peer is not None and args.peer not in {*old.partners, *new.partners}:
        return _usage(f"--peer {safe(args.peer, 20)}: a partner of neither policy")
    if args.topic is not None and args.topic not in old.topics | new.topics:
        return _usage(f"--topic {safe(args.topic, 40)}: a topic of neither policy")
    try:
        if args.config is not None:
            from relay.commands.policy.replay import diff_workspace

            report = diff_workspace(args, old, new, now)
        else:
            report = _diff_cases(args, old, new, now)
    except DeliveryError as exc:  # Slack: "slack METHOD failed: CODE", no text
        print(f"relay policy diff: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (or text in it)
        print(f"relay policy diff: internal error ({type(exc).__name__})", file=sys.stderr)
        return 1
    if report is None:
        return 2
    if args.json:
        print(report.json_text())
    else:
        print("\n".join(report.text()))
    return 1 if report.changes else 0


def add_diff_parser(sub: Any) -> argparse.ArgumentParser:
    diff: argparse.ArgumentParser = sub.add_parser(
        "diff",
        help="what NEW would decide differently from OLD, over cases or recent messages",
    )
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("cases_dir", metavar="CASES_DIR", nargs="?", default=None)
    diff.add_argument("--config", metavar="FILE", default=None, help="relay.yaml (workspace)")
    diff.add_argument(
        "--since", metavar="DATE", default=None, help="with --config: messages since DATE"
    )
    diff.add_argument("--peer", metavar="ORI", default=None, help="only this partner")
    diff.add_argument("--topic", metavar="TOPIC", default=None, help="cases: judge in TOPIC")
    diff.add_argument("--json", action="store_true", help="one JSON document (for tools)")
    diff.set_defaults(func=run_diff)
    return diff
