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
- ``rss_mib``: each relay process's resident memory after the warm-up and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.commands.demo import agencies

if TYPE_CHECKING:
    from relay.lab.emulator import Emulator

__all__ = ["add_parser", "run_e2e"]

_BASELINE = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"


@dataclass
class _Proc:
    proc: subprocess.Popen[str]
    started: dict[str, Any] = field(default_factory=dict)

    def rss_mib(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _start(config: Path, env: dict[str, str]) -> _Proc:
    proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our own CLI, fixed arguments; quick
        [sys.executable, "-m", "relay", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if os.environ.get("RELAY_BENCH_DEBUG") else subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None  # noqa: S101
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
    if not line:
        if proc.stderr is not None:
            print(proc.stderr.read(), file=sys.stderr)
        raise RuntimeError("relay did not start")
    return _Proc(proc, json.loads(line))


@contextlib.asynccontextmanager
async def _relays(
    emu: Emulator, tmp: Path, stores: dict[str, str], instances: int
) -> AsyncIterator[dict[str, list[_Proc]]]:
    import datetime as dt

    from relay.lab.labinit import LabAgency, lab_policy
    from relay.lab.pki import ThrowawayCA
    from relay.lab.relayyaml import Delivery, Listen, Slack, throwaway_tls, write_material

    ct, ma = agencies()[:2]
    ca = ThrowawayCA(tmp / "pki")
    material = {
        a.ori: write_material(tmp / a.ori, a.ori, f"{a.ori}#bench", throwaway_tls(ca, a.ori))
        for a in (ct, ma)
    }
    start, end = dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    # Each agency's policy: the baseline's rules, the other its one partner (one message, one
    # envelope each way: what is measured is the relay, not envelopes to absent partners).
    pair = [LabAgency(a.ori, a.name, ()) for a in (ct, ma)]
    baseline = _BASELINE
    policies = {}
    for lab_agency in pair:
        policies[lab_agency.ori] = tmp / lab_agency.ori / "policy.yaml"
        policies[lab_agency.ori].write_text(
            lab_policy(lab_agency, pair, dt.date.today(), extends=str(baseline))
        )
    procs: dict[str, list[_Proc]] = {ct.ori: [], ma.ori: []}
    try:
        for agency, partner, url in ((ma, ct, "https://127.0.0.1:1"), (ct, ma, None)):
            partner_url = url or str(procs[ma.ori][0].started["federation"])
            config = material[agency.ori].config(
                policy=policies[agency.ori],
                store=stores[agency.ori],
                delivery=Delivery(
                    lease_seconds=10, poll_seconds=0.2, batch=128, stop_timeout_seconds=5
                ),
                rate_limit=(100000, 100000),
                partners=[material[partner.ori].partner(partner_url, start, end)],
                slack=Slack(
                    team_id=agency.team,
                    api_url=emu.api_url,
                    bot_token_env="BENCH_BOT_TOKEN",  # noqa: S106 - a variable's name
                    signing_secret_env="BENCH_SIGNING_SECRET",  # noqa: S106
                    listen=Listen("127.0.0.1", 0),
                    pacing=False,
                    catch_up_seconds=5,
                    channels={agency.channel("bolo"): "bolo"},
                ),
            )
            path = config.write(tmp / agency.ori / "relay.yaml")
            ws = emu.workspace(agency.team)
            env = {"BENCH_BOT_TOKEN": ws.bot_token, "BENCH_SIGNING_SECRET": ws.signing_secret}
            for _ in range(instances):
                procs[agency.ori].append(await _start(path, env))
            emu.set_event_url(agency.team, str(procs[agency.ori][0].started["slack_events"]))
        yield procs
    finally:
        for p in (p for ps in procs.values() for p in ps):
            p.proc.terminate()
        for p in (p for ps in procs.values() for p in ps):
            try:
                await asyncio.wait_for(asyncio.to_thread(p.proc.wait), timeout=20)
            except TimeoutError:
                p.proc.kill()


def _accepted(store: str, ids: set[str]) -> dict[str, float]:
    """When the partner relay committed each envelope (its inbound queue's created_at)."""
    query = "SELECT envelope_id, created_at FROM inbound"
    if store.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(store.removeprefix("sqlite:///"))) as db:
            rows = db.execute(query).fetchall()
    else:
        import psycopg

        with psycopg.connect(store) as db:
            rows = db.execute(query).fetchall()
    return {str(e): float(t) for e, t in rows if e in ids}


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


@contextlib.contextmanager
def _store_urls(backend: str, tmp: Path, pg_url: str) -> Iterator[dict[str, str]]:
    ct, ma = agencies()[:2]
    if backend == "sqlite":
        yield {a.ori: f"sqlite:///{tmp / f'{a.ori}.db'}" for a in (ct, ma)}
        return
    import psycopg
    from psycopg import sql as pgsql

    tag = secrets.token_hex(4)
    schemas = {a.ori: f"bench_{tag}_{a.ori.lower()}" for a in (ct, ma)}
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for schema in schemas.values():
            admin.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    try:
        sep = "&" if "?" in pg_url else "?"
        yield {o: f"{pg_url}{sep}options=-csearch_path%3D{s}" for o, s in schemas.items()}
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for schema in schemas.values():
                admin.execute(
                    pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
                )


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
        _store_urls(backend, Path(tmp), pg_url) as stores,
    ):
        async with Emulator(specs) as emu:
            emu.disable_rate_limits()
            async with _relays(emu, Path(tmp), stores, instances) as procs:
                await _drive(emu, 100, None, "warmup")
                rss0 = {o: [round(p.rss_mib(), 1) for p in ps] for o, ps in procs.items()}
                cpu0 = {o: sum(p.cpu_seconds() for p in ps) for o, ps in procs.items()}
                _, _, seconds = await _drive(emu, count, None, "burst")
                cpu = {
                    o: round((sum(p.cpu_seconds() for p in ps) - cpu0[o]) * 1000 / count, 3)
                    for o, ps in procs.items()
                }
                posted, arrived, _ = await _drive(emu, max(200, int(rate * 5)), rate, "paced")
                rss1 = {o: [round(p.rss_mib(), 1) for p in ps] for o, ps in procs.items()}
            accepted = await asyncio.to_thread(_accepted, stores[ma.ori], set(posted))
    hop1 = [(accepted[e] - posted[e]) * 1000 for e in posted if e in accepted]
    hop2 = [(arrived[e] - accepted[e]) * 1000 for e in arrived if e in accepted]
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
    return 0


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
