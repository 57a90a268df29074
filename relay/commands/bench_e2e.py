"""`relay bench e2e`: messages from an emulated workspace through two relays into a partner's.

Havenport officers post BOLOs in #bolo; Havenport's relay takes each event (durably), judges,
signs and queues it; Millbrook's relay accepts it (durably), judges it and posts it in
Millbrook's workspace. Emulator rate limits and the relays' Slack pacing are off: what is
measured is the relay. Per configuration (SQLite or PostgreSQL, one instance per agency or
two on the same store) it prints:

- durable messages per second: messages posted / seconds from the first post to the last
  arrival, every one of them committed at each edge on the way;
- relay-added latency per hop at a fixed offered rate (``--rate``, default 200/s): hop 1 from
  the officer's post to the envelope committed at the partner relay (the origin relay's
  work, the federation link included), hop 2 from there to the partner's Slack post;
- resident memory before and after, to show it stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.commands.chaos import _stores
from relay.commands.demo import agencies

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when the bench runs
    from relay.network import Network

__all__ = ["add_parser", "run_e2e"]


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _drive(
    net: Network, count: int, rate: float | None, label: str
) -> tuple[float, list[float], list[float]]:
    """Post ``count`` messages (at ``rate`` per second, or as fast as possible); wait for all
    to arrive; return (seconds, hop-1 latencies, hop-2 latencies) in milliseconds."""
    assert net.emu is not None  # noqa: S101
    ct, ma = net.agencies[0], net.agencies[1]
    channel, target = ct.channel("bolo"), ma.channel("bolo")
    posted: dict[str, float] = {}
    start = time.monotonic()
    wall0 = time.time()
    for i in range(count):
        if rate is not None:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        text = f"BOLO {label}-{i}: stolen grey Honda Civic, reg 4KX{i % 1000:03d}, Route 9 NB."
        ts = net.emu.post_as_user(ct.team, channel, ct.officers[0][0], text)
        posted[f"{ct.ori}.{channel}.{ts}"] = time.time()
        if rate is None and i % 50 == 49:
            await asyncio.sleep(0)  # let the relays breathe; the emulator queues the events
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + 300
    while len(arrived) < count and time.monotonic() < deadline:
        for post in net.emu.bot_posts(ma.team, target):
            payload = (post.get("metadata") or {}).get("event_payload") or {}
            env = payload.get("envelope_id")
            if env in posted and env not in arrived:
                arrived[str(env)] = float(post["ts"])
        await asyncio.sleep(0.2)  # arrival times come from the posts' ts, not this poll
    seconds = max(arrived.values(), default=time.time()) - wall0
    accepted = {
        e.envelope_id: e.created_at
        for e in net.nodes[ma.ori].service.store.queue_entries(state="done", limit=10**7)
        if e.envelope_id in posted
    }
    hop1 = [(accepted[e] - posted[e]) * 1000 for e in posted if e in accepted]
    hop2 = [(arrived[e] - accepted[e]) * 1000 for e in arrived if e in accepted]
    if len(arrived) < count:
        raise TimeoutError(f"{count - len(arrived)} of {count} messages did not arrive")
    return seconds, hop1, hop2


async def run_e2e(
    *, backend: str, instances: int, count: int, rate: float, pg_url: str
) -> dict[str, Any]:
    from relay.delivery import QueueTuning
    from relay.network import Network, NetworkOptions

    url = pg_url if backend == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, _stores(url) as opener:
        options = NetworkOptions(
            store=opener,
            instances=instances,
            slack_pacing=False,
            tuning=QueueTuning(batch=128, poll=0.05),
        )
        async with Network(Path(tmp), agencies()[:2], options) as net:
            assert net.emu is not None  # noqa: S101
            net.emu.disable_rate_limits()
            await _drive(net, 50, None, "warmup")
            rss0 = _rss_mib()
            seconds, _, _ = await _drive(net, count, None, "burst")
            _, hop1, hop2 = await _drive(net, max(200, int(rate * 5)), rate, "paced")
            rss1 = _rss_mib()
    return {
        "store": backend,
        "instances": instances,
        "messages": count,
        "durable_msgs_per_s": round(count / seconds, 1),
        "offered_rate_per_s": rate,
        "hop1_p50_ms": round(statistics.median(hop1), 2),
        "hop1_p99_ms": round(_pct(hop1, 0.99), 2),
        "hop2_p50_ms": round(statistics.median(hop2), 2),
        "hop2_p99_ms": round(_pct(hop2, 0.99), 2),
        "rss_mib_before": round(rss0, 1),
        "rss_mib_after": round(rss1, 1),
    }


def _bench(args: argparse.Namespace) -> int:
    configs = [(b, i) for b in args.store for i in args.instances]
    for backend, instances in configs:
        try:
            result = asyncio.run(
                run_e2e(
                    backend=backend,
                    instances=instances,
                    count=args.messages,
                    rate=args.rate,
                    pg_url=args.postgres,
                )
            )
        except Exception as exc:  # noqa: BLE001 - one line per configuration, never a trace
            print(
                json.dumps({"store": backend, "instances": instances, "error": type(exc).__name__})
            )
            continue
        print(json.dumps(result), flush=True)
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("e2e", help="workspace -> two relays -> partner workspace")
    p.add_argument("--messages", type=int, default=2000, help="for the throughput figure")
    p.add_argument("--rate", type=float, default=200.0, help="offered rate for latency")
    p.add_argument(
        "--store",
        nargs="+",
        choices=("sqlite", "postgresql"),
        default=["sqlite", "postgresql"],
    )
    p.add_argument("--instances", nargs="+", type=int, default=[1, 2])
    p.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        metavar="URL",
        help="database for the PostgreSQL runs (a fresh schema per agency, dropped after)",
    )
    p.set_defaults(func=_bench)
