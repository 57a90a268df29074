"""`relay chaos` and `relay bench e2e` as tools call them: one JSON line each, real parts."""

from __future__ import annotations

import json
import subprocess
import sys

from relay.commands.chaos import run_chaos
from tests.store.conftest import PG_DSN

KEYS = ["sent", "expected_posts", "delivered", "lost", "duplicates", "max_recovery_s"]
NEW_KEYS = [
    "edits",
    "deletes",
    "replies",
    "mismatched",
]  # appended: the old keys stay as they were


def _relay(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_chaos_prints_one_json_line_and_loses_nothing() -> None:
    done = _relay("chaos", "--messages", "25", "--seed", "4")
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    assert list(result) == KEYS + NEW_KEYS
    assert result["sent"] == 25  # new top-level posts only
    assert result["expected_posts"] >= 20  # most BOLOs reach a partner (some are deleted)
    assert result["delivered"] == result["expected_posts"]
    assert (result["lost"], result["duplicates"], result["mismatched"]) == (0, 0, 0)
    assert min(result["edits"], result["deletes"], result["replies"]) > 0  # with this seed
    assert done.returncode == 0
    assert "faults injected" in done.stderr
    assert "mismatched views" not in done.stderr
    # partners' officers replied in the threads of their copies too: those replies count in
    # "replies", and each must be in the thread of the BOLO in every workspace it reached
    [made] = [line for line in done.stderr.splitlines() if "officers made" in line]
    partner = json.loads(made.split("made: ", 1)[1])
    assert 0 < partner["partner_replies"] < result["replies"]


async def test_chaos_two_instances_per_agency_on_postgresql() -> None:
    result, faults = await run_chaos(
        messages=30, seed=11, store=PG_DSN, instances=2, timeout=120.0
    )
    assert sum(faults.values()) >= 1
    assert result["delivered"] == result["expected_posts"] > 0
    assert (result["lost"], result["duplicates"], result["mismatched"]) == (0, 0, 0)


def test_chaos_refuses_bad_arguments() -> None:
    done = _relay("chaos", "--messages", "0")
    assert done.returncode == 2
    assert done.stdout == ""
    done = _relay("chaos", "--store", "mysql://x")
    assert done.returncode == 2
    assert "postgresql://" in done.stderr


def test_bench_e2e_prints_figures() -> None:
    done = _relay(
        "bench", "e2e", "--messages", "40", "--rate", "40", "--store", "sqlite",
        "--instances", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert "error" not in result, result
    assert result["durable_msgs_per_s"] > 0
    assert 0 < result["hop1_p50_ms"] <= result["hop1_p99_ms"]
    assert 0 < result["hop2_p50_ms"] <= result["hop2_p99_ms"]
    # the partner's officer replied in the thread of each copy: every reply came back into
    # the thread of the original BOLO (the bench fails the run otherwise)
    reply = result["reply_to_origin_ms"]
    assert list(reply) == ["p50", "p99", "n"]
    assert reply["n"] == 100  # one per BOLO of the reply phase: max(100, 2.5 x the rate)
    assert 0 < reply["p50"] <= reply["p99"]
    assert "a partner's reply to the origin's thread p50/p99" in done.stderr
