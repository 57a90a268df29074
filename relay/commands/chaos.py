"""`relay chaos --messages N --seed S`: the three-agency demo under faults, then a count.

Officers of all three agencies post N BOLOs while a seeded schedule kills and restarts relay
instances, cuts links between relays (refused, reset, black-holed), cuts Slack calls after
Slack acted (the relay must reconcile, not repost), and makes the Slack emulator answer
bursts of 429s and 500s. Then the faults stop, the system settles, and one JSON line is
printed (a contract: other tools read it)::

    {"sent": N, "expected_posts": E, "delivered": D, "lost": L, "duplicates": K,
     "max_recovery_s": R}

``expected_posts`` counts (message, partner workspace) pairs the agencies' policies say must
arrive; ``delivered`` those that did; ``lost`` = E - D; ``duplicates`` the extra copies of any
message in any workspace; ``max_recovery_s`` the longest time from a fault's end until every
message posted before that end had arrived. Exit 0 only when lost and duplicates are 0.

The emulator's rate limits (and the relays' own Slack pacing) run faster than Slack's, and
queue timings are short, so that 200 messages settle within two minutes here.
``--store postgresql://...`` puts each agency in a fresh schema of that database (dropped
afterwards); ``--instances 2`` runs two relay instances per agency on it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.commands.demo import agencies
from relay.core.backoff import Backoff
from relay.core.policy.engine import evaluate_inbound, evaluate_outbound_all
from relay.core.policy.model import Action
from relay.core.slack_parse import parse_event
from relay.store.contract import Store

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when chaos runs
    from relay.lab.network import Network

__all__ = ["add_parser", "run_chaos"]

TOPIC = "bolo"
_COLOURS = ("white", "black", "silver", "red", "blue", "grey", "green", "maroon")
_MAKES = ("Ford F-150", "Honda Civic", "Toyota Camry", "Jeep Cherokee", "Nissan Altima")
_ROADS = ("Route 9 NB", "I-84 WB", "I-95 SB", "Route 2 EB", "Main St", "Route 15 NB")


@dataclass
class _Tally:
    """Faults and when they ended, against the messages posted by then."""

    posted: list[tuple[float, str, str]] = field(default_factory=list)  # (at, origin, id)
    fault_ends: list[tuple[float, int]] = field(default_factory=list)  # (at, posted so far)
    arrived: dict[tuple[str, str], float] = field(default_factory=dict)  # (ws, id) -> at
    faults: Counter[str] = field(default_factory=Counter)


def _text(rng: random.Random, n: int) -> str:
    plate = f"{rng.randint(1, 9)}{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randint(100, 999)}"
    return (
        f"BOLO {n}: stolen {rng.choice(_COLOURS)} {rng.choice(_MAKES)}, reg {plate}, "
        f"last seen {rng.choice(_ROADS)}. Contact dispatch if located."
    )


def _expected(net: Network, origin: str, text: str) -> set[str]:
    """The partner workspaces this message must reach, by both agencies' policies."""
    now = dt.datetime.now(dt.UTC)
    message = parse_event({"type": "message", "user": "U0", "ts": "1.000001", "text": text})
    policy = net.nodes[origin].relay.policy
    out: set[str] = set()
    for ori, decision in evaluate_outbound_all(message, policy, TOPIC, now=now).items():
        if ori not in net.nodes or decision.action is Action.BLOCK:
            continue
        theirs = net.nodes[ori].relay.policy
        link = theirs.partners.get(origin)
        if link is None or TOPIC not in link.accept:
            continue
        if evaluate_inbound(message, theirs, origin, TOPIC, now=now).action is not Action.BLOCK:
            out.add(ori)
    return out


def _copies(net: Network) -> Counter[tuple[str, str]]:
    """(workspace, envelope id) -> how many relay posts carry it."""
    assert net.emu is not None  # noqa: S101
    seen: Counter[tuple[str, str]] = Counter()
    for ori, node in net.nodes.items():
        for envelope_id, _ in net.emu.marked_posts(node.agency.team, node.agency.channel(TOPIC)):
            seen[(ori, envelope_id)] += 1
    return seen


