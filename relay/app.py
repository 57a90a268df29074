"""Build a running relay from ``relay.yaml``: policy, keys, store, peer client, listener."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import signal
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from slack_sdk.web.async_client import AsyncWebClient

from relay.admin import build_admin_app, start_admin
from relay.commands.policy import read_policy
from relay.config import ConfigLoadError, RelayConfig, SlackConfig
from relay.core.backoff import Backoff
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.policy.model import Policy
from relay.delivery import QueueTuning
from relay.errors import DeliveryError
from relay.federation.checkpoints import add_checkpoint_routes
from relay.federation.client import PeerClient
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.ledger import Ledger
from relay.metrics import RelayMetrics
from relay.service import RelayService
from relay.slack.bridge import SlackBridge, WorkspaceConfig
from relay.slack.events import build_events_app
from relay.slack.files import FileFetcher
from relay.slack.socket import SocketModeReceiver
from relay.slack.web import Pacer, SlackCaller
from relay.store.contract import Store
from relay.store.open import open_store

log = structlog.get_logger("relay.app")
_AUTH_FAILED = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive"})

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
    admin_url: str | None = None
    admin: web.AppRunner | None = None
    slack_auth_ok: bool | None = None  # None: no Slack workspace configured

    @property
    def metrics(self) -> RelayMetrics:
        return self.service.metrics

    async def readiness(self) -> dict[str, bool]:
        """``/readyz``: store reachable, Slack auth valid, policies loaded, keys valid, and
        the audit ledger taking writes (without it nothing is forwarded)."""
        checks = dict(await self.service.readiness())
        if self.slack_auth_ok is not None:
            checks["slack_auth"] = self.slack_auth_ok
        ledger = self.service.ledger
        checks["audit"] = ledger is not None and not ledger.failing
        return checks

    async def refresh_metrics(self) -> None:
        """Before a scrape: the queue gauges from the store (shared by every instance)."""
        store = self.service.store
        stats = await asyncio.to_thread(store.queue_stats)
        pending = await asyncio.to_thread(store.pending_event_count)
        self.metrics.queues(stats, now=time.time(), pending_events=pending)

    async def status(self) -> Mapping[str, Any]:
        """``/status``: partners, queues and the last errors (ids and reason codes only)."""
        service = self.service
        stats = await asyncio.to_thread(service.store.queue_stats)
        ledger = service.ledger
        return {
            "agency": service.agency,
            "instance": service.instance,
            "policy": service.policy.ref,
            "partners": sorted(self.config.partners),
            "queues": [
                {"queue": s.queue, "peer": s.peer, "state": s.state, "count": s.count}
                for s in stats
            ],
            "undelivered": [
                {"partner": p, "envelope": e, "reason": r} for p, e, r in service.undelivered[-10:]
            ],
            "failures": [{"envelope": e, "reason": r} for e, r in service.failures[-10:]],
            "audit": {
                "head": ledger.head[0] if ledger is not None and ledger.head else None,
                "writable": ledger is not None and not ledger.failing,
            },
            "slack_auth": self.slack_auth_ok,
        }

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
        if self.admin is not None:
            await self.admin.cleanup()  # last: /healthz answers until the relay is down
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
    now = dt.datetime.now(dt.UTC)
    metrics = RelayMetrics()
    metrics.start_time.set(now.timestamp())
    metrics.policy(policy.ori, policy.digest, now.timestamp())
    keyring = keyring_from_config(config)
    metrics.keys((k.agency, k.kid, k.not_after.timestamp()) for k in keyring.keys if k.not_after)
    signing_key = load_signing_key(config.signing_key, config.source)
    store = _open_store(config)
    ledger = Ledger(
        store,
        agency=config.agency,
        key=signing_key,
        kid=config.signing_kid,
        keyring=keyring,
        clock=lambda: dt.datetime.now(dt.UTC),
        retention_days=config.audit.retention_days,
    )
    client = PeerClient(
        {o: link.url for o, link in config.partners.items()},
        client_context(fed.tls_cert, fed.tls_key, fed.tls_ca),
    )
    service = RelayService(
        agency=config.agency,
        policy=policy,
        keyring=keyring,
        signing_key=signing_key,
        signing_kid=config.signing_kid,
        store=store,
        sender=client,
        fingerprints={fp: o for o, link in config.partners.items() for fp in link.tls_sha256},
        hop_limit=fed.hop_limit,
        skew=fed.clock_skew,
        ttl=fed.envelope_ttl,
        tuning=tuning_from_config(config),
        metrics=metrics,
        ledger=ledger,
    )
    _audit_start(ledger, policy, keyring)
    app = build_federation_app(
        service,
        max_body_bytes=fed.max_body_bytes,
        read_timeout=fed.read_timeout,
        rate_per_second=fed.rate_per_second,
        rate_burst=fed.rate_burst,
    )
    add_checkpoint_routes(app, _Checkpoints(ledger, metrics))
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
    if config.admin is not None:
        relay.admin, relay.admin_url = await start_admin(
            build_admin_app(
                metrics=metrics,
                checks=relay.readiness,
                before_scrape=relay.refresh_metrics,
                status=relay.status,
            ),
            config.admin.host,
            config.admin.port,
        )
    if config.slack is not None:
        await _start_slack(relay, config.slack, policy.cancellations)
    service.start()  # the outbox and the inbound queue: resume what was in flight
    relay.tasks.append(asyncio.create_task(_checkpoints(relay, config.audit.checkpoint_interval)))
    log.info(
        "relay_started",
        agency=config.agency,
        instance=service.instance,
        policy=policy.digest[:12],
        partners=len(config.partners),
    )
    return relay


@dataclass(frozen=True, slots=True)
class _Checkpoints:
    """Partners' checkpoints into the ledger, counted."""

    ledger: Ledger
    metrics: RelayMetrics

    def receive_checkpoint(self, partner: str, token: str) -> str:
        outcome = self.ledger.receive_checkpoint(partner, token)
        self.metrics.checkpoint("received", partner, outcome)
        if outcome == "conflict":
            log.error("audit_checkpoint_conflict", partner=partner)
        return outcome

    def kept_tokens(self, issuer: str) -> list[str]:
        return self.ledger.kept_tokens(issuer)


