"""``relay policy test --score``: one case scored (leaked ``must_strip`` strings, lost
``must_keep`` strings, the action), searching everywhere a leak could show, stderr included."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from relay.commands.policy.cases import decide, safe, unescape, visible
from relay.core.policy.model import Policy
from relay.errors import InputError

__all__ = ["CaseScore", "fold", "leak_haystacks", "score_case", "unreadable_score"]

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


def leak_haystacks(wire: dict[str, Any], stderr: str) -> list[str]:
    """Everywhere a ``must_strip`` string must not be, case-folded: the whole JSON decision,
    the visible text, whatever the evaluation wrote to stderr, and every string value of the
    decision joined with "" and with " " (raw and with mrkdwn entities undone)."""
    strings = list(_strings(wire))
    raw = [
        json.dumps(wire, ensure_ascii=False),
        visible(wire["message"]),
        stderr,
        "".join(strings),
        " ".join(strings),
    ]
    raw += [unescape(s) for s in raw[3:]]
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
        wire = decide(case, policy, peer, topic, now)
    haystacks = leak_haystacks(wire, captured.getvalue())
    shown = fold(visible(wire["message"]), casefold=False)
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
            score.failures.append(f"action {score.action} (expected {safe(want)})")
    for i, s in enumerate(must_strip):
        needle = fold(s, casefold=True).strip()
        if needle and any(needle in h for h in haystacks):
            score.leaked += 1
            score.failures.append(f"must_strip[{i}] leaked")
    for i, s in enumerate(must_keep):
        if fold(s, casefold=False).strip() not in shown:
            score.lost += 1
            score.failures.append(f"must_keep[{i}] missing")
    return score


def unreadable_score(case: Any, failure: str) -> CaseScore:
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
