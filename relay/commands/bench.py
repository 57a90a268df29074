"""`relay bench policy`: whole decisions per second on one core, and their latency.

A whole decision is parse (event dict to message), normalise, detect and rebuild, for one
partner, exactly as the relay does it per message and partner.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

from relay.commands import bench_e2e, bench_envelope, bench_flood, bench_ocr, bench_soak
from relay.commands.policy import read_policy
from relay.core.policy.engine import evaluate_outbound, evaluate_outbound_all
from relay.core.policy.load import PolicyLoadError
from relay.core.policy.match import hyperscan_available
from relay.core.slack_parse import parse_event

__all__ = ["add_parser"]

_DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"


def _percentile(sorted_values: list[float], q: float) -> float:
    idx = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[idx]


def _bench(args: argparse.Namespace) -> int:
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    try:
        policy = read_policy(args.policy, now.date())
    except PolicyLoadError as exc:
        for line in exc.lines():
            print(line)
        return 2
    fast = not args.no_fast_path and hyperscan_available()
    if not fast:
        policy.rules.use_fast_path = False
    else:
        policy.rules.use_fast_path = True
    peer = next(iter(policy.partners), "")
    from relay.lab.corpus import generate_corpus  # the lab: loaded only for the bench

    corpus = generate_corpus(args.count, seed=args.seed)
    for event in corpus[:200]:  # warm up caches
        evaluate_outbound(parse_event(event), policy, peer, "bolo", now=now)
    clock = time.perf_counter
    timings: list[float] = []
    actions: Counter[str] = Counter()
    start = clock()
    for event in corpus:
        t0 = clock()
        decision = evaluate_outbound(parse_event(event), policy, peer, "bolo", now=now)
        timings.append(clock() - t0)
        actions[decision.action.value] += 1
    total = clock() - start
    timings.sort()
    lines = sum(len(str(e.get("text", "")).splitlines()) for e in corpus)
    print(
        f"relay bench policy: {len(corpus)} messages ({lines} lines), policy "
        f"{args.policy}, matching: {'hyperscan prefilter + re' if fast else 're only'}"
    )
    print(f"one partner ({peer}), whole decision per message (parse, normalise, detect, rebuild):")
    print(f"  throughput: {len(corpus) / total:,.0f} decisions/s on one core")
    print(
        f"  latency: p50 {_percentile(timings, 0.50) * 1e6:.1f} us, "
        f"p99 {_percentile(timings, 0.99) * 1e6:.1f} us, max {timings[-1] * 1e6:.1f} us"
    )
    print("  actions: " + ", ".join(f"{k} {v}" for k, v in sorted(actions.items())))
    fan: list[float] = []
    decisions = 0
    start = clock()
    for event in corpus:
        t0 = clock()
        decisions += len(evaluate_outbound_all(parse_event(event), policy, "bolo", now=now))
        fan.append(clock() - t0)
    total = clock() - start
    fan.sort()
    print(
        f"every partner ({len(policy.partners)}), as the relay runs it (one parse and "
        f"analysis per message, one decision per partner):"
    )
    print(
        f"  throughput: {decisions / total:,.0f} decisions/s, "
        f"{len(corpus) / total:,.0f} messages/s on one core"
    )
    print(
        f"  latency per message: p50 {_percentile(fan, 0.50) * 1e6:.1f} us, "
        f"p99 {_percentile(fan, 0.99) * 1e6:.1f} us"
    )
    return 0


def add_parser(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks that print figures")
    sub = bench.add_subparsers(dest="bench_command", required=True)
    p = sub.add_parser("policy", help="policy decisions per second over a generated corpus")
    p.add_argument("--policy", default=str(_DEFAULT_POLICY), metavar="FILE")
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--no-fast-path",
        action="store_true",
        help="match with Python re only (what runs without hyperscan)",
    )
    p.set_defaults(func=_bench)
    bench_envelope.add_parser(sub)
    bench_e2e.add_parser(sub)
    bench_flood.add_parser(sub)
    bench_ocr.add_parser(sub)
    bench_soak.add_parser(sub)