def _audit_start(ledger: Ledger, policy: Policy, keyring: Keyring) -> None:
    """At every start: the policy version and the pinned keys in force from now on (the
    ledger shows every change, since nothing changes without a restart)."""
    try:
        ledger.append(
            [
                ledger.entry("policy_change", outcome="loaded", policy=policy.ref),
                *(
                    ledger.entry(
                        "key_change",
                        actor_agency=k.agency,
                        kid=k.kid,
                        outcome="revoked" if k.revoked else "pinned",
                    )
                    for k in keyring.keys
                ),
            ]
        )
    except Exception:  # noqa: BLE001 - the relay starts; nothing leaves until the ledger works
        log.error("audit_write_failed", audit_event="policy_change")


async def _checkpoints(relay: RunningRelay, every: float) -> None:
    """Every ``every`` seconds: sign the audit chain head and send it to every partner, who
    keep it (a truncated or forked history shows against it); once a day, prune records
    past retention."""
    ledger = relay.service.ledger
    if ledger is None:
        return
    last_prune = 0.0
    while True:
        await asyncio.sleep(every)
        await send_checkpoint(relay)
        if time.time() - last_prune > 86400:
            last_prune = time.time()
            try:
                await asyncio.to_thread(ledger.prune, dt.datetime.now(dt.UTC))
            except Exception:  # noqa: BLE001 - tried again tomorrow
                log.error("audit_prune_failed")


async def send_checkpoint(relay: RunningRelay) -> None:
    """Sign a checkpoint now and send it to every partner (also ``relay`` tests)."""
    ledger = relay.service.ledger
    if ledger is None:
        return
    try:
        token = await asyncio.to_thread(ledger.make_checkpoint)
    except Exception:  # noqa: BLE001 - the ledger is failing: counted, tried next interval
        log.error("audit_checkpoint_failed")
        return
    relay.metrics.checkpoint_time.set(time.time())
    for partner in sorted(relay.config.partners):
        try:
            outcome = await relay.client.send_checkpoint(partner, token)
        except DeliveryError as exc:
            outcome = exc.code
        relay.metrics.checkpoint("sent", partner, str(outcome))
        log.info("audit_checkpoint_sent", partner=partner, outcome=str(outcome))


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
    caller = SlackCaller(
        web_client,
        pacer=Pacer() if slack.pacing else Pacer(rates=None),
        metrics=relay.metrics,
    )
    try:
        auth = await caller.api("auth.test")
    except DeliveryError as exc:
        relay.metrics.slack_auth.set(0)
        raise ConfigLoadError(source, [(1, f"slack auth.test failed: {exc.code}")]) from None
    relay.slack_auth_ok = True
    relay.metrics.slack_auth.set(1)
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
        asyncio.create_task(_watch_slack_auth(relay, caller)),
    ]


async def _watch_slack_auth(relay: RunningRelay, caller: SlackCaller, every: float = 60.0) -> None:
    """Check the bot token every minute (``/readyz``, ``relay_slack_auth_ok``): a revoked or
    rotated token shows before deliveries pile up."""
    while True:
        await asyncio.sleep(every)
        try:
            await caller.api("auth.test")
            ok = True
        except DeliveryError as exc:
            ok = exc.code not in (
                "invalid_auth",
                "not_authed",
                "token_revoked",
                "account_inactive",
            )
            if not ok:
                log.error("slack_auth_failed", reason=exc.code)
        relay.slack_auth_ok = ok
        relay.metrics.slack_auth.set(1 if ok else 0)


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
        "admin": relay.admin_url,
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
