"""Build a running relay from ``relay.yaml``: policy, keys, store, peer client, listener."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import signal
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from slack_sdk.web.async_client import AsyncWebClient

from relay.commands.policy import read_policy
from relay.config import ConfigLoadError, RelayConfig, SlackConfig
from relay.core.backoff import Backoff
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.delivery import QueueTuning
from relay.errors import DeliveryError
from relay.federation.client import PeerClient
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.service import RelayService
from relay.slack.bridge import SlackBridge, WorkspaceConfig
from relay.slack.events import build_events_app
from relay.slack.files import FileFetcher
from relay.slack.socket import SocketModeReceiver
from relay.slack.web import Pacer, SlackCaller
from relay.store.contract import Store
from relay.store.open import open_store

__all__ = ["RunningRelay", "keyring_from_config", "load_signing_key", "run_forever", "start_relay"]


@dataclass
class RunningRelay:
    config: RelayConfig
    service: RelayService
    client: PeerClient
    runner: web.AppRunner
    url: str
    bridge: SlackBridge | None = None
    slack_url: str | None = None
    socket: SocketModeReceiver | None = None
    extra: list[Any] = field(default_factory=list)  # runners, sessions to close
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop taking, finish what is in flight, release everything."""
        if self.socket is not None:
            await self.socket.stop()
        await self.runner.cleanup()  # no new envelopes
        for thing in self.extra:
            if isinstance(thing, web.AppRunner):
                await thing.cleanup()  # no new Slack events
        for task in self.tasks:  # the Slack event worker: what it leased is given back
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        # The queues finish the batches in hand within a bound, then give back their leases:
        # the next start (or another instance) resumes the rest.
        await self.service.stop(timeout=self.config.delivery.stop_timeout)
        await self.client.close()
        for thing in self.extra:
            if not isinstance(thing, web.AppRunner):
                await thing.close()
        self.service.store.close()


def tuning_from_config(config: RelayConfig) -> QueueTuning:
    d = config.delivery
    return QueueTuning(
        lease=d.lease,
        batch=d.batch,
        poll=d.poll,
        backoff=Backoff(base=d.retry_base, cap=d.retry_cap, max_age=d.max_age.total_seconds()),
    )


