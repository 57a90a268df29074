"""`relay bench soak --minutes M --rate R`: the demo agencies' relays, each a ``relay run``
process, under steady traffic and periodic faults; then whether anything was lost or
duplicated and whether memory or file descriptors grew.

Officers post BOLOs and, between them, edit (some edits add what the policy strips or
blocks, and take it out again), reply in threads, cancel and delete earlier ones
(``relay.commands.chaos_traffic``) at R messages a second in all, for M minutes. Every relay
is a real process behind fault proxies (``relay.lab.procnet``), and every few seconds one
fault of ``relay chaos``'s schedule (``relay.commands.chaos_faults``): Millbrook's relay
killed and restarted, a federation link refused, reset or black-holed, Slack calls cut after
Slack acted, bursts of 429s and 500s from Slack. Each relay's resident memory (``VmRSS``)
and open descriptors (``/proc/<pid>/fd``) are sampled every few seconds. Then the faults
stop, the system settles (at most ``--timeout``), and one JSON line is printed.

Start and end of the growth figures: the first 10 % of the run is the warm-up; ``*_warm``
is the median of the samples in the next 10 %, ``*_end`` the median of those in the last
10 %, ``*_growth_pct`` the change between them. Under load the descriptors follow the
connections in flight (Slack's keep-alive pool, events coming in), so two more counts say
whether any stay open: ``fds_before`` (before the traffic) and ``fds_idle`` (after the
settling and ``--idle`` seconds of quiet, default 20). Millbrook's relay is the one
restarted, so its figures are those of several processes and it is left out of the verdict.
Exit 0 when ``lost`` and ``duplicates`` are 0 and no other relay grew by 10 % or more in
memory or descriptors (``growth_pct``: the largest such growth); 1 otherwise; 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from relay.commands.chaos import copies, lab_options, loosen_limits, settle
from relay.commands.chaos_faults import Faults, Tally, pause
from relay.commands.chaos_traffic import TOPIC, Traffic
from relay.commands.demo import MA, agencies

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when the soak runs
    from relay.lab.procnet import ProcessNetwork

__all__ = ["add_parser", "run_soak"]

GROWTH_LIMIT: Final = 10.0  # per cent, after the warm-up
IDLE: Final = 20.0  # seconds of quiet before the last count of descriptors (keep-alive: 15 s)
RESTARTED: Final = (MA,)  # the relays the faults kill and restart
Sample = tuple[float, str, int, int, int]  # (seconds into the run, ORI, pid, RSS KiB, fds)


async def _officers(traffic: Traffic, seconds: float, rate: float, tally: Tally) -> None:
    """A new BOLO, perhaps an edit, reply, cancellation or delete of a recent one; paced so
    that officers' messages of every kind come at ``rate`` a second."""
    rng, start, n = traffic.rng, time.monotonic(), 0
    while time.monotonic() - start < seconds:
        n += 1
        item = traffic.post(n)
        tally.posted.append((time.monotonic(), item.origin, item.envelope))
        r = rng.random()
        if r < 0.30:
            traffic.edit()
        elif r < 0.55:
            traffic.reply()
        elif r < 0.60:
            traffic.delete()
        elif r < 0.63:
            traffic.reply(cancel=True)
        await asyncio.sleep(max(0.0, start + len(traffic.ops) / rate - time.monotonic()))


