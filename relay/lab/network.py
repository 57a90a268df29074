"""Several agencies on loopback, each with its Slack workspace (the emulator), its relay and
its policy: what ``relay demo`` runs and what the end-to-end tests drive.

Everything is real except Slack itself: slack-sdk talks HTTP to the emulator, relays talk
HTTPS with mutual TLS (a throwaway CA) to each other, stores are SQLite files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from slack_sdk.web.async_client import AsyncWebClient

from relay.commands.policy import read_policy
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.delivery import QueueTuning
from relay.errors import DeliveryError
from relay.federation.client import PeerClient, RetryPolicy
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.lab.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec
from relay.lab.faultproxy import FaultProxy
from relay.lab.pki import Leaf, ThrowawayCA
from relay.ledger import Ledger
from relay.metrics import RelayMetrics
from relay.service import RelayService
from relay.slack.bridge import SlackBridge, WorkspaceConfig
from relay.slack.events import build_events_app
from relay.slack.files import FileFetcher
from relay.slack.web import Pacer, SlackCaller
from relay.store.contract import Store
from relay.store.sqlite import SqliteStore

__all__ = ["TOPICS", "Agency", "Network", "NetworkOptions", "Node"]

TOPICS = ("bolo", "ctwide-intel", "narcotics", "pattern-crime", "dd-burglaries")


@dataclass(frozen=True, slots=True)
class Agency:
    ori: str
    name: str
    team: str
    policy: Path
    officers: tuple[tuple[str, str], ...] = ()  # (user id, display name)

    def channel(self, topic: str) -> str:
        return f"C{self.team[2:6]}{TOPICS.index(topic):02d}"


@dataclass
class Node:
    agency: Agency
    service: RelayService
    bridge: SlackBridge
    client: PeerClient
    session: aiohttp.ClientSession
    runners: list[web.AppRunner]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    url: str = ""
    events_url: str = ""
    alive: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkOptions:
    """How the loopback network is built (``relay demo`` uses the defaults)."""

    store: Callable[[str], Store] | None = None  # agency ORI -> its store; SQLite files if None
    instances: int = 1  # relay instances per agency, sharing the agency's store
    proxies: bool = False  # a fault proxy in front of every relay and of the Slack API
    tuning: QueueTuning | None = None
    slack_rates: dict[str, tuple[float, int]] | None = None  # the relay's own Slack pacing
    slack_pacing: bool = True
    peer_timeout: float = 10.0
    catch_up_every: float = 0.0  # seconds between catch-ups (events Slack gave up on); 0: off
    timings: Timings = field(default_factory=lambda: Timings(retry_delays=(0.0, 0.1, 0.2)))


class Network:
    """``async with Network(tmp, agencies) as net``: everything started, then stopped.

    ``net.nodes[ori]`` is an agency's first relay instance, ``net.instances[ori]`` all of them.
    With ``proxies``, partners and Slack reach each agency through a :class:`FaultProxy`
    (``net.fed_proxy[ori]``; ``net.slack_proxy[ori]`` between the relay and the Slack API),
    so links can be cut and relays killed (:meth:`kill`) and restarted (:meth:`restart`)."""

    def __init__(
        self, directory: Path, agencies: list[Agency], options: NetworkOptions | None = None
    ) -> None:
        self.dir = directory
        self.agencies = agencies
        self.options = options or NetworkOptions()
        self.nodes: dict[str, Node] = {}
        self.instances: dict[str, list[Node]] = {}
        self.emu: Emulator | None = None
        self.fed_proxy: dict[str, FaultProxy] = {}
        self.slack_proxy: dict[str, FaultProxy] = {}
        self.urls: dict[str, str] = {}
        self._ca: ThrowawayCA | None = None
        self._leaves: dict[str, Leaf] = {}
        self._keys: dict[str, Ed25519PrivateKey] = {}

    async def __aenter__(self) -> Network:
        specs = [
            WorkspaceSpec(
                team_id=a.team,
                name=a.name,
                domain=a.name.lower().replace(" ", "-"),
                users=tuple(
                    UserSpec(id=u, name=n.lower().replace(" ", "."), display_name=n)
                    for u, n in a.officers
                ),
                channels=tuple(ChannelSpec(id=a.channel(t), name=t) for t in TOPICS),
            )
            for a in self.agencies
        ]
        self.emu = Emulator(specs, timings=self.options.timings)
        await self.emu.__aenter__()
        self._ca = ThrowawayCA(self.dir / "pki")
        self._leaves = {a.ori: self._ca.issue(a.ori) for a in self.agencies}
        self._keys = {a.ori: Ed25519PrivateKey.generate() for a in self.agencies}
        for agency in self.agencies:
            nodes = [await self._start(agency) for _ in range(self.options.instances)]
            self.instances[agency.ori] = nodes
            self.nodes[agency.ori] = nodes[0]
            await self._route(agency.ori)
        return self

    def api_url(self, ori: str) -> str:
        assert self.emu is not None  # noqa: S101 - started first
        proxy = self.slack_proxy.get(ori)
        return f"http://{proxy.url_host}/api/" if proxy else self.emu.api_url

    async def _route(self, ori: str) -> None:
        """Point partners and Slack at a live instance of ``ori`` (through its proxies)."""
        assert self.emu is not None  # noqa: S101
        live = [n for n in self.instances[ori] if n.alive]
        if not live:
            return
        node = live[0]
        if self.options.proxies:
            host, _, port = node.url.removeprefix("https://").rpartition(":")
            if ori not in self.fed_proxy:
                self.fed_proxy[ori] = FaultProxy(host, int(port))
                await self.fed_proxy[ori].start()
            else:
                self.fed_proxy[ori].retarget(host, int(port))
            self.urls[ori] = f"https://{self.fed_proxy[ori].url_host}"
        else:
            self.urls[ori] = node.url
        self.emu.set_event_url(node.agency.team, node.events_url)

    async def _start(self, agency: Agency) -> Node:
        assert self.emu is not None  # noqa: S101 - started first
        assert self._ca is not None  # noqa: S101
        opts = self.options
        now = dt.datetime.now(dt.UTC)
        ca, leaf = self._ca, self._leaves[agency.ori]
        others = [a.ori for a in self.agencies if a.ori != agency.ori]
        keyring = Keyring.of(
            PinnedKey(
                kid=KeyId(f"{o}#demo"),
                agency=AgencyId(o),
                public_key=self._keys[o].public_key().public_bytes_raw(),
                not_before=now - dt.timedelta(hours=1),
                not_after=now + dt.timedelta(days=1),
            )
            for o in others
        )
        client = PeerClient(
            self.urls,
            client_context(leaf.cert, leaf.key, ca.ca_path),
            timeout=opts.peer_timeout,
            retry=RetryPolicy(attempts=3, base=0.1, cap=1.0),
        )
        store = (
            opts.store(agency.ori) if opts.store else SqliteStore(self.dir / f"{agency.ori}.db")
        )
        metrics = RelayMetrics()
        ledger = Ledger(
            store,
            agency=agency.ori,
            key=self._keys[agency.ori],
            kid=f"{agency.ori}#demo",
            keyring=keyring,
            clock=lambda: dt.datetime.now(dt.UTC),
        )
        service = RelayService(
            agency=agency.ori,
            policy=read_policy(str(agency.policy), now.date()),
            keyring=keyring,
            signing_key=self._keys[agency.ori],
            signing_kid=f"{agency.ori}#demo",
            store=store,
            sender=client,
            fingerprints={self._leaves[o].sha256: o for o in others},
            tuning=opts.tuning,
            metrics=metrics,
            ledger=ledger,
        )
        if opts.proxies and agency.ori not in self.slack_proxy:
            host, _, port = self.emu.base_url.removeprefix("http://").rstrip("/").rpartition(":")
            self.slack_proxy[agency.ori] = FaultProxy(host, int(port))
            await self.slack_proxy[agency.ori].start()
        ws = self.emu.workspace(agency.team)
        pacer = Pacer()
        if not opts.slack_pacing:
            pacer = Pacer(rates=None)
        elif opts.slack_rates is not None:
            pacer = Pacer(rates=opts.slack_rates)
        session = aiohttp.ClientSession()
        web_client = AsyncWebClient(
            token=ws.bot_token,
            base_url=self.api_url(agency.ori),
            retry_handlers=[],
            session=session,  # one connection pool, not a new session per call
        )
        caller = SlackCaller(web_client, pacer=pacer, metrics=metrics)
        bridge = SlackBridge(
            service=service,
            caller=caller,
            config=WorkspaceConfig(
                team_id=agency.team,
                bot_user_id=ws.bot_user_id,
                bot_id=ws.bot_id,
                channels={agency.channel(t): t for t in TOPICS},
            ),
            fetcher=FileFetcher(caller, session, ws.bot_token),
        )
        fed_runner = web.AppRunner(
            build_federation_app(
                service,
                max_body_bytes=1 << 20,
                read_timeout=10,
                rate_per_second=2000,
                rate_burst=4000,
            ),
            access_log=None,
        )
        await fed_runner.setup()
        fed_site = web.TCPSite(
            fed_runner, "127.0.0.1", 0, ssl_context=server_context(leaf.cert, leaf.key, ca.ca_path)
        )
        await fed_site.start()
        events_runner = web.AppRunner(build_events_app(bridge, ws.signing_secret), access_log=None)
        await events_runner.setup()
        events_site = web.TCPSite(events_runner, "127.0.0.1", 0)
        await events_site.start()
        node = Node(
            agency=agency,
            service=service,
            bridge=bridge,
            client=client,
            session=session,
            runners=[fed_runner, events_runner],
            url=_url(fed_site, "https"),
            events_url=f"{_url(events_site, 'http')}/slack/events",
        )
        node.tasks = [asyncio.create_task(bridge.run_worker())]
        if opts.catch_up_every > 0:
            node.tasks.append(asyncio.create_task(bridge.run_catch_up(opts.catch_up_every)))
        service.start()
        return node

    async def kill(self, ori: str, index: int = 0) -> None:
        """Stop one instance as a crash would: tasks cancelled mid-flight, listeners gone,
        leases not given back, nothing flushed beyond what the store already committed."""
        node = self.instances[ori][index]
        if not node.alive:
            return
        node.alive = False
        tasks = [*node.tasks, *node.service._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for runner in node.runners:
            await runner.cleanup()
        await node.client.close()
        await node.session.close()
        node.service.store.close()
        await self._route(ori)

    async def restart(self, ori: str, index: int = 0) -> float:
        """Start a fresh instance on the same store; returns the seconds it took."""
        started = time.monotonic()
        agency = self.instances[ori][index].agency
        node = await self._start(agency)
        self.instances[ori][index] = node
        if index == 0:
            self.nodes[ori] = node
        await self._route(ori)
        with suppress(DeliveryError):
            await node.bridge.catch_up()
        return time.monotonic() - started

    async def settle(self, origin: str, events: int, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until ``origin``'s workspace delivered ``events`` events, its relay judged
        them all, and every partner relay posted what it received. Bounded by ``timeout``."""
        assert self.emu is not None  # noqa: S101
        async with asyncio.timeout(timeout):
            await self.emu.wait_for_settled_events(
                self.nodes[origin].agency.team, events, timeout=timeout
            )
            await self.nodes[origin].bridge.wait_idle()
            for _ in range(4):  # hops are finite
                for nodes in self.instances.values():
                    for node in nodes:
                        if node.alive:
                            await node.service.drain()

    def post(self, origin: str, topic: str, user: str, text: str, **kw: Any) -> str:
        assert self.emu is not None  # noqa: S101
        agency = self.nodes[origin].agency
        return self.emu.post_as_user(agency.team, agency.channel(topic), user, text, **kw)

    async def __aexit__(self, *exc: object) -> None:
        for nodes in self.instances.values():
            for node in nodes:
                if not node.alive:
                    continue
                for task in node.tasks:
                    task.cancel()
                await asyncio.gather(*node.tasks, return_exceptions=True)
                await node.service.stop()
                await node.client.close()
                await node.session.close()
                for runner in node.runners:
                    await runner.cleanup()
                node.service.store.close()
        for proxy in [*self.fed_proxy.values(), *self.slack_proxy.values()]:
            await proxy.close()
        if self.emu is not None:
            await self.emu.__aexit__(None, None, None)


def _url(site: web.TCPSite, scheme: str) -> str:
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"{scheme}://127.0.0.1:{port}"