def load_signing_key(path: Path, source: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigLoadError(
            source, [(1, f"signing_key {path}: cannot load ({type(exc).__name__})")]
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigLoadError(source, [(1, f"signing_key {path} is not an Ed25519 key")])
    return key


def keyring_from_config(config: RelayConfig) -> Keyring:
    keys = []
    for link in config.partners.values():
        for k in link.keys:
            raw = base64.urlsafe_b64decode(k.public_key + "=" * (-len(k.public_key) % 4))
            try:
                keys.append(
                    PinnedKey(
                        kid=KeyId(k.kid),
                        agency=AgencyId(link.ori),
                        public_key=raw,
                        not_before=k.not_before,
                        not_after=k.not_after,
                        revoked=k.revoked,
                    )
                )
            except (ValueError, Exception) as exc:  # noqa: BLE001 - a key that must not pin
                raise ConfigLoadError(
                    config.source, [(1, f"partner key {k.kid} refused ({type(exc).__name__})")]
                ) from None
    return Keyring.of(keys)


def _open_store(config: RelayConfig) -> Store:
    try:
        return open_store(config.store, base_dir=Path(config.source).parent)
    except ValueError as exc:
        raise ConfigLoadError(config.source, [(1, f"store: {exc}")]) from None
    except Exception as exc:  # noqa: BLE001 - driver text may echo the URL and its password
        raise ConfigLoadError(
            config.source, [(1, f"store: cannot open ({type(exc).__name__})")]
        ) from None


async def start_relay(config: RelayConfig) -> RunningRelay:
    """Start the federation listener; the caller stops it with ``RunningRelay.stop``."""
    policy = read_policy(str(config.policy), dt.datetime.now(dt.UTC).date())
    if policy.ori != config.agency:
        raise ConfigLoadError(
            config.source,
            [(1, f"policy {config.policy} is for {policy.ori}, not {config.agency}")],
        )
    fed = config.federation
    client = PeerClient(
        {o: link.url for o, link in config.partners.items()},
        client_context(fed.tls_cert, fed.tls_key, fed.tls_ca),
    )
    service = RelayService(
        agency=config.agency,
        policy=policy,
        keyring=keyring_from_config(config),
        signing_key=load_signing_key(config.signing_key, config.source),
        signing_kid=config.signing_kid,
        store=_open_store(config),
        sender=client,
        fingerprints={fp: o for o, link in config.partners.items() for fp in link.tls_sha256},
        hop_limit=fed.hop_limit,
        skew=fed.clock_skew,
        ttl=fed.envelope_ttl,
        tuning=tuning_from_config(config),
    )
    app = build_federation_app(
        service,
        max_body_bytes=fed.max_body_bytes,
        read_timeout=fed.read_timeout,
        rate_per_second=fed.rate_per_second,
        rate_burst=fed.rate_burst,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner,
        fed.host,
        fed.port,
        ssl_context=server_context(fed.tls_cert, fed.tls_key, fed.tls_ca),
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    relay = RunningRelay(
        config=config,
        service=service,
        client=client,
        runner=runner,
        url=f"https://{fed.host}:{port}",
    )
    if config.slack is not None:
        await _start_slack(relay, config.slack, policy.cancellations)
    service.start()  # the outbox and the inbound queue: resume what was in flight
    return relay


async def _start_slack(relay: RunningRelay, slack: SlackConfig, on_cancel: str) -> None:
    """Slack at both ends: tokens from the environment or files, auth checked, events in
    (HTTP or Socket Mode), deliveries posted, and a catch-up on what was missed."""
    source = relay.config.source
    token = slack.bot_token.read()
    if not token:
        raise ConfigLoadError(
            source, [(1, "slack bot token not found (bot_token_env / bot_token_file)")]
        )
    # No slack-sdk retry handlers: a post cut off after Slack took it must be reconciled (the
    # relay looks for its mark), never sent again blindly; the queues do the retrying.
    session = aiohttp.ClientSession()
    relay.extra.append(session)
    web_client = AsyncWebClient(
        token=token, base_url=slack.api_url, retry_handlers=[], session=session
    )
    caller = SlackCaller(web_client, pacer=Pacer() if slack.pacing else Pacer(rates=None))
    try:
        auth = await caller.api("auth.test")
    except DeliveryError as exc:
        raise ConfigLoadError(source, [(1, f"slack auth.test failed: {exc.code}")]) from None
    bridge = SlackBridge(
        service=relay.service,
        caller=caller,
        fetcher=FileFetcher(caller, session, token),
        config=WorkspaceConfig(
            team_id=slack.team_id,
            channels=slack.channels,
            bot_user_id=str(auth.get("user_id", "")),
            bot_id=str(auth.get("bot_id") or "") or None,
            on_cancel=on_cancel,
            icon_url=slack.icon_url,
        ),
    )
    relay.bridge = bridge
    if slack.mode == "socket":
        app_token = slack.app_token.read()
        if not app_token:
            raise ConfigLoadError(
                source, [(1, "slack app token not found (app_token_env / app_token_file)")]
            )
        relay.socket = SocketModeReceiver(bridge, app_token=app_token, web_client=web_client)
        await relay.socket.start()
    else:
        secret = slack.signing_secret.read()
        if not secret:
            raise ConfigLoadError(
                source,
                [(1, "slack signing secret not found (signing_secret_env / signing_secret_file)")],
            )
        runner = web.AppRunner(build_events_app(bridge, secret), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, slack.host, slack.port)
        await site.start()
        relay.extra.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        relay.slack_url = f"http://{slack.host}:{port}/slack/events"
    with suppress(DeliveryError):
        await bridge.catch_up()  # before the worker moves any channel's mark
    relay.tasks = [
        asyncio.create_task(bridge.run_worker()),
        asyncio.create_task(bridge.run_catch_up(slack.catch_up_seconds)),
    ]


async def run_forever(config: RelayConfig) -> None:
    """Run until SIGTERM or SIGINT, then stop taking and finish what is in flight."""
    relay = await start_relay(config)
    # One JSON line on stdout when ready: where the listeners are (port 0 picks a free one).
    started = {
        "event": "relay_started",
        "agency": config.agency,
        "instance": relay.service.instance,
        "federation": relay.url,
        "slack_events": relay.slack_url,
    }
    print(json.dumps(started), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.stop()