async def _sample(
    net: ProcessNetwork, samples: list[Sample], t0: float, every: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        at = time.monotonic() - t0
        for ori, proc in list(net.procs.items()):
            rss, fds = proc.rss_kib(), proc.fds()
            if rss is not None and fds is not None:
                samples.append((at, ori, proc.pid, rss, fds))
        await pause(every, stop)


def _growth(samples: list[Sample], ori: str, seconds: float) -> dict[str, Any]:
    mine = [s for s in samples if s[1] == ori]
    warm = [s for s in mine if 0.1 * seconds <= s[0] < 0.2 * seconds] or mine[:1]
    end = [s for s in mine if s[0] >= 0.9 * seconds] or mine[-1:]
    out: dict[str, Any] = {}
    for name, i in (("rss", 3), ("fds", 4)):
        w = statistics.median(int(s[i]) for s in warm)
        e = statistics.median(int(s[i]) for s in end)
        unit = "_kib" if name == "rss" else ""
        out[f"{name}_warm{unit}"], out[f"{name}_end{unit}"] = round(w), round(e)
        out[f"{name}_growth_pct"] = round((e - w) * 100 / w, 1) if w else 0.0
    out["processes"] = len({s[2] for s in mine})
    return out


def _latency(net: ProcessNetwork, traffic: Traffic, wall0: float) -> list[dict[str, Any]]:
    """Per minute of posting: the ms from an officer's message to its copy in a direct
    partner's workspace (one hop: both relays, the link, Slack), p50 and p99. Messages ever
    withheld and posted again are left out (their copy's time is the second post's)."""
    assert net.emu is not None  # noqa: S101
    items = {i.envelope: i for i in traffic.items}
    by_minute: dict[int, list[float]] = defaultdict(list)
    for agency in net.agencies:
        for envelope, ts in net.emu.marked_posts(agency.team, agency.channel(TOPIC)):
            item = items.get(envelope)
            if item is None or agency.ori not in net.links[item.origin]:
                continue
            if item.was_unsafe or (item.root is not None and item.root.was_unsafe):
                continue
            by_minute[int((float(item.ts) - wall0) // 60)].append(
                (float(ts) - float(item.ts)) * 1000
            )
    out = []
    for minute, values in sorted(by_minute.items()):
        values.sort()
        out.append(
            {
                "minute": minute,
                "p50_ms": round(statistics.median(values), 1),
                "p99_ms": round(values[min(len(values) - 1, int(0.99 * len(values)))], 1),
                "n": len(values),
            }
        )
    return out


async def run_soak(
    *,
    seconds: float,
    rate: float,
    seed: int,
    timeout: float,  # noqa: ASYNC109
    keep: Path | None = None,
    idle: float = IDLE,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The result line, and the faults injected."""
    from relay.commands.chaos_views import Paths, compare, expect
    from relay.lab.faultproxy import Mode
    from relay.lab.procnet import ProcessNetwork

    faults_rng = random.Random(f"{seed}/faults")  # noqa: S311 - reproducible, not a secret
    officers_rng = random.Random(f"{seed}/officers")  # noqa: S311
    tally, samples = Tally(), list[Sample]()
    every = max(1.0, min(5.0, seconds / 60))
    gap = (max(1.0, seconds / 120), max(2.0, seconds / 40))  # 5 to 15 s in 10 minutes
    with _home(keep) as tmp:
        async with ProcessNetwork(tmp, agencies(), lab_options()) as net:
            loosen_limits(net)
            traffic = Traffic(net, officers_rng)
            before = {o: p.fds() for o, p in net.procs.items()}
            stop = asyncio.Event()
            t0, wall0 = time.monotonic(), time.time()
            sampler = asyncio.create_task(_sample(net, samples, t0, every, stop))
            faults = Faults(net, faults_rng, tally, gap=gap, restartable=RESTARTED)
            chaos = asyncio.create_task(faults.run(stop))
            try:
                await _officers(traffic, seconds, rate, tally)
            finally:
                ran = time.monotonic() - t0
                stop.set()
                await chaos
                await sampler
            for ori, proxy in net.fed_proxy.items():  # every link up, every relay running
                proxy.set_mode(Mode.PASS)
                net.slack_proxy[ori].set_mode(Mode.PASS)
            exited = net.exited()  # a crash, not a fault: said, counted, then restarted
            for ori, code in exited.items():
                print(
                    f"relay bench soak: relay {ori} exited on its own (exit {code})",
                    file=sys.stderr,
                )
            for agency in net.agencies:
                if not net.alive(agency.ori):
                    await net.restart(agency.ori)
            wants = expect(Paths(net), traffic.ops, [a.ori for a in net.agencies])
            expected = [k for k, w in wants.items() if w.texts and w.item.root is None]
            await settle(net, expected, wants, timeout)
            seen = copies(net)
            differing = compare(net, wants)
            latency = _latency(net, traffic, wall0)
            await asyncio.sleep(idle)  # idle keep-alive connections closed by now
            fds_idle = {o: p.fds() for o, p in net.procs.items()}
            for failure in net.start_failures:
                print(f"relay bench soak: a restart failed: {failure}", file=sys.stderr)
            items = {i.envelope: i for i in traffic.items}
    delivered = sum(1 for k in expected if seen[k] > 0)
    relays = {
        a.ori: _growth(samples, a.ori, ran)
        | {"fds_before": before[a.ori], "fds_idle": fds_idle[a.ori]}
        for a in agencies()
    }
    judged = [r for o, r in relays.items() if o not in RESTARTED]
    growth = max(max(r["rss_growth_pct"], r["fds_growth_pct"]) for r in judged)
    result = {
        "seconds": round(ran, 1),
        "rate": rate,
        "officer_messages": len(traffic.ops),
        "sent": traffic.made["posts"],
        "edits": traffic.made["edits"],
        "replies": traffic.made["replies"],
        "deletes": traffic.made["deletes"],
        "expected_posts": len(expected),
        "delivered": delivered,
        "lost": len(expected) - delivered,
        "duplicates": sum(c - 1 for c in seen.values() if c > 1),
        "mismatched": differing.pop("pairs", 0),
        "faults": sum(tally.faults.values()),
        "restart_failures": len(net.start_failures),
        "warm_up_s": round(0.1 * ran, 1),
        "relays": relays,
        "restarted": list(RESTARTED),
        "growth_pct": growth,
        "hop_latency_ms": latency,
    }
    missing = Counter(  # which routes lost copies: origin ORI -> workspace ORI, no text
        f"lost_{items[e].origin}_to_{ws}"
        for (ws, e) in expected
        if not seen[(ws, e)] and e in items
    )
    twice = Counter(
        f"duplicate_{'reply' if items[e].root else 'bolo'}_in_{ws}"
        for (ws, e), c in seen.items()
        if c > 1 and e in items
        for _ in range(c - 1)
    )
    return result, {"relay_exited": len(exited)} | dict(sorted(tally.faults.items())) | {
        f"mismatched_{k}": v for k, v in sorted(differing.items()) if v
    } | dict(sorted(twice.items())) | dict(sorted(missing.items()))


@contextlib.contextmanager
def _home(keep: Path | None) -> Iterator[Path]:
    """Where the relays live: ``keep`` (kept after the run: each relay's relay.yaml, store and
    relay.log), else a temporary directory."""
    if keep is not None:
        keep = keep.resolve()  # the relays' store URLs are made from it: absolute
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="relay-soak-") as tmp:
        yield Path(tmp)


def _empty_or_absent(path: Path) -> bool:
    try:
        return not path.exists() or (path.is_dir() and not any(path.iterdir()))
    except OSError:
        return False


def _soak(args: argparse.Namespace) -> int:
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    if not 3 <= seconds <= 24 * 3600 or args.rate <= 0 or not 0 <= args.idle <= 600:
        print(
            "relay bench soak: the run must be 3 s to 24 h, --rate above 0, --idle 0 to 600 s",
            file=sys.stderr,
        )
        return 2
    if args.keep is not None and not _empty_or_absent(args.keep):
        print(f"relay bench soak: --keep {args.keep}: not an empty directory", file=sys.stderr)
        return 2
    try:
        result, faults = asyncio.run(
            run_soak(
                seconds=seconds,
                rate=args.rate,
                seed=args.seed,
                timeout=args.timeout,
                keep=args.keep,
                idle=args.idle,
            )
        )
    except RuntimeError as exc:  # a relay that did not start: our own words, its exit code
        print(f"relay bench soak: failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"relay bench soak: failed: {type(exc).__name__}", file=sys.stderr)
        return 1
    crashed = faults.pop("relay_exited", 0)
    injected = {
        k: v for k, v in faults.items() if not k.startswith(("mismatched_", "dup", "lost_"))
    }
    print(f"relay bench soak: faults injected: {json.dumps(injected)}", file=sys.stderr)
    if differing := {k: v for k, v in faults.items() if k not in injected}:  # kinds, no text
        print(f"relay bench soak: differences by kind: {json.dumps(differing)}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["growth_pct"] < GROWTH_LIMIT
    return 0 if ok and not crashed else 1


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "soak",
        help="the demo relays as processes under steady traffic and faults: lost, "
        "duplicates, memory and descriptors over time",
    )
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seconds", type=float, help="instead of --minutes (short runs, tests)")
    p.add_argument("--rate", type=float, default=50.0, help="officers' messages a second")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to settle")
    p.add_argument(
        "--idle",
        type=float,
        default=IDLE,
        help="seconds of quiet before fds_idle is counted (default 20: keep-alive closes at 15)",
    )
    p.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the relays' homes (relay.yaml, store, relay.log) in DIR, new or empty",
    )
    p.set_defaults(func=_soak)
