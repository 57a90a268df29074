"""Several agencies on loopback, each with its Slack workspace (the emulator), its relay and
its policy: what ``relay demo``, ``relay chaos`` and the end-to-end tests drive.

Every relay is built the way ``relay run`` builds it: a ``relay.yaml`` is written per agency
(keys, certificates from a throwaway CA, pinned partner keys, token files) and started with
:func:`relay.app.start_relay`, in this process. By default every agency is every other's
partner; :attr:`Agency.partners` draws another topology, and an agency of the network that
is not a partner is pinned as an origin (``origins:``), as an agency pins one it hears from
only through a relaying partner. Everything is real except Slack itself:
slack-sdk talks HTTP to the emulator, relays talk HTTPS with mutual TLS to each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.app import RunningRelay, start_relay
from relay.config import RelayConfig, read_config
from relay.core.policy.engine import Decision
from relay.core.policy.model import Policy
from relay.errors import DeliveryError
from relay.flow.inbound import Delivery as Posted
from relay.flow.inbound import PostPort
from relay.flow.queues import QueueTuning
from relay.lab.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec
from relay.lab.faultproxy import FaultProxy
from relay.lab.pki import Leaf, ThrowawayCA
from relay.lab.ports import free_ports
from relay.lab.relayyaml import Delivery, Listen, Slack, throwaway_tls, write_material

__all__ = ["TOPICS", "Agency", "Network", "NetworkOptions", "Node"]

TOPICS = ("bolo", "ctwide-intel", "narcotics", "pattern-crime", "dd-burglaries")


@dataclass(frozen=True, slots=True)
class Agency:
    ori: str
    name: str
    team: str
    policy: Path
    officers: tuple[tuple[str, str], ...] = ()  # (user id, display name)
    # The agencies its relay has a link with (None: every other agency of the network). An
    # agency of the network it has no link with is pinned as an origin (``origins:``): heard
    # from only through a hop.
    partners: tuple[str, ...] | None = None

    def channel(self, topic: str) -> str:
        return f"C{self.team[2:6]}{TOPICS.index(topic):02d}"

    @property
    def review_channel(self) -> str:
        """The private channel supervisors review held posts in (``slack.review``)."""
        return f"G{self.team[2:6]}RV"


@dataclass
class Node:
    """One relay instance of an agency, started from its ``relay.yaml``."""

    agency: Agency
    relay: RunningRelay
    alive: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkOptions:
    """How the loopback network is built (``relay demo`` uses the defaults)."""

    store: Callable[[str], str] | None = None  # agency ORI -> its store URL; SQLite if None
    instances: int = 1  # relay instances per agency, sharing the agency's store
    proxies: bool = False  # a fault proxy in front of every relay and of the Slack API
    tuning: QueueTuning | None = None
    slack_pacing: bool = True
    catch_up_every: float = 0.0  # seconds between catch-ups (events Slack gave up on); 0: off
    timings: Timings = field(default_factory=lambda: Timings(retry_delays=(0.0, 0.1, 0.2)))


def _links(agencies: list[Agency]) -> dict[str, tuple[str, ...]]:
    """Each agency's partners in the network; a link is both ways (each side pins the
    other's certificate), so both must name it."""
    oris = [a.ori for a in agencies]
    links = {
        a.ori: tuple(o for o in oris if o != a.ori)
        if a.partners is None
        else tuple(o for o in a.partners)
        for a in agencies
    }
    for ori, partners in links.items():
        for other in partners:
            if other not in links or other == ori:
                raise ValueError(f"{ori}: partner {other} is not another agency of the network")
            if ori not in links[other]:
                raise ValueError(f"{ori} links to {other}, but {other} not to {ori}")
    return links


