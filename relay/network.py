"""Several agencies on loopback, each with its Slack workspace (the emulator), its relay and
its policy: what ``relay demo`` runs and what the end-to-end tests drive.

Everything is real except Slack itself: slack-sdk talks HTTP to the emulator, relays talk
HTTPS with mutual TLS (a throwaway CA) to each other, stores are SQLite files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
from relay.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec
from relay.federation.client import PeerClient, RetryPolicy
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.pki import Leaf, ThrowawayCA
from relay.service import RelayService
from relay.slack.bridge import SlackBridge, WorkspaceConfig
from relay.slack.events import build_events_app
from relay.slack.files import FileFetcher
from relay.slack.web import SlackCaller
from relay.store.sqlite import SqliteStore

__all__ = ["TOPICS", "Agency", "Network"]

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


class Network:
    """``async with Network(tmp, agencies) as net``: everything started, then stopped."""

    def __init__(self, directory: Path, agencies: list[Agency]) -> None:
        self.dir = directory
        self.agencies = agencies
        self.nodes: dict[str, Node] = {}
        self.emu: Emulator | None = None

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
        self.emu = Emulator(specs, timings=Timings(retry_delays=(0.0, 0.1, 0.2)))
        await self.emu.__aenter__()
        ca = ThrowawayCA(self.dir / "pki")
        leaves = {a.ori: ca.issue(a.ori) for a in self.agencies}
        keys = {a.ori: Ed25519PrivateKey.generate() for a in self.agencies}
        urls: dict[str, str] = {}
        for agency in self.agencies:
            self.nodes[agency.ori] = await self._start(agency, ca, leaves, keys, urls)
        urls.update({ori: node.url for ori, node in self.nodes.items()})
        return self

    async def _start(
        self,
        agency: Agency,
        ca: ThrowawayCA,
        leaves: dict[str, Leaf],
        keys: dict[str, Ed25519PrivateKey],
        urls: dict[str, str],
    ) -> Node:
        assert self.emu is not None  # noqa: S101 - started first
        now = dt.datetime.now(dt.UTC)
        leaf = leaves[agency.ori]
        others = [a.ori for a in self.agencies if a.ori != agency.ori]
        keyring = Keyring.of(
            PinnedKey(
                kid=KeyId(f"{o}#demo"),
                agency=AgencyId(o),
                public_key=keys[o].public_key().public_bytes_raw(),
                not_before=now - dt.timedelta(hours=1),
                not_after=now + dt.timedelta(days=1),
            )
            for o in others
        )
        client = PeerClient(
            urls,
            client_context(leaf.cert, leaf.key, ca.ca_path),
            timeout=10,
            retry=RetryPolicy(attempts=3, base=0.1, cap=1.0),
        )
        service = RelayService(
            agency=agency.ori,
            policy=read_policy(str(agency.policy), now.date()),
            keyring=keyring,
            signing_key=keys[agency.ori],
            signing_kid=f"{agency.ori}#demo",
            store=SqliteStore(self.dir / f"{agency.ori}.db"),
            sender=client,
            fingerprints={leaves[o].sha256: o for o in others},
        )
        ws = self.emu.workspace(agency.team)
        caller = SlackCaller(AsyncWebClient(token=ws.bot_token, base_url=self.emu.api_url))
        session = aiohttp.ClientSession()
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
                rate_per_second=200,
                rate_burst=400,
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
        self.emu.set_event_url(agency.team, f"{_url(events_site, 'http')}/slack/events")
        node = Node(
            agency=agency,
            service=service,
            bridge=bridge,
            client=client,
            session=session,
            runners=[fed_runner, events_runner],
            url=_url(fed_site, "https"),
        )
        node.tasks = [asyncio.create_task(bridge.run_worker())]
        service.start()
        return node

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
                for node in self.nodes.values():
                    await node.service.drain()

    def post(self, origin: str, topic: str, user: str, text: str, **kw: Any) -> str:
        assert self.emu is not None  # noqa: S101
        agency = self.nodes[origin].agency
        return self.emu.post_as_user(agency.team, agency.channel(topic), user, text, **kw)

    async def __aexit__(self, *exc: object) -> None:
        for node in self.nodes.values():
            for task in node.tasks:
                task.cancel()
            await asyncio.gather(*node.tasks, return_exceptions=True)
            await node.service.stop()
            await node.client.close()
            await node.session.close()
            for runner in node.runners:
                await runner.cleanup()
            node.service.store.close()
        if self.emu is not None:
            await self.emu.__aexit__(None, None, None)


def _url(site: web.TCPSite, scheme: str) -> str:
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"{scheme}://127.0.0.1:{port}"