class _Chaos:
    def __init__(self, net: Network, rng: random.Random, tally: _Tally) -> None:
        self.net, self.rng, self.tally = net, rng, tally
        self.oris = list(net.nodes)

    async def run(self, stop: asyncio.Event) -> None:
        actions: list[Callable[[], Any]] = [
            self.kill_restart,
            self.cut_link,
            self.cut_slack,
            self.slack_errors,
        ]
        while not stop.is_set():
            await self.rng.choice(actions)()
            self.tally.fault_ends.append((time.monotonic(), len(self.tally.posted)))
            await self._pause(self.rng.uniform(0.2, 0.8), stop)

    async def _pause(self, seconds: float, stop: asyncio.Event | None = None) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await stop.wait()
        except TimeoutError:
            pass

    async def kill_restart(self) -> None:
        ori = self.rng.choice(self.oris)
        index = self.rng.randrange(len(self.net.instances[ori]))
        self.tally.faults["kill_restart"] += 1
        await self.net.kill(ori, index)
        await self._pause(self.rng.uniform(0.3, 1.5))
        await self.net.restart(ori, index)

    async def cut_link(self) -> None:
        from relay.lab.faultproxy import Mode

        ori = self.rng.choice(self.oris)
        mode = self.rng.choice((Mode.REFUSE, Mode.RESET, Mode.DROP))
        self.tally.faults[f"link_{mode.value}"] += 1
        proxy = self.net.fed_proxy[ori]
        proxy.set_mode(mode)
        await proxy.cut_existing()
        await self._pause(self.rng.uniform(0.5, 2.0))
        proxy.set_mode(Mode.PASS)

    async def cut_slack(self) -> None:
        from relay.lab.faultproxy import Mode

        ori = self.rng.choice(self.oris)
        self.tally.faults["slack_cut_after_request"] += 1
        proxy = self.net.slack_proxy[ori]
        proxy.set_mode(Mode.CUT_AFTER_REQUEST)
        await self._pause(self.rng.uniform(0.2, 0.8))
        proxy.set_mode(Mode.PASS)

    async def slack_errors(self) -> None:
        assert self.net.emu is not None  # noqa: S101
        status = self.rng.choice((429, 500))
        self.tally.faults[f"slack_{status}"] += 1
        self.net.emu.fail_next(
            "chat.postMessage",
            status=status,
            error="ratelimited" if status == 429 else "internal_error",
            times=self.rng.randint(3, 12),
            retry_after=1,
        )
        await self._pause(0.5)


async def _post_all(
    net: Network, rng: random.Random, n: int, tally: _Tally, expected: dict[tuple[str, str], int]
) -> None:
    assert net.emu is not None  # noqa: S101
    weights = {ori: (3 if i == 0 else 1) for i, ori in enumerate(net.nodes)}
    for i in range(n):
        origin = rng.choices(list(weights), weights=list(weights.values()))[0]
        agency = net.nodes[origin].agency
        user = rng.choice(agency.officers)[0]
        text = _text(rng, i + 1)
        ts = net.emu.post_as_user(agency.team, agency.channel(TOPIC), user, text)
        envelope = f"{origin}.{agency.channel(TOPIC)}.{ts}"
        tally.posted.append((time.monotonic(), origin, envelope))
        for ws in _expected(net, origin, text):
            expected[(ws, envelope)] = len(tally.posted)
        await asyncio.sleep(rng.uniform(0.03, 0.12))


async def _watch(net: Network, tally: _Tally, stop: asyncio.Event) -> None:
    """Note when each copy first arrived (for the recovery times)."""
    while not stop.is_set():
        now = time.monotonic()
        for key in _copies(net):
            tally.arrived.setdefault(key, now)
        try:
            async with asyncio.timeout(0.1):
                await stop.wait()
        except TimeoutError:
            pass


async def _settle(net: Network, expected: dict[tuple[str, str], int], timeout: float) -> None:  # noqa: ASYNC109
    """Until every expected copy arrived and no queue has work due, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        copies = _copies(net)
        if all(copies[k] for k in expected) and all(_quiet(n.relay.store) for n in _live(net)):
            # one more look after a moment: a late duplicate would show now
            await asyncio.sleep(1.0)
            return
        await asyncio.sleep(0.25)


def _live(net: Network) -> list[Any]:
    return [n for nodes in net.instances.values() for n in nodes if n.alive]


def _quiet(store: Store) -> bool:
    return not any(
        s.state == "pending" and s.peer in ("CT9990100", "MA9990200", "NY9990300")
        for s in store.queue_stats()
    ) and (store.pending_event_count() == 0)


@contextmanager
def _stores(url: str | None) -> Iterator[Callable[[str], str] | None]:
    """Each agency's store: SQLite files (None), or a fresh PostgreSQL schema per agency."""
    if url is None:
        yield None
        return
    import psycopg
    from psycopg import sql as pgsql

    tag = secrets.token_hex(4)
    schemas: list[str] = []

    def open_one(ori: str) -> str:
        schema = f"chaos_{tag}_{ori.lower()}"
        if schema not in schemas:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema))
                )
            schemas.append(schema)
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}options=-csearch_path%3D{schema}"

    try:
        yield open_one
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            for schema in schemas:
                admin.execute(
                    pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
                )