class Network:
    """``async with Network(tmp, agencies) as net``: everything started, then stopped.

    ``net.nodes[ori]`` is an agency's first relay instance, ``net.instances[ori]`` all of them.
    With ``proxies``, partners and Slack reach each agency through a :class:`FaultProxy`
    (``net.fed_proxy[ori]``; ``net.slack_proxy[ori]`` between the relay and the Slack API),
    so links can be cut and relays killed (:meth:`kill`) and restarted (:meth:`restart`).
    ``net.judged`` lists every message's decisions as the origin relays judged them,
    ``net.received`` what each receiving relay verified and posted, ``net.links`` each
    agency's partners."""

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
        self.configs: dict[str, RelayConfig] = {}
        self.urls: dict[str, str] = {}  # where partners reach each agency (its proxy, if any)
        self.ca: ThrowawayCA | None = None
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.leaves: dict[str, Leaf] = {}
        self.judged: dict[str, list[tuple[str, dict[str, Decision]]]] = {}
        self.links = _links(agencies)
        # Every delivery a relay posted (or withheld by choice), keyed by (agency, origin,
        # envelope id): the verified envelope (its hops) and the receiving agency's decision.
        self.received: dict[tuple[str, str, str], Posted] = {}

    async def __aenter__(self) -> Network:
        await self._open()
        for agency in self.agencies:
            self.judged[agency.ori] = []
            nodes = [await self._start(agency, i) for i in range(self.options.instances)]
            self.instances[agency.ori] = nodes
            self.nodes[agency.ori] = nodes[0]
            await self._route(agency.ori)
        return self

    async def _open(self) -> None:
        """The emulator (and the proxies) started, every agency's ``relay.yaml`` written."""
        specs = [
            WorkspaceSpec(
                team_id=a.team,
                name=a.name,
                domain=a.name.lower().replace(" ", "-"),
                users=tuple(
                    UserSpec(id=u, name=n.lower().replace(" ", "."), display_name=n)
                    for u, n in a.officers
                ),
                channels=(
                    *(ChannelSpec(id=a.channel(t), name=t) for t in TOPICS),
                    ChannelSpec(id=a.review_channel, name="relay-review", private=True),
                ),
            )
            for a in self.agencies
        ]
        self.emu = Emulator(specs, timings=self.options.timings)
        await self.emu.__aenter__()
        await self._write_configs()

    def agency(self, ori: str) -> Agency:
        return next(a for a in self.agencies if a.ori == ori)

    def policies(self) -> dict[str, Policy]:
        """Each agency's policy, as its relay holds it."""
        return {o: n.relay.policy for o, n in self.nodes.items()}

    def api_url(self, ori: str) -> str:
        assert self.emu is not None  # noqa: S101 - started first
        proxy = self.slack_proxy.get(ori)
        return f"http://{proxy.url_host}/api/" if proxy else self.emu.api_url

    async def _write_configs(self) -> None:
        """Per agency: keys, certificates, token files and ``relay.yaml``."""
        assert self.emu is not None  # noqa: S101
        self.ca = ca = ThrowawayCA(self.dir / "pki")
        now = dt.datetime.now(dt.UTC)
        material = {
            a.ori: write_material(
                self.dir / a.ori, a.ori, f"{a.ori}#demo", throwaway_tls(ca, a.ori)
            )
            for a in self.agencies
        }
        self.keys = {o: m.key for o, m in material.items()}
        self.leaves = {
            o: Leaf(cert=m.dir / m.cert, key=m.dir / m.tls_key, sha256=m.fingerprint)
            for o, m in material.items()
        }
        urls = self.urls
        # chosen together, so no two agencies draw the same port (each is bound only later)
        ports = dict(
            zip((a.ori for a in self.agencies), free_ports(len(self.agencies)), strict=True)
        )
        for a in self.agencies:
            if self.options.proxies:
                fed = FaultProxy("127.0.0.1", ports[a.ori])
                await fed.start()
                self.fed_proxy[a.ori] = fed
                urls[a.ori] = f"https://{fed.url_host}"
                host, _, port = (
                    self.emu.base_url.removeprefix("http://").rstrip("/").rpartition(":")
                )
                self.slack_proxy[a.ori] = FaultProxy(host, int(port))
                await self.slack_proxy[a.ori].start()
            else:
                urls[a.ori] = f"https://127.0.0.1:{ports[a.ori]}"
        tuning = self.options.tuning or QueueTuning()
        backoff = tuning.backoff
        delivery = Delivery(
            lease_seconds=tuning.lease,
            poll_seconds=tuning.poll,
            batch=tuning.batch,
            retry_base_seconds=backoff.base,
            retry_cap_seconds=backoff.cap,
            max_age_hours=backoff.max_age / 3600,
        )
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
        for a in self.agencies:
            d = self.dir / a.ori
            ws = self.emu.workspace(a.team)
            (d / "bot_token").write_text(ws.bot_token)
            (d / "signing_secret").write_text(ws.signing_secret)
            store = (
                self.options.store(a.ori) if self.options.store else f"sqlite:///{d / 'relay.db'}"
            )
            config = material[a.ori].config(
                policy=a.policy.resolve(),
                store=store,
                delivery=delivery,
                listen=Listen("127.0.0.1", ports[a.ori]),
                rate_limit=(2000, 4000),
                partners=[material[o].partner(urls[o], start, end) for o in self.links[a.ori]],
                origins=[
                    material[o.ori].origin(start, end)
                    for o in self.agencies
                    if o.ori != a.ori and o.ori not in self.links[a.ori]
                ],
                slack=Slack(
                    team_id=a.team,
                    api_url=self.api_url(a.ori),
                    bot_token_file="bot_token",  # noqa: S106 - a file name
                    signing_secret_file="signing_secret",  # noqa: S106
                    listen=Listen("127.0.0.1", 0),
                    pacing=self.options.slack_pacing,
                    catch_up_seconds=self.options.catch_up_every or 86400,
                    channels={a.channel(t): t for t in TOPICS},
                ),
            )
            self.configs[a.ori] = read_config(config.write(d / "relay.yaml"))

    async def _route(self, ori: str) -> None:
        """Point partners and Slack at a live instance of ``ori`` (through its proxies)."""
        assert self.emu is not None  # noqa: S101
        live = [n for n in self.instances[ori] if n.alive]
        if not live:
            return
        node = live[0]
        if ori in self.fed_proxy:
            host, _, port = node.relay.url.removeprefix("https://").rpartition(":")
            self.fed_proxy[ori].retarget(host, int(port))
        self.emu.set_event_url(node.agency.team, str(node.relay.slack_url))
        self.emu.set_interactivity_url(
            node.agency.team, str(node.relay.slack_url).replace("/events", "/interactivity")
        )

    async def _start(self, agency: Agency, index: int) -> Node:
        config = self.configs[agency.ori]
        if index > 0 or self.options.proxies:  # partners reach instance 0, or the proxy
            config = dataclasses.replace(
                config, federation=dataclasses.replace(config.federation, port=0)
            )
        judged = self.judged[agency.ori]
        relay = await start_relay(
            config, observe=lambda jti, decisions: judged.append((jti, decisions))
        )
        inbound = relay.parts.inbound
        if inbound.poster is not None:
            inbound.poster = self._noting(agency.ori, inbound.poster)
        return Node(agency=agency, relay=relay)

    def _noting(self, ori: str, post: PostPort) -> PostPort:
        """``post``, noting each delivery it took in :attr:`received` (the lab's record of
        what each relay verified and posted: ``relay demo`` reads a copy's path from it)."""

        async def noted(delivery: Posted) -> bool | None:
            shown = await post(delivery)
            env = delivery.envelope
            self.received[(ori, env.issuer, env.envelope_id)] = delivery
            return shown

        return noted

    async def kill(self, ori: str, index: int = 0) -> None:
        """Stop one instance as a crash would: tasks cancelled mid-flight, listeners gone,
        leases not given back, nothing flushed beyond what the store already committed."""
        node = self.instances[ori][index]
        if not node.alive:
            return
        node.alive = False
        await node.relay.kill()
        await self._route(ori)

    async def restart(self, ori: str, index: int = 0) -> float:
        """Start a fresh instance on the same store; returns the seconds it took."""
        started = time.monotonic()
        agency = self.instances[ori][index].agency
        node = await self._start(agency, index)
        self.instances[ori][index] = node
        if index == 0:
            self.nodes[ori] = node
        await self._route(ori)
        with suppress(DeliveryError):
            await node.relay.catch_up()
        return time.monotonic() - started

    async def settle(self, origin: str, events: int, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until ``origin``'s workspace delivered ``events`` events, its relay judged
        them all, and every partner relay posted what it received. Bounded by ``timeout``."""
        assert self.emu is not None  # noqa: S101
        async with asyncio.timeout(timeout):
            await self.emu.wait_for_settled_events(
                self.nodes[origin].agency.team, events, timeout=timeout
            )
            await self.nodes[origin].relay.wait_idle()
            for _ in range(4):  # hops are finite
                for nodes in self.instances.values():
                    for node in nodes:
                        if node.alive:
                            await node.relay.drain()
            live = [n.relay for nodes in self.instances.values() for n in nodes if n.alive]
            for _ in range(8):  # receipts go back hop by hop: until every relay is quiet
                if all([await relay.quiet() for relay in live]):
                    break
                for relay in live:
                    await relay.drain()

    def events(self, ori: str) -> int:
        """The events ``ori``'s workspace has delivered or is delivering so far, counted as
        :meth:`settle` counts them: add what is done next and settle on the sum."""
        assert self.emu is not None  # noqa: S101
        return self.emu.counted_events(self.nodes[ori].agency.team)

    def post(self, origin: str, topic: str, user: str, text: str, **kw: Any) -> str:
        assert self.emu is not None  # noqa: S101
        agency = self.nodes[origin].agency
        return self.emu.post_as_user(agency.team, agency.channel(topic), user, text, **kw)

    async def __aexit__(self, *exc: object) -> None:
        for nodes in self.instances.values():
            for node in nodes:
                if node.alive:
                    node.alive = False
                    await node.relay.stop()
        for proxy in [*self.fed_proxy.values(), *self.slack_proxy.values()]:
            await proxy.close()
        if self.emu is not None:
            await self.emu.__aexit__(None, None, None)
