"""`relay bench e2e`: messages from an emulated workspace through two relays into a partner's.

Havenport officers post BOLOs in #bolo; Havenport's relay takes each event (durably), judges,
signs and queues it; Millbrook's relay accepts it (durably), judges it and posts it in
Millbrook's workspace. Each relay is a real ``relay run`` process from a generated
``relay.yaml`` (mutual TLS with a throwaway CA, keys generated for the run; each agency's
policy is the baseline's rules with the other as its one partner, as ``relay lab init``
writes it); the Slack
emulator runs in this process with its rate limits off, and the relays' own Slack pacing is
off too (``slack.pacing: false``): what is measured is the relay. Per configuration (SQLite
or PostgreSQL, one instance per agency or two on the same store) it prints one JSON line:

- ``durable_msgs_per_s``: messages posted as fast as possible / seconds from the first post
  to the last arrival, every one committed at each edge on the way (the emulator and both
  relays share this machine's cores);
- ``relay_cpu_ms_per_msg``: CPU each agency's relay process(es) spent per message during
  that burst; 1000 / this is what one core gives a relay on its own;
- ``hop1_*_ms``: at a fixed offered rate (``--rate``), from the officer's post to the envelope
  committed at the partner relay (the origin relay's work and the link);
- ``hop2_*_ms``: from there to the post in the partner's workspace (the receiving relay);
- ``reply_to_origin_ms``: the conversation coming back (``p50``, ``p99``, ``n``): Havenport
  posts BOLOs at half the offered rate and, as each lands in Millbrook's workspace,
  Millbrook's officer replies in the thread of that copy (the other half); from the reply's
  post to Havenport's relay posting it in the thread of the original BOLO, both relays' work
  and the link included. A reply that lands anywhere but that thread fails the run;
- ``rss_mib``: each relay process's resident memory after the warm-up and at the end.

Each figure on its own line on stderr too, for people; stdout stays one JSON line per
configuration, for tools.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.commands.bench_e2e_procs import accepted, relays, store_urls
from relay.commands.demo import agencies

if TYPE_CHECKING:
    from relay.lab.emulator import Emulator

__all__ = ["add_parser", "run_e2e"]

_REPLY = (
    "That is the man we arrested last year for the same thing, case MB-{}; he stays on Elm St."
)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _drive(
    emu: Emulator, count: int, rate: float | None, label: str
) -> tuple[dict[str, float], dict[str, float], float]:
    """Post ``count`` BOLOs; wait until all arrived. (posted at, arrived at, seconds)."""
    ct, ma = agencies()[:2]
    channel, target = ct.channel("bolo"), ma.channel("bolo")
    posted: dict[str, float] = {}
    start, wall0 = time.monotonic(), time.time()
    for i in range(count):
        if rate is not None:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        text = f"BOLO {label}-{i}: stolen grey Honda Civic, reg 4KX{i % 1000:03d}, Route 9 NB."
        ts = emu.post_as_user(ct.team, channel, ct.officers[0][0], text)
        posted[f"{ct.ori}.{channel}.{ts}"] = time.time()
        if rate is None and i % 20 == 19:
            await asyncio.sleep(0)  # the emulator's deliveries are tasks of this loop
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + 300
    while len(arrived) < count and time.monotonic() < deadline:
        for env, ts in emu.marked_posts(ma.team, target):
            if env in posted and env not in arrived:
                arrived[env] = float(ts)  # the post's own time, not this poll's
        await asyncio.sleep(0.2)
    if len(arrived) < count:
        raise TimeoutError(f"{count - len(arrived)} of {count} messages did not arrive")
    return posted, arrived, max(arrived.values()) - wall0


async def _converse(emu: Emulator, count: int, rate: float) -> list[float]:
    """Havenport posts ``count`` BOLOs at ``rate`` / 2 a second; as each lands in Millbrook's
    workspace, Millbrook's officer replies in its copy's thread. Per reply, the ms from its
    post to Havenport's relay posting it in the thread of the original BOLO."""
    ct, ma = agencies()[:2]
    channel, target, officer = ct.channel("bolo"), ma.channel("bolo"), ma.officers[0][0]
    roots: dict[str, str] = {}  # Havenport's envelope id -> the BOLO's ts in its workspace
    replies: dict[str, tuple[float, str]] = {}  # reply's envelope id -> (posted at, root ts)
    landed: dict[str, float] = {}
    start, deadline, i = time.monotonic(), time.monotonic() + 300, 0
    while len(landed) < count and time.monotonic() < deadline:
        while i < count and start + i / (rate / 2) <= time.monotonic():
            text = f"BOLO reply-{i}: stolen grey Honda Civic, reg 5KX{i % 1000:03d}, Route 9 NB."
            ts = emu.post_as_user(ct.team, channel, ct.officers[0][0], text)
            roots[f"{ct.ori}.{channel}.{ts}"] = ts
            i += 1
        for env, ts in emu.marked_posts(ma.team, target):
            if env in roots:
                root = roots.pop(env)
                reply = emu.post_as_user(ma.team, target, officer, _REPLY.format(i), thread_ts=ts)
                replies[f"{ma.ori}.{target}.{reply}"] = (float(reply), root)
        for env, ts in emu.marked_posts(ct.team, channel):
            if env in replies and env not in landed:
                landed[env] = float(ts)  # the post's own time, not this poll's
        await asyncio.sleep(0.05)
    if len(landed) < count:
        raise TimeoutError(f"{count - len(landed)} of {count} replies did not come back")
    threads = {
        str(p["metadata"]["event_payload"]["envelope_id"]): p.get("thread_ts")
        for p in emu.bot_posts(ct.team, channel)
        if (p.get("metadata") or {}).get("event_payload")
    }
    astray = [e for e, (_, root) in replies.items() if threads.get(e) != root]
    if astray:
        raise RuntimeError(f"{len(astray)} replies are not in the thread of their BOLO")
    return [(landed[e] - posted) * 1000 for e, (posted, _) in replies.items()]


