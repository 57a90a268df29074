"""The shadow policy (``policy_candidate``): every outbound message judged again by a
candidate that never decides what leaves. Unit level (differences counted, samples bounded,
a failing candidate or sink counted and passed over, no text in metrics), then end to end:
a candidate that would block more, visible in metrics and in the sink, while the partner
still gets what the policy in force sends."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from relay.commands.policy import read_policy, simple_case_to_event
from relay.core.model import SlackMessage
from relay.core.policy.compare import Kind
from relay.core.policy.engine import evaluate_outbound_all
from relay.core.policy.model import Policy
from relay.core.policy.outbound import OutboundMessage
from relay.core.slack_parse import parse_event
from relay.flow import shadow as shadow_module
from relay.flow.shadow import CountingSink, Shadow
from relay.lab.network import Agency, Network

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "examples"
HAVENPORT = EXAMPLES / "ct9990100-havenport.yaml"
CT, MA, FC = "CT9990100", "MA9990200", "CT999FC00"
OFFICER = "U0OKAFOR01"
NOW = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
CANARY = "insulin"
MEDICAL = (
    "BOLO grey Honda Civic, CT reg 3KD-119, driver wanted for the Whitney Ave robbery. "
    f"The driver is diabetic and takes {CANARY} daily, his medication is in the car."
)
PLAIN = "BOLO grey Honda Civic, CT reg 3KD-119, last seen on Route 9 heading north."
# The medical sentence blocks the message instead of being stripped from it.
STRICTER = """
disable: [medical.detail]
detectors:
  - id: medical.detail
    action: block
    when: [[medical, medical_es_pt]]
