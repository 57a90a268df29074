"""`relay policy check|apply|test`: the policy engine on the command line (a contract).

* ``relay policy check FILE...``: exit 0 when every file loads; else one ``FILE:LINE: message``
  line per problem on stderr, exit 2.
* ``relay policy apply FILE --peer ORI --topic TOPIC``: one Slack message event (bare or
  wrapped) as JSON on stdin; exactly one JSON line on stdout:
  ``{"action": ..., "message": {...} | null, "reasons": [{"rule": ..., "count": n}]}``.
* ``relay policy diff OLD NEW CASES_DIR`` or ``relay policy diff OLD NEW --config relay.yaml
  --since DATE``: what NEW decides differently from OLD, over cases or the workspace's recent
  messages; a summary or ``--json``; exit 0 no change, 1 changes, 2 bad input.
* ``relay policy test FILE CASES_DIR``: run an agency's example cases; a table, exit 1 on any
  failure. With ``--score``: the table, then one line per case class and a total line
  (``CLASS: leaks N/M, over-redaction N/M (P%), actions N/M (P%)``); exit 1 on any leak or a
  threshold missed.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from relay.commands.policy.apply import decision_to_wire, run_apply
from relay.commands.policy.cases import case_topic, run_case, simple_case_to_event
from relay.commands.policy.diff import add_diff_parser
from relay.commands.policy.files import read_policy, run_check
from relay.commands.policy.score import CaseScore, fold, leak_haystacks, score_case
from relay.commands.policy.suite import case_class, run_suite

__all__ = [
    "CaseScore",
    "add_parser",
    "case_class",
    "case_topic",
    "decision_to_wire",
    "fold",
    "leak_haystacks",
    "read_policy",
    "run_case",
    "score_case",
    "simple_case_to_event",
]


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"a percentage from 0 to 100, not {text!r}")
    return value


def add_parser(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="check, apply and test sharing policies")
    sub = policy.add_subparsers(dest="policy_command", required=True)
    check = sub.add_parser("check", help="validate policy files")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=run_check)
    apply = sub.add_parser("apply", help="show what a partner would receive (event on stdin)")
    apply.add_argument("file", metavar="FILE")
    apply.add_argument("--peer", required=True, metavar="ORI")
    apply.add_argument("--topic", required=True, metavar="TOPIC")
    apply.add_argument(
        "--explain",
        action="store_true",
        help="after the JSON line, list every unit with what happened to it (shows the text:"
        " for the agency's own analyst)",
    )
    apply.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="judge the event's file NAME with the text read in the image at PATH (repeatable)",
    )
    apply.set_defaults(func=run_apply)
    test = sub.add_parser("test", help="run example cases against a policy")
    test.add_argument("file", metavar="FILE")
    test.add_argument("cases_dir", metavar="CASES_DIR")
    test.add_argument("--peer", metavar="ORI", default=None)
    test.add_argument("--topic", metavar="TOPIC", default=None)
    test.add_argument(
        "--score",
        action="store_true",
        help="print leak, over-redaction and action scores per case class; exit 1 on any "
        "leak or a threshold missed",
    )
    test.add_argument(
        "--max-over",
        type=_percent,
        default=None,
        metavar="P",
        help="with --score: highest over-redaction percentage that passes (default 5.0)",
    )
    test.add_argument(
        "--min-actions",
        type=_percent,
        default=None,
        metavar="P",
        help="with --score: lowest right-action percentage that passes (default 90.0)",
    )
    test.set_defaults(func=run_suite)
    diff = add_diff_parser(sub)
    for p in (check, apply, test, diff):
        p.add_argument("--now", default=None, help=argparse.SUPPRESS)
