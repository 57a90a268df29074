"""Crash tests with real processes: ``kill -9`` at every crash point, then a restart.

Two relays (CT -> MA) run as ``relay run --config relay.yaml`` subprocesses; Slack is the
in-process emulator. A :class:`FaultProxy` stands in front of each relay's federation listener
so the partner URL stays put when a restarted relay binds a new port. The relay armed with
``RELAY_CRASH_AT`` SIGKILLs itself; it is started again without it, and every BOLO must then
appear in Millbrook's channel exactly once: nothing lost, nothing posted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from relay.lab.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec
from relay.lab.faultproxy import FaultProxy, Mode
from relay.lab.relayyaml import Delivery, Listen, Material, Slack
from tests.helpers import CT, MA, relay_config, write_bolo_policies, write_relay

CT_TEAM, MA_TEAM = "T0HAVENPT1", "T0MILLBRK1"
CT_BOLO, MA_BOLO = "C0HBOLO01", "C0MBOLO01"
OFFICERS = ("U0OKAFOR01", "U0BRENNAN1", "U0SILVA001")
N = 5
STOP_TIMEOUT = 1.0  # delivery.stop_timeout_seconds
START_TIMEOUT = 30.0  # a relay prints relay_started within this
DELIVERY = Delivery(
    max_age_hours=1,
    retry_base_seconds=0.1,
    retry_cap_seconds=1,
    lease_seconds=1,
    batch=16,
    poll_seconds=0.2,
    stop_timeout_seconds=STOP_TIMEOUT,
)


def bolo(n: int) -> str:
    return f"BOLO: stolen white F-150, CT reg 7KX21{n}, Route 9 NB."


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Material]:
    """Keys, TLS and policies for CT and MA, made once (``relay keygen`` is slow-ish)."""
    base = tmp_path_factory.mktemp("crash-material")
    ca = trustme.CA()
    ct, ma = write_relay(base, CT, ca), write_relay(base, MA, ca)
    write_bolo_policies(ct, ma)
    return {CT: ct, MA: ma}


@dataclass
class RelayProc:
    """One ``relay run`` subprocess (restartable); stdout is read for ``relay_started``."""

    ori: str
    dir: Path
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    started: dict[str, Any] = field(default_factory=dict)
    runs: int = 0
    _reader: asyncio.Task[None] | None = None

    @property
    def db(self) -> Path:
        return self.dir / "relay.db"

    @property
    def stderr_path(self) -> Path:
        return self.dir / f"stderr.{self.runs}.log"

    @property
    def fed_port(self) -> int:
        return int(str(self.started["federation"]).rpartition(":")[2])

    async def start(self, crash_at: str | None = None) -> None:
        env = dict(os.environ) | self.env
        env.pop("RELAY_CRASH_AT", None)
        if crash_at:
            env["RELAY_CRASH_AT"] = crash_at
        self.runs += 1
        ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        with self.stderr_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "relay",
                "run",
                "--config",
                str(self.dir / "relay.yaml"),
                cwd=self.dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        self._reader = asyncio.create_task(self._read_stdout(self.proc, ready))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                self.started = await ready
        except (TimeoutError, RuntimeError) as exc:
            raise AssertionError(f"{self.ori} did not start: {self.stderr()}") from exc
        assert self.started["agency"] == self.ori

    @staticmethod
    async def _read_stdout(
        proc: asyncio.subprocess.Process, ready: asyncio.Future[dict[str, Any]]
    ) -> None:
        """Until EOF (so the pipe never fills); the relay_started line resolves ``ready``."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            if ready.done():
                continue
            with contextlib.suppress(ValueError):
                doc = json.loads(raw)
                if isinstance(doc, dict) and doc.get("event") == "relay_started":
                    ready.set_result(doc)
        if not ready.done():
            ready.set_exception(RuntimeError("stdout closed before relay_started"))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]

    async def wait(self, timeout: float) -> int:  # noqa: ASYNC109
        """The exit code once the process ended (``-9``: killed by SIGKILL)."""
        assert self.proc is not None
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
                if self._reader is not None:
                    await self._reader
        except TimeoutError:
            raise AssertionError(f"{self.ori} still running after {timeout}s") from None
        return code

    async def terminate(self, timeout: float) -> tuple[int, float]:  # noqa: ASYNC109
        """SIGTERM; the exit code and the seconds it took."""
        assert self.proc is not None
        assert self.proc.returncode is None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait(timeout)
        return code, time.monotonic() - began

    async def kill(self) -> None:
        """SIGKILL whatever still runs, and reap it (cleanup)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        if self.proc is not None:
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


def count(db: Path, query: str, *params: object) -> int:
    """One number from a relay's store, read-only beside the running (or dead) relay."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
        return int(c.execute(query, params).fetchone()[0])


