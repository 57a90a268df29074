"""Shared fixtures for the policy-engine tests: the baseline policy, a fixed clock, the examples.

``baseline`` is loaded once per session (compiling its patterns is the slow part). Tests that
need the pure ``re`` path flip ``baseline.rules.use_fast_path`` through :func:`decide` or
:func:`fast_path`, which always put it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from relay.commands.policy import decision_to_wire, read_policy
from relay.core.policy.engine import evaluate_inbound, evaluate_outbound
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event

# The suite is deterministic: Hypothesis draws the same examples on every run (a CI run never
# fails on a draw a local run did not make). RELAY_HYPOTHESIS_EXPLORE=1 draws new ones.
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("explore")
settings.load_profile(
    "explore" if os.environ.get("RELAY_HYPOTHESIS_EXPLORE") == "1" else "deterministic"
)

ROOT = Path(__file__).resolve().parents[1]
BASELINE_PATH = ROOT / "policies" / "baseline.yaml"
EXAMPLES_DIR = ROOT / "policies" / "cases" / "baseline"
NOW = datetime(2026, 11, 26, tzinfo=UTC)

Decide = Callable[..., dict[str, Any]]


def _load_examples() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.stem, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(EXAMPLES_DIR.glob("*.json"))
    ]


EXAMPLES = _load_examples()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test asking for ``example`` runs once per reference example, named by file stem."""
    if "example" in metafunc.fixturenames:
        metafunc.parametrize("example", EXAMPLES, ids=[name[:2] for name, _ in EXAMPLES])


@pytest.fixture(scope="session")
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def baseline() -> Policy:
    return read_policy(str(BASELINE_PATH), NOW.date())


@pytest.fixture(scope="session")
def examples() -> list[tuple[str, dict[str, Any]]]:
    return EXAMPLES


@contextmanager
def fast_path(policy: Policy, on: bool) -> Iterator[Policy]:
    """Run with the Hyperscan prefilter on or off (off: ``re`` runs every pattern)."""
    before = policy.rules.use_fast_path
    policy.rules.use_fast_path = on
    try:
        yield policy
    finally:
        policy.rules.use_fast_path = before


@pytest.fixture(scope="session")
def decide(baseline: Policy) -> Decide:
    """``decide(event_doc, peer=..., topic=..., inbound=False, fast=True, policy=None)``: the
    decision in the wire form ``relay policy apply`` prints."""

    def run(
        doc: dict[str, Any],
        *,
        peer: str = "MA9990200",
        topic: str = "bolo",
        inbound: bool = False,
        fast: bool = True,
        policy: Policy | None = None,
    ) -> dict[str, Any]:
        pol = policy or baseline
        evaluate = evaluate_inbound if inbound else evaluate_outbound
        with fast_path(pol, fast):
            decision = evaluate(parse_event(doc), pol, peer, topic, now=NOW)
        return decision_to_wire(decision)

    return run


def message_event(text: str, **extra: Any) -> dict[str, Any]:
    """A bare Slack ``message`` event as a person posts it."""
    event: dict[str, Any] = {
        "type": "message",
        "user": "U0TEST0001",
        "ts": "1764115200.000100",
        "channel": "C0BOLO0001",
        "text": text,
    }
    event.update(extra)
    return event


@pytest.fixture(scope="session")
def make_event() -> Callable[..., dict[str, Any]]:
    return message_event


def visible(wire: dict[str, Any]) -> str:
    """What a partner can read: the text with mrkdwn entities undone, plus file metadata."""
    message = wire.get("message")
    if not message:
        return ""
    text = str(message.get("text", ""))
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    files = "\n".join(
        f"{f.get('name', '')}\n{f.get('title', '')}\n{f.get('alt_txt', '')}"
        for f in message.get("files", [])
    )
    return f"{text}\n{files}"


@pytest.fixture(scope="session")
def readable() -> Callable[[dict[str, Any]], str]:
    return visible
