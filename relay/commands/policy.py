"""`relay policy check|apply|test`: the policy engine on the command line (a contract).

* ``relay policy check FILE...``: exit 0 when every file loads; else one ``FILE:LINE: message``
  line per problem on stderr, exit 2.
* ``relay policy apply FILE --peer ORI --topic TOPIC``: one Slack message event (bare or
  wrapped) as JSON on stdin; exactly one JSON line on stdout:
  ``{"action": ..., "message": {...} | null, "reasons": [{"rule": ..., "count": n}]}``.
* ``relay policy test FILE CASES_DIR``: run an agency's example cases; a table, exit 1 on any
  failure. With ``--score``: the table, then one line per case class and a total line
  (``CLASS: leaks N/M, over-redaction N/M (P%), actions N/M (P%)``); exit 1 on any leak or a
  threshold missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import logging
import math
import mimetypes
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from relay.core.policy.engine import Decision, UnitView, evaluate_outbound, explain
from relay.core.policy.load import PolicyLoadError, load_policy
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.errors import InputError

__all__ = [
    "CaseScore",
    "add_parser",
    "case_topic",
    "decision_to_wire",
    "fold",
    "leak_haystacks",
    "read_policy",
    "run_case",
    "score_case",
    "simple_case_to_event",
]


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
    views: list[UnitView] = []
    try:
        decision = evaluate_outbound(message, policy, args.peer, args.topic, now=now)
        if args.explain:
            partner = policy.partners.get(args.peer)
            if (
                partner is not None
                and decision.reasons[:1] != ()
                and decision.reasons[0].rule
                in (
                    "partner_unknown",
                    "topic_not_shared",
                    "agreement_expired",
                )
            ):
                pass  # decided before any text was read: nothing to explain unit by unit
            elif partner is not None:
                _, views = explain(message, policy, partner, now=now)
    except Exception as exc:  # noqa: BLE001 - a bug must still not print a traceback or text
        print(
            f"relay: internal error ({type(exc).__name__}); nothing was decided", file=sys.stderr
        )
        return 1
    # ASCII JSON: valid UTF-8 whatever the input held (a lone surrogate cannot be encoded).
    sys.stdout.write(json.dumps(decision_to_wire(decision)) + "\n")
    if args.explain:
        # the analyst's own text, with anything a terminal cannot encode escaped
        sys.stdout.write(_explanation(views).encode("utf-8", "backslashreplace").decode("utf-8"))
    return 0


def _explanation(views: list[UnitView]) -> str:
    """The analyst's view (``--explain``): every unit, what happened to it and why. It shows
    the message's own text, so it is for the agency's own terminal only."""
    out = ["", f"{'UNIT':>4}  {'WHERE':<16} {'STATUS':<13} {'RULES':<30} TEXT"]
    for v in views:
        text = " ".join(v.text.split())
        if len(text) > 90:
            text = text[:87] + "..."
        rules = ",".join(v.rules) or "-"
        out.append(f"{v.index:>4}  {v.where:<16} {v.status:<13} {rules:<30} {text}")
    return "\n".join(out) + "\n"


_CASE_ONLY_KEYS: Final = frozenset({"expected", "note", "case_channel"})


def _is_full_event(case: dict[str, Any]) -> bool:
    return "event" in case or case.get("type") in ("message", "event_callback")


def simple_case_to_event(case: dict[str, Any]) -> dict[str, Any]:
    """The case as a Slack message event: a full event (``"type": "message"`` or an ``event``
    wrapper) minus the case's own keys (``expected``, ``note``, ``case_channel``), or the
    simple example form (text, channel, files) turned into a bare message event."""
    if _is_full_event(case):
        return {k: v for k, v in case.items() if k not in _CASE_ONLY_KEYS}
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


def case_topic(case: dict[str, Any]) -> str:
    """A top-level ``case_channel`` (``#bolo``) if present; else the simple form's ``channel``,
    or a full event's top-level ``channel`` when it is a ``#name`` (not a Slack channel id)."""
    named = case.get("case_channel")
    if isinstance(named, str):
        return named.lstrip("#")
    if _is_full_event(case):
        channel = case.get("channel")
        return channel.lstrip("#") if isinstance(channel, str) and channel.startswith("#") else ""
    return str(case.get("channel", "")).lstrip("#")


def _visible(message: dict[str, Any] | None) -> str:
    if message is None:
        return ""
    text = str(message.get("text", ""))
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    files = " ".join(
        f"{f.get('name', '')} {f.get('title', '')} {f.get('alt_txt', '')}"
        for f in message.get("files", [])
    )
    return f"{text}\n{files}"


def _decide(
    case: dict[str, Any], policy: Policy, peer: str | None, topic: str | None, now: dt.datetime
) -> dict[str, Any]:
    topic = topic or case_topic(case)
    if peer is None:
        peer = next((p.ori for p in policy.partners.values() if topic in p.share), "")
    decision = evaluate_outbound(
        parse_event(simple_case_to_event(case)), policy, peer, topic, now=now
    )
    return decision_to_wire(decision)


def run_case(
    case: dict[str, Any], policy: Policy, peer: str | None, topic: str | None, now: dt.datetime
) -> tuple[str, list[str]]:
    """Evaluate one case; returns the action and a list of failures (indexes, never text)."""
    expected = case.get("expected") or {}
    wire = _decide(case, policy, peer, topic, now)
    everything = json.dumps(wire, ensure_ascii=False) + _visible(wire["message"])
    visible = _visible(wire["message"])
    failures = []
    if expected.get("action") and expected["action"] != wire["action"]:
        failures.append(f"action {wire['action']} (expected {_safe(expected['action'])})")
    for i, s in enumerate(expected.get("must_strip") or []):
        if s in everything:
            failures.append(f"must_strip[{i}] leaked")
    for i, s in enumerate(expected.get("must_keep") or []):
        if s not in visible:
            failures.append(f"must_keep[{i}] missing")
    return str(wire["action"]), failures


# --- --score ------------------------------------------------------------------------------

# Invisible: every format character (category Cf: zero-width space/joiners, bidi controls, soft
# hyphen, tags, ...) plus the fillers and blanks that are not Cf but draw nothing.
_INVISIBLE_EXTRA: Final = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800")
_WHITESPACE: Final = re.compile(r"\s+")


def fold(text: str, *, casefold: bool) -> str:
    """NFKC, optionally case-folded, invisible characters removed, whitespace runs to one space.

    Both sides of a comparison go through it: what a case expects and what the decision holds.
    """
    text = unicodedata.normalize("NFKC", text)
    if casefold:
        text = unicodedata.normalize("NFKC", text.casefold())
    text = "".join(
        ch for ch in text if ch not in _INVISIBLE_EXTRA and unicodedata.category(ch) != "Cf"
    )
    return _WHITESPACE.sub(" ", text)


def _strings(value: Any) -> Iterator[str]:
    """Every string value in a JSON document, depth first, in document order (keys skipped)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def leak_haystacks(wire: dict[str, Any], stderr: str) -> list[str]:
    """Everywhere a ``must_strip`` string must not be, case-folded: the whole JSON decision,
    the visible text, whatever the evaluation wrote to stderr, and every string value of the
    decision joined with "" and with " " (raw and with mrkdwn entities undone)."""
    strings = list(_strings(wire))
    raw = [
        json.dumps(wire, ensure_ascii=False),
        _visible(wire["message"]),
        stderr,
        "".join(strings),
        " ".join(strings),
    ]
    raw += [_unescape(s) for s in raw[3:]]
    return [fold(s, casefold=True) for s in raw]


@dataclass(slots=True)
class CaseScore:
    """One case under ``--score``: the table row (action, failures) and its counts."""

    action: str
    failures: list[str]
    strip_total: int = 0
    leaked: int = 0
    keep_total: int = 0
    lost: int = 0
    expects_action: bool = False
    action_ok: bool = False


def _text_list(expected: dict[str, Any], key: str) -> list[str]:
    value = expected.get(key) or []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InputError(f"expected.{key} must be a list of strings")
    return value


def score_case(
    case: dict[str, Any],
    policy: Policy,
    peer: str | None,
    topic: str | None,
    now: dt.datetime,
) -> CaseScore:
    """Evaluate one case and count leaks, lost ``must_keep`` strings and the action.

    Raises :class:`InputError` for a case whose ``expected`` is malformed. Anything the
    evaluation writes to stderr (or logs) is captured, searched for leaks and never shown.
    """
    expected = case.get("expected") or {}
    if not isinstance(expected, dict):
        raise InputError("expected must be an object")
    must_strip = _text_list(expected, "must_strip")
    must_keep = _text_list(expected, "must_keep")
    with _captured_stderr() as captured:
        wire = _decide(case, policy, peer, topic, now)
    haystacks = leak_haystacks(wire, captured.getvalue())
    visible = fold(_visible(wire["message"]), casefold=False)
    score = CaseScore(
        action=str(wire["action"]),
        failures=[],
        strip_total=len(must_strip),
        keep_total=len(must_keep),
    )
    want = expected.get("action")
    if want:
        score.expects_action = True
        score.action_ok = want == wire["action"]
        if not score.action_ok:
            score.failures.append(f"action {score.action} (expected {_safe(want)})")
    for i, s in enumerate(must_strip):
        needle = fold(s, casefold=True).strip()
        if needle and any(needle in h for h in haystacks):
            score.leaked += 1
            score.failures.append(f"must_strip[{i}] leaked")
    for i, s in enumerate(must_keep):
        if fold(s, casefold=False).strip() not in visible:
            score.lost += 1
            score.failures.append(f"must_keep[{i}] missing")
    return score


def _unreadable_score(case: Any, failure: str) -> CaseScore:
    """An unreadable case: a failed action, and every ``must_keep`` it lists lost."""
    expected = case.get("expected") if isinstance(case, dict) else None
    counts = {"must_strip": 0, "must_keep": 0}
    if isinstance(expected, dict):
        for key in counts:
            value = expected.get(key)
            counts[key] = len(value) if isinstance(value, list) else 0
    return CaseScore(
        action="-",
        failures=[failure],
        strip_total=counts["must_strip"],
        keep_total=counts["must_keep"],
        lost=counts["must_keep"],
        expects_action=True,
        action_ok=False,
    )


@contextlib.contextmanager
def _captured_stderr() -> Iterator[io.StringIO]:
    """sys.stderr and the root logger's stderr handlers write into a buffer meanwhile."""
    buffer = io.StringIO()
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.__stderr__)
    ]
    previous = [h.setStream(buffer) for h in handlers]
    try:
        with contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


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
    return _safe(path.stem.split("_", 1)[0]) or "-"


