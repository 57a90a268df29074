"""`relay chaos --messages N --seed S`: the demo agencies under faults, then a count.

Officers of every agency post N BOLOs and, in between, edit, delete, reply to and cancel
earlier ones (replies some of the time also sent to the channel; partners' officers reply in
the thread of their agency's copy, and that reply must come back under the original BOLO and
reach every other copy's thread; edits that change details,
that name a confidential informant the policy strips, that add a classified marking the
policy blocks and later take it out again: ``relay.commands.chaos_traffic``), while a seeded
schedule kills and restarts relay instances, cuts links between relays (refused, reset,
black-holed), cuts Slack calls after Slack acted (the relay must reconcile, not repost), and
makes the Slack emulator answer bursts of 429s and 500s (``relay.commands.chaos_faults``).
Messages reach some partners through a relaying agency. Then the faults stop, the system
settles, and one JSON line is printed (a contract: other tools read it)::

    {"sent": N, "expected_posts": E, "delivered": D, "lost": L, "duplicates": K,
     "max_recovery_s": R, "edits": X, "deletes": Y, "replies": Z, "mismatched": M}

``sent`` counts the new top-level posts (N); ``expected_posts`` the (post, partner workspace)
pairs the agencies' policies say must be there at the end (along every hop; a post deleted,
or edited into what may not go, is not expected); ``delivered`` those that are; ``lost`` =
E - D; ``duplicates`` the extra copies of any message (replies included) in any workspace;
``max_recovery_s`` the longest time from a fault's end until every post expected by then had
arrived. ``edits``, ``deletes`` and ``replies`` count what officers did (cancellations,
broadcasts and partners' replies are replies); ``mismatched`` counts the (workspace,
message) pairs, replies included, whose final view differs from the expected one
(``relay.commands.chaos_views``): the latest version of the text as the policies along its
path leave it, deleted or withdrawn ones gone, replies in the thread of a copy of their BOLO
(a partner's reply, in the origin's workspace, in the thread of the original BOLO),
broadcasts sent to the channel, cancelled BOLOs
marked. A lost post is also a mismatched pair. Exit 0 only when lost, duplicates and
mismatched are 0; on a mismatch, stderr says how many pairs differ in which way (no text).

The emulator's rate limits (and the relays' own Slack pacing) run faster than Slack's, and
queue timings are short, so that 200 messages settle within two minutes here.
``--store postgresql://...`` puts each agency in a fresh schema of that database (dropped
afterwards); ``--instances 2`` runs two relay instances per agency on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relay.commands.chaos_faults import Faults, Tally, pause
from relay.commands.chaos_traffic import TOPIC, Traffic
from relay.commands.demo import agencies
from relay.core.backoff import Backoff
from relay.store.contract import Store

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when chaos runs
    from relay.commands.chaos_views import Want
    from relay.lab.network import Network, NetworkOptions

__all__ = ["add_parser", "copies", "lab_options", "loosen_limits", "run_chaos", "settle"]

_PEER_WAIT = 1.0  # one more look after everything matched: a late duplicate would show now


def copies(net: Network) -> Counter[tuple[str, str]]:
    """(workspace, envelope id) -> how many live relay posts carry it."""
    assert net.emu is not None  # noqa: S101
    seen: Counter[tuple[str, str]] = Counter()
    for agency in net.agencies:
        for envelope_id, _ in net.emu.marked_posts(agency.team, agency.channel(TOPIC)):
            seen[(agency.ori, envelope_id)] += 1
    return seen


def lab_options(store: Callable[[str], str] | None = None, instances: int = 1) -> NetworkOptions:
    """The network chaos and the soak run: fault proxies everywhere, short queue timings,
    the emulator's (faster) limits and its 429s pacing the relays, a catch-up every 3 s."""
    from relay.flow.queues import QueueTuning
    from relay.lab.emulator import Timings
    from relay.lab.network import NetworkOptions

    return NetworkOptions(
        store=store,
        instances=instances,
        proxies=True,
        tuning=QueueTuning(lease=2.0, batch=32, poll=0.2, backoff=Backoff(base=0.1, cap=2.0)),
        slack_pacing=False,
        catch_up_every=3.0,
        timings=Timings(http_timeout=2.0, retry_delays=(0.0, 0.5, 1.5)),
    )


def loosen_limits(net: Network) -> None:
    """The emulator's rate limits faster than Slack's (200 a second per channel)."""
    from relay.lab.emulator.limits import Limit

    assert net.emu is not None  # noqa: S101
    for method in ("chat.postMessage", "chat.update", "chat.delete"):
        net.emu.set_rate_limit(method, Limit(rate=200.0, burst=100, per_channel=True))
    for method in ("conversations.history", "conversations.replies", "users.info"):
        net.emu.set_rate_limit(method, Limit(rate=200.0, burst=100))


async def _officers(net: Network, traffic: Traffic, n: int, tally: Tally) -> None:
    """N new BOLOs, each perhaps followed by an edit, delete, reply or cancellation."""
    rng = traffic.rng
    for i in range(n):
        item = traffic.post(i + 1)
        tally.posted.append((time.monotonic(), item.origin, item.envelope))
        await asyncio.sleep(rng.uniform(0.03, 0.12))
        traffic.act()