async def run_e2e(
    *, backend: str, instances: int, count: int, rate: float, pg_url: str
) -> dict[str, Any]:
    from relay.lab.emulator import ChannelSpec, Emulator, UserSpec, WorkspaceSpec
    from relay.lab.network import TOPICS

    specs = [
        WorkspaceSpec(
            team_id=a.team,
            name=a.name,
            users=tuple(UserSpec(id=u, name=n.lower().replace(" ", ".")) for u, n in a.officers),
            channels=tuple(ChannelSpec(id=a.channel(t), name=t) for t in TOPICS),
        )
        for a in agencies()[:2]
    ]
    ma = agencies()[1]
    with (
        tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp,
        store_urls(backend, Path(tmp), pg_url) as stores,
    ):
        async with Emulator(specs) as emu:
            emu.disable_rate_limits()
            async with relays(emu, Path(tmp), stores, instances) as procs:
                await _drive(emu, 100, None, "warmup")
                rss0 = {o: [round(p.rss_mib(), 1) for p in ps] for o, ps in procs.items()}
                cpu0 = {o: sum(p.cpu_seconds() for p in ps) for o, ps in procs.items()}
                _, _, seconds = await _drive(emu, count, None, "burst")
                cpu = {
                    o: round((sum(p.cpu_seconds() for p in ps) - cpu0[o]) * 1000 / count, 3)
                    for o, ps in procs.items()
                }
                posted, arrived, _ = await _drive(emu, max(200, int(rate * 5)), rate, "paced")
                replied = await _converse(emu, max(100, int(rate * 2.5)), rate)
                rss1 = {o: [round(p.rss_mib(), 1) for p in ps] for o, ps in procs.items()}
            committed = await asyncio.to_thread(accepted, stores[ma.ori], set(posted))
    hop1 = [(committed[e] - posted[e]) * 1000 for e in posted if e in committed]
    hop2 = [(arrived[e] - committed[e]) * 1000 for e in arrived if e in committed]
    return {
        "store": backend,
        "instances": instances,
        "messages": count,
        "durable_msgs_per_s": round(count / seconds, 1),
        "relay_cpu_ms_per_msg": cpu,
        "offered_rate_per_s": rate,
        "hop1_p50_ms": round(statistics.median(hop1), 2),
        "hop1_p99_ms": round(_pct(hop1, 0.99), 2),
        "hop2_p50_ms": round(statistics.median(hop2), 2),
        "hop2_p99_ms": round(_pct(hop2, 0.99), 2),
        "reply_to_origin_ms": {
            "p50": round(statistics.median(replied), 2),
            "p99": round(_pct(replied, 0.99), 2),
            "n": len(replied),
        },
        "rss_mib_after_warmup": rss0,
        "rss_mib_at_end": rss1,
    }


def _bench(args: argparse.Namespace) -> int:
    for backend in args.store:
        for instances in args.instances:
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
            except Exception as exc:  # noqa: BLE001 - one line per configuration, no trace
                result = {"store": backend, "instances": instances, "error": type(exc).__name__}
            print(json.dumps(result), flush=True)
            if "error" not in result:
                _say(result)
    return 0


def _say(r: dict[str, Any]) -> None:
    """The figures for people, on stderr (stdout is the JSON line tools read)."""
    reply = r["reply_to_origin_ms"]
    print(
        f"bench e2e {r['store']} x{r['instances']}: {r['durable_msgs_per_s']} durable msg/s; "
        f"at {r['offered_rate_per_s']:g} msg/s hop 1 p50/p99 {r['hop1_p50_ms']} / "
        f"{r['hop1_p99_ms']} ms, hop 2 {r['hop2_p50_ms']} / {r['hop2_p99_ms']} ms; "
        f"a partner's reply to the origin's thread p50/p99 {reply['p50']} / {reply['p99']} ms "
        f"({reply['n']} replies)",
        file=sys.stderr,
        flush=True,
    )


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("e2e", help="workspace -> two relays -> partner workspace")
    p.add_argument("--messages", type=int, default=2000, help="for the throughput figure")
    p.add_argument("--rate", type=float, default=200.0, help="offered rate for latency")
    p.add_argument(
        "--store", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    p.add_argument("--instances", nargs="+", type=int, default=[1, 2])
    p.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        metavar="URL",
        help="database for the PostgreSQL runs (a fresh schema per agency, dropped after)",
    )
    p.set_defaults(func=_bench)