def _safe(value: Any, limit: int = 40) -> str:
    """A table cell from a file name or an expected action: printable characters only."""
    text = str(value)[:limit]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


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
        return _unreadable_score(case, "unreadable case")
    except Exception as exc:  # noqa: BLE001 - a bug must not print a traceback or text
        return _unreadable_score(case, f"internal error ({type(exc).__name__})")


def _test(args: argparse.Namespace) -> int:
    if not args.score and (args.max_over is not None or args.min_actions is not None):
        print("relay: --max-over and --min-actions need --score", file=sys.stderr)
        return 2
    now = _now(args)
    policy = _load_or_exit(args.file, now)
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
            if args.score:
                score = _score_or_unreadable(case, policy, args.peer, args.topic, now)
                got, failures = score.action, score.failures
            else:
                got, failures = run_case(case, policy, args.peer, args.topic, now)
        except _READ_ERRORS:
            score = _unreadable_score(case, "unreadable case")
            got, failures = "-", ["unreadable case"]
        if args.score:
            classes.setdefault(case_class(path), _Tally()).add(score)
            total.add(score)
        expected = (
            _safe(case["expected"].get("action", "-"))
            if isinstance(case, dict) and isinstance(case.get("expected"), dict)
            else "-"
        )
        result = "pass" if not failures else "FAIL: " + "; ".join(failures)
        print(f"{_safe(path.stem)[:40]:<40} {expected:<9} {got:<9} {result}")
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
    check.set_defaults(func=_check)
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
    apply.set_defaults(func=_apply)
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
    test.set_defaults(func=_test)
    for p in (check, apply, test):
        p.add_argument("--now", default=None, help=argparse.SUPPRESS)
