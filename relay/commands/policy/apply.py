"""``relay policy apply``: one Slack event from stdin, decided for one partner and topic, as
one JSON line on stdout (and with ``--explain`` the analyst's unit-by-unit view)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from relay.commands.policy.files import load_or_report, now_of
from relay.commands.policy.images import with_images
from relay.core.policy.engine import Decision, UnitView, evaluate_outbound, explain
from relay.core.slack_parse import parse_event
from relay.errors import InputError

__all__ = ["decision_to_wire", "run_apply"]


def decision_to_wire(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "message": decision.message.to_wire() if decision.message is not None else None,
        "reasons": [{"rule": r.rule, "count": r.count} for r in decision.reasons],
    }


def run_apply(args: argparse.Namespace) -> int:
    now = now_of(args)
    policy = load_or_report(args.file, now.date())
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
    images: dict[str, Path] = {}
    for spec in getattr(args, "image", None) or []:
        name, sep, path = str(spec).partition("=")
        if not sep or not name or not path:
            print("relay: --image must be NAME=PATH", file=sys.stderr)
            return 2
        if not Path(path).is_file():
            print(f"relay: --image {name}: no such file", file=sys.stderr)
            return 2
        images[name] = Path(path)
    views: list[UnitView] = []
    try:
        message, _ = with_images(message, images)
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