"""


def candidate_file(tmp: Path, base: Path = HAVENPORT, extra: str = STRICTER) -> Path:
    """``base`` with ``extra`` appended, ``extends`` made absolute, written in ``tmp``."""
    text = base.read_text(encoding="utf-8")
    text = text.replace("extends: ../baseline.yaml", f"extends: {ROOT / 'policies/baseline.yaml'}")
    path = tmp / "candidate.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def _message(text: str) -> SlackMessage:
    event = simple_case_to_event({"text": text, "channel": "#bolo"})
    return parse_event(event | {"channel": "C0HAVEN000"})


class Recording:
    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []

    async def sample(self, **kw: Any) -> None:
        self.samples.append(kw)


def _metric(shadow: Shadow, name: str, **labels: str) -> float:
    value = shadow.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Policy, Policy]:
    tmp = tmp_path_factory.mktemp("shadow")
    return read_policy(str(HAVENPORT), NOW.date()), read_policy(
        str(candidate_file(tmp)), NOW.date()
    )


def _shadow(candidate: Policy, sink: Any = None, minutes: float = 10.0) -> Shadow:
    from relay.metrics import RelayMetrics

    return Shadow(
        candidate=candidate,
        metrics=RelayMetrics(),
        sink=sink,
        sample_every=dt.timedelta(minutes=minutes),
    )


async def _judge(shadow: Shadow, current: Policy, text: str, at: dt.datetime = NOW) -> Any:
    message = _message(text)
    decisions = evaluate_outbound_all(message, current, "bolo", now=at)
    return await shadow.judge(message, "bolo", "CT9990100.CHAVEN000.1.2", decisions, at)


async def test_a_stricter_candidate_is_counted_and_sampled_with_both_views(
    policies: tuple[Policy, Policy],
) -> None:
    current, candidate = policies
    sink = Recording()
    shadow = _shadow(candidate, sink)
    diffs = await _judge(shadow, current, MEDICAL)
    assert diffs[MA].kinds == (Kind.MORE_BLOCKED,)
    labels = {"partner": MA, "kind": "more_blocked", "rule": "medical.detail"}
    assert _metric(shadow, "relay_policy_shadow_differences_total", **labels) == 1
    assert _metric(shadow, "relay_policy_shadow_judged_total", partner=MA) == 1
    sample = next(s for s in sink.samples if s["partner"] == MA)
    assert sample["kind"] is Kind.MORE_BLOCKED
    assert sample["rules"] == ("medical.detail",)
    assert (sample["channel"], sample["topic"]) == ("C0HAVEN000", "bolo")
    assert sample["envelope_id"] == "CT9990100.CHAVEN000.1.2"
    assert isinstance(sample["current"], OutboundMessage)
    assert sample["candidate"] is None
    assert CANARY not in generate_latest(shadow.metrics.registry).decode()

    await _judge(shadow, current, PLAIN)
    assert _metric(shadow, "relay_policy_shadow_judged_total", partner=MA) == 2
    assert _metric(shadow, "relay_policy_shadow_differences_total", **labels) == 1


async def test_samples_are_bounded_per_partner_and_kind(policies: tuple[Policy, Policy]) -> None:
    current, candidate = policies
    sink = Recording()
    shadow = _shadow(candidate, sink, minutes=5)
    for minutes in (0, 1, 4, 5, 6, 11):
        await _judge(shadow, current, MEDICAL, NOW + dt.timedelta(minutes=minutes))
    sampled = [s for s in sink.samples if s["partner"] == MA]
    assert len(sampled) == 3  # at 0, 5 and 11 minutes
    labels = {"partner": MA, "kind": "more_blocked", "rule": "medical.detail"}
    assert _metric(shadow, "relay_policy_shadow_differences_total", **labels) == 6


async def test_the_default_sink_only_counts(policies: tuple[Policy, Policy]) -> None:
    current, candidate = policies
    shadow = _shadow(candidate)
    await _judge(shadow, current, MEDICAL)
    assert isinstance(shadow.sink, CountingSink)
    assert shadow.sink.counts[(MA, Kind.MORE_BLOCKED)] == 1


async def test_a_candidate_that_raises_is_counted_and_passed_over(
    policies: tuple[Policy, Policy], monkeypatch: pytest.MonkeyPatch
) -> None:
    current, candidate = policies

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError(MEDICAL)

    monkeypatch.setattr(shadow_module, "evaluate_outbound_all", broken)
    shadow = _shadow(candidate)
    message = _message(MEDICAL)
    decisions = evaluate_outbound_all(message, current, "bolo", now=NOW)
    assert await shadow.judge(message, "bolo", "e", decisions, NOW) == {}
    assert _metric(shadow, "relay_policy_shadow_errors_total", stage="judge") == 1


async def test_a_sink_that_raises_or_hangs_is_counted_and_passed_over(
    policies: tuple[Policy, Policy], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    current, candidate = policies

    class Broken:
        async def sample(self, **kw: Any) -> None:
            raise ValueError(CANARY)

    class Hanging:
        async def sample(self, **kw: Any) -> None:
            await asyncio.Event().wait()

    monkeypatch.setattr(shadow_module, "SAMPLE_TIMEOUT", 0.05)
    for sink in (Broken(), Hanging()):
        shadow = _shadow(candidate, sink)
        diffs = await _judge(shadow, current, MEDICAL)
        assert diffs[MA].changed
        assert _metric(shadow, "relay_policy_shadow_errors_total", stage="sample") >= 1


def _agencies(tmp: Path) -> list[Agency]:
    return [
        Agency(CT, "Havenport PD", "T0HAVENPT1", HAVENPORT, officers=((OFFICER, "Det. Okafor"),)),
        Agency(MA, "Millbrook PD", "T0MILLBRK1", EXAMPLES / "ma9990200-millbrook.yaml"),
    ]


async def test_a_candidate_that_would_block_more_changes_nothing_that_leaves(
    tmp_path: Path,
) -> None:
    async with Network(tmp_path / "net", _agencies(tmp_path)) as net:
        net.configs[CT] = dataclasses.replace(
            net.configs[CT], policy_candidate=candidate_file(tmp_path)
        )
        await net.kill(CT)
        await net.restart(CT)
        net.post(CT, "bolo", OFFICER, MEDICAL)
        await net.settle(CT, 1)
        assert net.emu is not None
        ma = net.nodes[MA].agency
        copies = [p["text"] for p in net.emu.messages(ma.team, ma.channel("bolo"))]
        assert len(copies) == 1, "the policy in force decided: redacted, sent"
        assert CANARY not in copies[0]
        relay = net.nodes[CT].relay
        registry = relay.metrics.registry
        labels = {"partner": MA, "kind": "more_blocked", "rule": "medical.detail"}
        assert registry.get_sample_value("relay_policy_shadow_differences_total", labels) == 1
        assert registry.get_sample_value("relay_policy_shadow_judged_total", {"partner": MA})
        shadow = relay.parts.outbound.shadow
        assert shadow is not None
        assert isinstance(shadow.sink, CountingSink)
        assert shadow.sink.counts[(MA, Kind.MORE_BLOCKED)] == 1
        assert CANARY not in generate_latest(registry).decode()