QUEUES = {
    "outbox_pending": "SELECT count(*) FROM outbox WHERE state = 'pending'",
    "outbox_dead": "SELECT count(*) FROM outbox WHERE state = 'dead'",
    "inbound_pending": "SELECT count(*) FROM inbound WHERE state = 'pending'",
    "inbound_dead": "SELECT count(*) FROM inbound WHERE state = 'dead'",
    "inbox_pending": "SELECT count(*) FROM inbox WHERE done = 0",
}


def queue_counts(db: Path) -> dict[str, int]:
    """Rows not finished (or given up) in a relay's store."""
    return {name: count(db, query) for name, query in QUEUES.items()}


async def settled(*relays: RelayProc, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Until no store has pending work left (nothing more can be sent or posted)."""
    counts: dict[str, dict[str, int]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = {r.ori: queue_counts(r.db) for r in relays}
        if all(v == 0 for c in counts.values() for v in c.values()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"queues not settled after {timeout}s: {counts}")


@dataclass
class Net:
    emu: Emulator
    ct: RelayProc
    ma: RelayProc
    proxies: dict[str, FaultProxy]
    ma_slack: FaultProxy  # between MA's relay and the Slack Web API
    posted: list[str] = field(default_factory=list)  # CT envelope ids, in posting order

    async def start(self, relay: RelayProc, crash_at: str | None = None) -> None:
        """(Re)start ``relay`` and point its partner's proxy and Slack at the new ports."""
        await relay.start(crash_at)
        self.proxies[relay.ori].retarget("127.0.0.1", relay.fed_port)
        team = CT_TEAM if relay is self.ct else MA_TEAM
        self.emu.set_event_url(team, str(relay.started["slack_events"]))

    async def post_bolos(self) -> None:
        """Officers post N BOLOs in CT's #bolo, one after another: each is delivered (or
        given up on by Slack, the relay being down) before the next is posted."""
        for n in range(N):
            ts = self.emu.post_as_user(CT_TEAM, CT_BOLO, OFFICERS[n % len(OFFICERS)], bolo(n))
            self.posted.append(f"{CT}.{CT_BOLO}.{ts}")
            await self.emu.wait_for_settled_events(CT_TEAM, n + 1, timeout=10)

    async def assert_each_posted_once(self) -> None:
        await self.emu.wait_for_posts(MA_TEAM, MA_BOLO, N, timeout=60)
        await settled(self.ct, self.ma)
        posts = self.emu.bot_posts(MA_TEAM, MA_BOLO)
        ids = Counter(p["metadata"]["event_payload"]["envelope_id"] for p in posts)
        texts = Counter(bolo(n) for n in range(N) for p in posts if bolo(n) in p["text"])
        assert ids == Counter(self.posted), ids
        assert texts == Counter(bolo(n) for n in range(N)), texts
        assert all(p["metadata"]["event_payload"]["origin"] == CT for p in posts)

    async def stop_gracefully(self) -> None:
        """SIGTERM both: each exits 0 within stop_timeout plus a margin."""
        relays = (self.ct, self.ma)
        ended = await asyncio.gather(*(r.terminate(STOP_TIMEOUT + 8) for r in relays))
        for relay, (code, _) in zip(relays, ended, strict=True):
            assert code == 0, (relay.ori, code, relay.stderr())


@contextlib.asynccontextmanager
async def network(tmp_path: Path, material: dict[str, Material]) -> AsyncIterator[Net]:
    """CT and MA configured (not started), each behind a fault proxy, Slack emulated; MA
    calls the Slack Web API through a fault proxy too."""
    specs = [
        WorkspaceSpec(
            team_id=CT_TEAM,
            name="Havenport PD",
            users=tuple(UserSpec(id=u, name=u.lower()) for u in OFFICERS),
            channels=(ChannelSpec(id=CT_BOLO, name="bolo"),),
        ),
        WorkspaceSpec(
            team_id=MA_TEAM,
            name="Millbrook PD",
            channels=(ChannelSpec(id=MA_BOLO, name="bolo"),),
        ),
    ]
    timings = Timings(retry_delays=(0.0, 0.05, 0.1), http_timeout=2.0)
    async with contextlib.AsyncExitStack() as stack:
        emu = await stack.enter_async_context(Emulator(specs, timings=timings))
        proxies = {
            ori: await stack.enter_async_context(FaultProxy("127.0.0.1", 1)) for ori in (CT, MA)
        }
        emu_port = int(emu.base_url.rpartition(":")[2])
        ma_slack = await stack.enter_async_context(FaultProxy("127.0.0.1", emu_port))
        api_urls = {CT: emu.api_url, MA: f"http://{ma_slack.url_host}/api/"}
        relays: dict[str, RelayProc] = {}
        for ori, team, channel, peer in ((CT, CT_TEAM, CT_BOLO, MA), (MA, MA_TEAM, MA_BOLO, CT)):
            me, other = material[ori], material[peer]
            d = tmp_path / ori
            shutil.copytree(me.dir, d)  # every path in relay.yaml is relative to d
            ws = emu.workspace(team)
            prefix = ori[:2]
            slack = Slack(
                team_id=team,
                api_url=api_urls[ori],
                bot_token_env=f"{prefix}_BOT_TOKEN",
                signing_secret_env=f"{prefix}_SIGNING_SECRET",
                listen=Listen("127.0.0.1", 0),
                channels={channel: "bolo"},
            )
            url = f"https://{proxies[peer].url_host}"
            config = relay_config(me, [(other, url)], slack=slack, delivery=DELIVERY)
            config.write(d / "relay.yaml")
            env = {
                f"{prefix}_BOT_TOKEN": ws.bot_token,
                f"{prefix}_SIGNING_SECRET": ws.signing_secret,
            }
            relays[ori] = RelayProc(ori=ori, dir=d, env=env)
        net = Net(emu=emu, ct=relays[CT], ma=relays[MA], proxies=proxies, ma_slack=ma_slack)
        try:
            yield net
        finally:
            await asyncio.gather(net.ct.kill(), net.ma.kill())


def assert_crashed_where_expected(net: Net, point: str) -> None:
    """The stores (and Slack) show the process died exactly at ``point``."""
    ct, ma = net.ct.db, net.ma.db
    ma_posts = len(net.emu.bot_posts(MA_TEAM, MA_BOLO))

    def outbox(state: str) -> int:
        return count(ct, "SELECT count(*) FROM outbox WHERE state = ?", state)

    received = count(ma, "SELECT count(*) FROM received")
    if point == "after_slack_ack":  # the event stored (and acked), not judged
        assert count(ct, "SELECT count(*) FROM inbox WHERE done = 0") >= 1
        assert count(ct, "SELECT count(*) FROM outbox") == 0
    elif point == "after_outbox_commit":  # queued for MA, nothing sent
        # (one BOLO's row, or two when a slow machine let the next event into the same batch)
        assert outbox("pending") >= 1
        assert outbox("done") == 0
        assert received == 0
    elif point == "after_partner_answered":  # MA has it, CT does not know
        assert outbox("pending") >= 1
        assert outbox("done") == 0
        assert received >= 1
    elif point == "after_envelope_commit":  # MA stored it, CT never heard back
        assert received >= 1
        assert count(ma, "SELECT count(*) FROM inbound WHERE state = 'pending'") >= 1
        assert outbox("done") == 0
        assert ma_posts == 0
    elif point == "during_slack_post":  # posted in Slack, the ts not stored
        assert ma_posts >= 1  # (threads are posted in parallel)
        assert count(ma, "SELECT count(*) FROM posted") == 0
    if point in ("after_slack_ack", "after_outbox_commit"):
        assert ma_posts == 0


SENDING_SIDE = ("after_slack_ack", "after_outbox_commit", "after_partner_answered")
RECEIVING_SIDE = ("after_envelope_commit", "during_slack_post")


@pytest.mark.parametrize("point", [*SENDING_SIDE, *RECEIVING_SIDE])
async def test_kill9_at_crash_point_loses_nothing_and_posts_nothing_twice(
    tmp_path, material, point
):
    async with network(tmp_path, material) as net:
        armed = net.ct if point in SENDING_SIDE else net.ma
        await asyncio.gather(
            net.start(net.ct, point if armed is net.ct else None),
            net.start(net.ma, point if armed is net.ma else None),
        )
        await net.post_bolos()
        code = await armed.wait(30)
        assert code == -signal.SIGKILL, (point, code, armed.stderr())
        assert_crashed_where_expected(net, point)
        await net.start(armed)  # without RELAY_CRASH_AT
        await net.assert_each_posted_once()
        await net.stop_gracefully()


@pytest.mark.parametrize("mode", [Mode.REFUSE, Mode.DROP])
async def test_sigterm_with_messages_in_flight_exits_cleanly_and_resumes(tmp_path, material, mode):
    """MA unreachable (REFUSE: connections refused; DROP: a send hangs): CT's outbox holds
    the BOLOs. SIGTERM: CT exits 0 within stop_timeout plus a margin, leases given back; once
    it is restarted and MA is reachable again, every BOLO arrives once."""
    async with network(tmp_path, material) as net:
        await asyncio.gather(net.start(net.ct), net.start(net.ma))
        net.proxies[MA].set_mode(mode)
        await net.post_bolos()
        deadline = time.monotonic() + 15
        while queue_counts(net.ct.db)["outbox_pending"] < N:
            assert time.monotonic() < deadline, queue_counts(net.ct.db)
            await asyncio.sleep(0.05)
        if mode is Mode.DROP:  # a send is hanging in the proxy
            while net.proxies[MA].stats.connections == 0:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        code, took = await net.ct.terminate(STOP_TIMEOUT + 8)
        assert code == 0, net.ct.stderr()
        assert took < STOP_TIMEOUT + 5, took
        with contextlib.closing(sqlite3.connect(f"file:{net.ct.db}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT state, lease_owner FROM outbox").fetchall()
        assert rows == [("pending", None)] * N  # kept, and the leases given back
        assert not net.emu.bot_posts(MA_TEAM, MA_BOLO)
        await net.start(net.ct)
        net.proxies[MA].set_mode(Mode.PASS)
        await net.assert_each_posted_once()
        await net.stop_gracefully()


async def test_sigterm_while_a_slack_post_is_in_flight_posts_it_once(tmp_path, material):
    """MA's chat.postMessage reaches Slack, but its answer is held (a slow link) past
    stop_timeout when MA gets SIGTERM: the post is cut off with its outcome unknown. MA
    exits 0 in time; after the restart the post is reconciled (found by its mark), not
    repeated, and every BOLO is in MA's channel once."""
    # each chunk to and from Slack is held this long: the answer comes well after the stop
    # timeout even when the machine is slow to deliver SIGTERM (a margin of 2 s flaked)
    held = STOP_TIMEOUT + 6.0
    async with network(tmp_path, material) as net:
        await asyncio.gather(net.start(net.ct), net.start(net.ma))
        net.ma_slack.set_mode(Mode.DELAY, delay=held)  # for new connections...
        await net.ma_slack.cut_existing()  # ...and the relay's pooled ones are gone
        await net.post_bolos()
        await net.emu.wait_for_posts(MA_TEAM, MA_BOLO, 1, timeout=held + 10)
        code, took = await net.ma.terminate(STOP_TIMEOUT + 8)  # the answer is still held
        assert code == 0, net.ma.stderr()
        assert took < STOP_TIMEOUT + 5, took
        assert count(net.ma.db, "SELECT count(*) FROM posted") == 0  # its ts never came
        net.ma_slack.set_mode(Mode.PASS)
        await net.start(net.ma)
        await net.assert_each_posted_once()
        await net.stop_gracefully()