async def _watch(net: Network, tally: Tally, stop: asyncio.Event) -> None:
    """Note when each copy first arrived (for the recovery times)."""
    while not stop.is_set():
        now = time.monotonic()
        for key in copies(net):
            tally.arrived.setdefault(key, now)
        await pause(0.1, stop)


async def settle(
    net: Network,
    expected: Iterable[tuple[str, str]],
    wants: dict[tuple[str, str], Want],
    timeout: float,  # noqa: ASYNC109
    quiet: Callable[[], bool] = lambda: True,
) -> None:
    """Until every expected copy arrived, every view is as expected and ``quiet()`` (no
    queue has work due), or ``timeout``."""
    from relay.commands.chaos_views import compare

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = copies(net)
        if all(seen[k] for k in expected) and quiet() and compare(net, wants)["pairs"] == 0:
            await asyncio.sleep(_PEER_WAIT)
            return
        await asyncio.sleep(0.25)


def _live(net: Network) -> list[Any]:
    return [n for nodes in net.instances.values() for n in nodes if n.alive]


def _quiet(net: Network, store: Store) -> bool:
    return not any(s.state == "pending" and s.peer in net.nodes for s in store.queue_stats()) and (
        store.pending_event_count() == 0
    )


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
    """The result line, and what was injected and done: faults, officers' actions, and (when
    views differ) ``mismatched_<kind>`` counts."""
    from relay.commands.chaos_views import Paths, compare, expect
    from relay.lab.faultproxy import Mode
    from relay.lab.network import Network

    # two streams: what officers do does not depend on how the fault tasks interleave
    faults_rng = random.Random(f"{seed}/faults")  # noqa: S311 - reproducible, not a secret
    officers_rng = random.Random(f"{seed}/officers")  # noqa: S311
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="relay-chaos-") as tmp, _stores(store) as opener:
        async with Network(Path(tmp), agencies(), lab_options(opener, instances)) as net:
            loosen_limits(net)
            traffic = Traffic(net, officers_rng)
            stop, done = asyncio.Event(), asyncio.Event()
            chaos = asyncio.create_task(Faults(net, faults_rng, tally).run(stop))
            watch = asyncio.create_task(_watch(net, tally, done))
            try:
                await _officers(net, traffic, messages, tally)
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
            tally.fault_ends.append((time.monotonic(), len(tally.posted)))
            wants = expect(Paths(net), traffic.ops, net.nodes)
            order = {envelope: n for n, (_, _, envelope) in enumerate(tally.posted, 1)}
            expected = {
                key: order[key[1]]
                for key, want in wants.items()
                if want.texts and want.item.root is None
            }
            await settle(
                net,
                expected,
                wants,
                timeout,
                quiet=lambda: all(_quiet(net, n.relay.store) for n in _live(net)),
            )
            done.set()
            await watch
            seen = copies(net)
            differing = compare(net, wants)
    delivered = sum(1 for k in expected if seen[k] > 0)
    duplicates = sum(c - 1 for c in seen.values() if c > 1)
    made = traffic.made
    result = {
        "sent": messages,
        "expected_posts": len(expected),
        "delivered": delivered,
        "lost": len(expected) - delivered,
        "duplicates": duplicates,
        "max_recovery_s": round(_max_recovery(tally, expected), 2),
        "edits": made["edits"],
        "deletes": made["deletes"],
        "replies": made["replies"],
        "mismatched": differing.pop("pairs", 0),
    }
    report = dict(sorted(tally.faults.items()))
    report |= {f"made_{k}": v for k, v in sorted(made.items())}
    report |= {f"mismatched_{k}": v for k, v in sorted(differing.items()) if v}
    return result, report


def _max_recovery(tally: Tally, expected: dict[tuple[str, str], int]) -> float:
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
    injected = {k: v for k, v in faults.items() if not k.startswith(("made_", "mismatched_"))}
    made = {k[5:]: v for k, v in faults.items() if k.startswith("made_")}
    differing = {k[11:]: v for k, v in faults.items() if k.startswith("mismatched_")}
    print(f"relay chaos: faults injected: {json.dumps(injected)}", file=sys.stderr)
    print(f"relay chaos: officers made: {json.dumps(made)}", file=sys.stderr)
    if differing:  # kinds and counts only, never a message's text
        print(f"relay chaos: mismatched views by kind: {json.dumps(differing)}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    failed = result["lost"] or result["duplicates"] or result["mismatched"]
    return 1 if failed else 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chaos",
        help="the demo agencies' officers post, edit, delete and reply under kills, cut links and "
        "Slack errors; then count what each partner shows",
    )
    p.add_argument("--messages", type=int, default=200, metavar="N")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--store", metavar="URL", help="postgresql://... (default: SQLite files)")
    p.add_argument("--instances", type=int, default=1, metavar="K", help="relays per agency")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to settle")
    p.set_defaults(func=_chaos)
