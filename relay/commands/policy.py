"""`relay policy check|apply|test`: the policy engine on the command line (a contract).

* ``relay policy check FILE...``: exit 0 when every file loads; else one ``FILE:LINE: message``
  line per problem on stderr, exit 2.
* ``relay policy apply FILE --peer ORI --topic TOPIC``: one Slack message event (bare or
  wrapped) as JSON on stdin; exactly one JSON line on stdout:
  ``{"action": ..., "message": {...} | null, "reasons": [{"rule": ..., "count": n}]}``.
* ``relay policy test FILE CASES_DIR``: run an agency's example cases; a table, exit 1 on any
  failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import mimetypes
import sys
from pathlib import Path
from typing import Any

from relay.core.policy.engine import Decision, evaluate_outbound
from relay.core.policy.load import PolicyLoadError, load_policy
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.errors import InputError

__all__ = ["add_parser", "decision_to_wire", "read_policy"]


def read_policy(path: str, today: dt.date) -> Policy:
    """Read and load a policy file; ``extends`` resolves relative to the file."""
    base_dir = Path(path).parent

    def resolve(name: str) -> tuple[str, str]:
        target = base_dir / name
        return target.read_text(encoding="utf-8"), str(target)

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(path, [(1, f"cannot read file ({type(exc).__name__})")]) from None
    return load_policy(text, source=path, today=today, resolve=resolve)


def decision_to_wire(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "message": decision.message.to_wire() if decision.message is not None else None,
        "reasons": [{"rule": r.rule, "count": r.count} for r in decision.reasons],
    }


def _now(args: argparse.Namespace) -> dt.datetime:
    if args.now:
        return dt.datetime.fromisoformat(args.now).astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def _check(args: argparse.Namespace) -> int:
    today = _now(args).date()
    failed = False
    for path in args.files:
        try:
            read_policy(path, today)
        except PolicyLoadError as exc:
            failed = True
            for line in exc.lines():
                print(line, file=sys.stderr)
    return 2 if failed else 0


def _load_or_exit(path: str, now: dt.datetime) -> Policy | None:
    try:
        return read_policy(path, now.date())
    except PolicyLoadError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return None


def _apply(args: argparse.Namespace) -> int:
    now = _now(args)
    policy = _load_or_exit(args.file, now)
    if policy is None:
        return 2
    raw = sys.stdin.buffer.read()
    try:
        doc = json.loads(raw)
        message = parse_event(doc)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (
            f" at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        print(f"relay: stdin: invalid JSON{where}", file=sys.stderr)
        return 2
    except (InputError, RecursionError) as exc:
        msg = exc.message if isinstance(exc, InputError) else "document nested too deeply"
        print(f"relay: stdin: {msg}", file=sys.stderr)
        return 2
    try:
        decision = evaluate_outbound(message, policy, args.peer, args.topic, now=now)
    except Exception as exc:  # noqa: BLE001 - a bug must still not print a traceback or text
        print(
            f"relay: internal error ({type(exc).__name__}); nothing was decided", file=sys.stderr
        )
        return 1
    # ASCII JSON: valid UTF-8 whatever the input held (a lone surrogate cannot be encoded).
    sys.stdout.write(json.dumps(decision_to_wire(decision)) + "\n")
    return 0


def simple_case_to_event(case: dict[str, Any]) -> dict[str, Any]:
    """The simple example form (text, channel, files) as a bare Slack message event."""
    if "event" in case or case.get("type") in ("message", "event_callback"):
        return {k: v for k, v in case.items() if k != "expected"}
    event: dict[str, Any] = {
        "type": "message",
        "text": str(case.get("text", "")),
        "user": "U0CASE0001",
        "ts": "1700000000.000100",
    }
    files = []
    for i, f in enumerate(case.get("files") or []):
        name = str(f.get("name", ""))
        mime = f.get("mimetype") or mimetypes.guess_type(name)[0] or ""
        files.append(
            {
                "id": f"F0CASE{i:04d}",
                "name": name,
                "title": f.get("title", ""),
                "alt_txt": f.get("alt_txt", ""),
                "mimetype": mime,
                "size": 1024,
                "mode": "hosted",
            }
        )
    if files:
        event["files"] = files
        event["subtype"] = "file_share"
    return event


def _visible(message: dict[str, Any] | None) -> str:
    if message is None:
        return ""
    text = str(message.get("text", ""))
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    files = " ".join(f"{f['name']} {f['title']} {f['alt_txt']}" for f in message.get("files", []))
    return f"{text}\n{files}"


def run_case(
    case: dict[str, Any], policy: Policy, peer: str | None, topic: str | None, now: dt.datetime
) -> tuple[str, list[str]]:
    """Evaluate one case; returns the action and a list of failures (indexes, never text)."""
    expected = case.get("expected") or {}
    topic = topic or str(case.get("channel", "")).lstrip("#")
    if peer is None:
        peer = next((p.ori for p in policy.partners.values() if topic in p.share), "")
    decision = evaluate_outbound(
        parse_event(simple_case_to_event(case)), policy, peer, topic, now=now
    )
    wire = decision_to_wire(decision)
    everything = json.dumps(wire, ensure_ascii=False) + _visible(wire["message"])
    visible = _visible(wire["message"])
    failures = []
    if expected.get("action") and expected["action"] != wire["action"]:
        failures.append(f"action {wire['action']} (expected {expected['action']})")
    for i, s in enumerate(expected.get("must_strip") or []):
        if s in everything:
            failures.append(f"must_strip[{i}] leaked")
    for i, s in enumerate(expected.get("must_keep") or []):
        if s not in visible:
            failures.append(f"must_keep[{i}] missing")
    return str(wire["action"]), failures


def _test(args: argparse.Namespace) -> int:
    now = _now(args)
    policy = _load_or_exit(args.file, now)
    if policy is None:
        return 2
    cases = sorted(Path(args.cases_dir).glob("*.json"))
    if not cases:
        print(f"relay: {args.cases_dir}: no *.json cases", file=sys.stderr)
        return 2
    passed = failed = 0
    print(f"{'CASE':<40} {'EXPECTED':<9} {'GOT':<9} RESULT")
    for path in cases:
        case: Any = None
        try:
            case = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(case, dict):
                raise InputError("case must be a JSON object")
            got, failures = run_case(case, policy, args.peer, args.topic, now)
        except (
            json.JSONDecodeError,
            UnicodeDecodeError,
            InputError,
            OSError,
            TypeError,
            AttributeError,
            KeyError,
            ValueError,
        ):
            got, failures = "-", ["unreadable case"]
        expected = (
            str(case["expected"].get("action", "-"))
            if isinstance(case, dict) and isinstance(case.get("expected"), dict)
            else "-"
        )
        result = "pass" if not failures else "FAIL: " + "; ".join(failures)
        print(f"{path.stem[:40]:<40} {expected:<9} {got:<9} {result}")
        passed += not failures
        failed += bool(failures)
    print(f"policy cases: {passed} passed, {failed} failed")
    return 1 if failed else 0


def add_parser(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="check, apply and test sharing policies")
    sub = policy.add_subparsers(dest="policy_command", required=True)
    check = sub.add_parser("check", help="validate policy files")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_check)
    apply = sub.add_parser("apply", help="show what a partner would receive (event on stdin)")
    apply.add_argument("file", metavar="FILE")
    apply.add_argument("--peer", required=True, metavar="ORI")
    apply.add_argument("--topic", required=True, metavar="TOPIC")
    apply.set_defaults(func=_apply)
    test = sub.add_parser("test", help="run example cases against a policy")
    test.add_argument("file", metavar="FILE")
    test.add_argument("cases_dir", metavar="CASES_DIR")
    test.add_argument("--peer", metavar="ORI", default=None)
    test.add_argument("--topic", metavar="TOPIC", default=None)
    test.set_defaults(func=_test)
    for p in (check, apply, test):
        p.add_argument("--now", default=None, help=argparse.SUPPRESS)