async def run_chaos(
    *,
    messages: int,
    seed: int,
    store: str | None,
    instances: int,
    timeout: float,  # noqa: ASYNC109
) -> tuple[dict[str, Any], dict[str, int]]:
    """The result line, and how many faults of each kind were injected."""
    from relay.flow.queues import QueueTuning
    from relay.lab.emulator import Timings
    from relay.lab.emulator.limits import Limit
    from relay.lab.faultproxy import Mode
    from relay.lab.network import Network, NetworkOptions

    rng = random.Random(seed)  # noqa: S311 - a reproducible fault schedule, not a secret
    tally = _Tally()
    expected: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="relay-chaos-") as tmp, _stores(store) as opener:
        options = NetworkOptions(
            store=opener,
            instances=instances,
            proxies=True,
            tuning=QueueTuning(lease=2.0, batch=32, poll=0.2, backoff=Backoff(base=0.1, cap=2.0)),
            slack_pacing=False,  # the emulator's (faster) limits and its 429s pace the relays
            catch_up_every=3.0,
            timings=Timings(http_timeout=2.0, retry_delays=(0.0, 0.5, 1.5)),
        )
        async with Network(Path(tmp), agencies(), options) as net:
            assert net.emu is not None  # noqa: S101
            for method in ("chat.postMessage", "chat.update", "chat.delete"):
                net.emu.set_rate_limit(method, Limit(rate=200.0, burst=100, per_channel=True))
            for method in ("conversations.history", "conversations.replies", "users.info"):
                net.emu.set_rate_limit(method, Limit(rate=200.0, burst=100))
            stop, done = asyncio.Event(), asyncio.Event()
            chaos = asyncio.create_task(_Chaos(net, rng, tally).run(stop))
            watch = asyncio.create_task(_watch(net, tally, done))
            try:
                await _post_all(net, rng, messages, tally, expected)
            finally:
                stop.set()
                await chaos
            for ori, proxy in net.fed_proxy.items():  # every link up, every relay running
                proxy.set_mode(Mode.PASS)
                net.slack_proxy[ori].set_mode(Mode.PASS)
            for ori, nodes in net.instances.items():
                for index, node in enumerate(nodes):
                    if not node.alive:
                        await net.restart(ori, index)
            cleared = time.monotonic()
            tally.fault_ends.append((cleared, len(tally.posted)))
            await _settle(net, expected, timeout)
            done.set()
            await watch
            copies = _copies(net)
    delivered = sum(1 for k in expected if copies[k] > 0)
    duplicates = sum(c - 1 for c in copies.values() if c > 1)
    return {
        "sent": messages,
        "expected_posts": len(expected),
        "delivered": delivered,
        "lost": len(expected) - delivered,
        "duplicates": duplicates,
        "max_recovery_s": round(_max_recovery(tally, expected), 2),
    }, dict(sorted(tally.faults.items()))


def _max_recovery(tally: _Tally, expected: dict[tuple[str, str], int]) -> float:
    worst = 0.0
    for ended, posted in tally.fault_ends:
        due = [k for k, n in expected.items() if n <= posted]
        arrivals = [tally.arrived.get(k) for k in due]
        if not due or any(a is None for a in arrivals):
            continue
        worst = max(worst, max(a for a in arrivals if a is not None) - ended)
    return worst


def _chaos(args: argparse.Namespace) -> int:
    if args.messages < 1 or args.instances < 1:
        print("relay chaos: --messages and --instances must be at least 1", file=sys.stderr)
        return 2
    if args.store and not args.store.startswith(("postgresql://", "postgres://")):
        print("relay chaos: --store takes a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        result, faults = asyncio.run(
            run_chaos(
                messages=args.messages,
                seed=args.seed,
                store=args.store,
                instances=args.instances,
                timeout=args.timeout,
            )
        )
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (or a URL)
        print(f"relay chaos: failed: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"relay chaos: faults injected: {json.dumps(faults)}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chaos", help="the demo agencies under kills, cut links and Slack errors; then count"
    )
    p.add_argument("--messages", type=int, default=200, metavar="N")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--store", metavar="URL", help="postgresql://... (default: SQLite files)")
    p.add_argument("--instances", type=int, default=1, metavar="K", help="relays per agency")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to settle")
    p.set_defaults(func=_chaos)
