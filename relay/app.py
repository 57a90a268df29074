"""Start a relay from ``relay.yaml``: its parts assembled (:mod:`relay.assemble`), then its
listeners (federation, Slack events or Socket Mode, admin) and its loops."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from relay.admin import build_admin_app, start_admin
from relay.assemble import (
    Clock,
    Parts,
    PostPort,
    assemble,
    utc_now,
)
from relay.checkpointing import ReceivedCheckpoints, audit_start, checkpoint_loop
from relay.config import ConfigLoadError, RelayConfig
from relay.core.policy.model import Policy
from relay.errors import DeliveryError
from relay.federation.checkpoints import add_checkpoint_routes
from relay.federation.receipts import add_receipt_routes
from relay.federation.server import build_federation_app
from relay.federation.tls import server_context
from relay.ledger import Ledger
from relay.metrics import RelayMetrics
from relay.slack.events import build_events_app
from relay.slack.publisher import Observer
from relay.slack.socket import SocketModeReceiver
from relay.slack.web import SlackCaller
from relay.store.contract import Store

log = structlog.get_logger("relay.app")

__all__ = ["RunningRelay", "run_forever", "start_relay"]


@dataclass
class RunningRelay:
    """A started relay instance: its parts and its listeners."""

    parts: Parts
    runner: web.AppRunner
    url: str
    slack_url: str | None = None
    socket: SocketModeReceiver | None = None
    runners: list[web.AppRunner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    admin_url: str | None = None
    admin: web.AppRunner | None = None
    slack_auth_ok: bool | None = None  # None: no Slack workspace configured

    @property
    def config(self) -> RelayConfig:
        return self.parts.config

    @property
    def metrics(self) -> RelayMetrics:
        return self.parts.metrics

    @property
    def store(self) -> Store:
        return self.parts.store

    @property
    def ledger(self) -> Ledger:
        return self.parts.ledger

    @property
    def policy(self) -> Policy:
        return self.parts.policy

    async def drain(self, rounds: int = 3) -> None:
        """Until the queues have nothing due and the receipts owed are sent (tests, the
        lab)."""
        await self.parts.refusals.flush()  # what was refused: in the store and the ledger
        await self.parts.queues.drain(rounds)
        receipts = self.parts.receipts
        for _ in range(8):  # bounded: each round sends a batch per peer
            if not await receipts.send_due():
                break
        await receipts.settle()

    async def quiet(self) -> bool:
        """No receipt owed or on its way, no author's view being updated (tests, the lab:
        when every relay is quiet at once, the receipts have all come home)."""
        return await self.parts.receipts.quiet()

    async def wait_idle(self) -> None:
        """Until every Slack event taken has been processed."""
        if self.parts.slack is not None:
            await self.parts.slack.inbox.wait_idle()

    async def catch_up(self) -> int:
        if self.parts.slack is None:
            return 0
        return await self.parts.slack.catch_up.catch_up()

    async def readiness(self) -> dict[str, bool]:
        """``/readyz``: store reachable, Slack auth valid, policies loaded, keys valid, and
        the audit ledger taking writes (without it nothing is forwarded)."""
        checks = dict(await self.parts.door.readiness())
        if self.slack_auth_ok is not None:
            checks["slack_auth"] = self.slack_auth_ok
        checks["audit"] = self.parts.recorder.writable
        return checks

    async def refresh_metrics(self) -> None:
        """Before a scrape: the queue gauges from the store (shared by every instance)."""
        aio = self.parts.aio
        stats = await aio.queue_stats()
        pending = await aio.pending_event_count()
        self.metrics.queues(stats, now=time.time(), pending_events=pending)

    async def status(self) -> Mapping[str, Any]:
        """``/status``: partners, queues, the last undelivered envelopes (dead letters) and
        failures (ids and reason codes only), the audit head."""
        parts = self.parts
        stats = await parts.aio.queue_stats()
        dead = await parts.aio.queue_entries(state="dead", limit=1000)
        head = parts.ledger.head
        undelivered = [e for e in dead if e.queue == "outbox"][-10:]
        return {
            "agency": self.config.agency,
            "instance": parts.instance,
            "policy": parts.policy.ref,
            "partners": sorted(self.config.partners),
            "queues": [
                {"queue": s.queue, "peer": s.peer, "state": s.state, "count": s.count}
                for s in stats
            ],
            "undelivered": [
                {"partner": e.peer, "envelope": e.envelope_id, "reason": e.reason}
                for e in undelivered
            ],
            "failures": [
                {"envelope": p.id, "reason": p.reason} for p in list(parts.recorder.recent)[-10:]
            ],
            "audit": {"head": head[0] if head else None, "writable": parts.recorder.writable},
            "slack_auth": self.slack_auth_ok,
        }

    async def stop(self) -> None:
        """Stop taking, finish what is in flight, release everything."""
        parts = self.parts
        if self.socket is not None:
            await self.socket.stop()
        await self.runner.cleanup()  # no new envelopes
        for runner in self.runners:
            await runner.cleanup()  # no new Slack events
        for task in self.tasks:  # the Slack event worker: what it leased is given back
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with suppress(Exception):  # the refusal windows closed, with their counts
            await parts.refusals.flush(closing=True)
        await parts.receipts.close()
        # The queues finish the batches in hand within a bound, then give back their leases:
        # the next start (or another instance) resumes the rest.
        await parts.queues.stop(timeout=self.config.delivery.stop_timeout)
        await parts.client.close()
        if parts.slack is not None:
            await parts.slack.connection.close()
        if self.admin is not None:
            await self.admin.cleanup()  # last: /healthz answers until the relay is down
        await parts.aio.close()
        if parts.photos is not None:  # the OCR's worker processes
            await asyncio.to_thread(parts.photos.close)

    async def kill(self) -> None:
        """Stop as a crash would (the lab): tasks cancelled mid-flight, listeners gone,
        leases not given back, nothing flushed beyond what the store already committed."""
        tasks = [*self.tasks, *self.parts.queues.kill()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.parts.receipts.close()
        if self.socket is not None:
            await self.socket.stop()
        for runner in [self.runner, *self.runners]:
            await runner.cleanup()
        await self.parts.client.close()
        if self.parts.slack is not None:
            await self.parts.slack.connection.close()
        if self.admin is not None:
            await self.admin.cleanup()
        if self.parts.photos is not None:
            self.parts.photos.close(wait=False)
        await self.parts.aio.close()


async def start_relay(
    config: RelayConfig,
    *,
    clock: Clock = utc_now,
    observe: Observer | None = None,
    deliver: PostPort | None = None,
) -> RunningRelay:
    """Assemble the relay from ``config`` and start it; the caller stops it with
    :meth:`RunningRelay.stop`. The keyword ports are the lab's (see :func:`assemble`)."""
    parts = await assemble(config, clock=clock, observe=observe, deliver=deliver)
    relay: RunningRelay | None = None
    try:
        relay = await _listen(parts)
        if parts.slack is not None:
            await _start_slack(relay)
    except BaseException:
        await (relay.stop() if relay is not None else _close(parts))
        raise
    parts.queues.start()  # the outbox and the inbound queue: resume what was in flight
    relay.tasks += [
        asyncio.create_task(checkpoint_loop(parts, config.audit.checkpoint_interval)),
        asyncio.create_task(parts.receipts.run()),
        asyncio.create_task(parts.refusals.run()),
        asyncio.create_task(parts.files.run()),
    ]
    log.info(
        "relay_started",
        agency=config.agency,
        instance=parts.instance,
        policy=parts.policy.digest[:12],
        partners=len(config.partners),
    )
    return relay


async def _close(parts: Parts) -> None:
    """What :func:`assemble` opened (a start that failed before any listener)."""
    await parts.client.close()
    if parts.slack is not None:
        await parts.slack.connection.close()
    await parts.aio.close()


async def _listen(parts: Parts) -> RunningRelay:
    """The federation listener and, if configured, the admin listener."""
    config = parts.config
    fed = config.federation
    audit_start(parts.ledger, parts.policy, parts.pinned)
    app = build_federation_app(
        parts.door,
        max_body_bytes=fed.max_body_bytes,
        read_timeout=fed.read_timeout,
        rate_per_second=fed.rate_per_second,
        rate_burst=fed.rate_burst,
        max_file_bytes=fed.files.max_bytes,
        registry=parts.metrics.registry,
    )
    add_checkpoint_routes(app, ReceivedCheckpoints(parts.ledger, parts.metrics))
    add_receipt_routes(app, parts.receipts)
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
    relay = RunningRelay(parts=parts, runner=runner, url=f"https://{fed.host}:{port}")
    if config.admin is not None:
        relay.admin, relay.admin_url = await start_admin(
            build_admin_app(
                metrics=parts.metrics,
                checks=relay.readiness,
                before_scrape=relay.refresh_metrics,
                status=relay.status,
            ),
            config.admin.host,
            config.admin.port,
        )
    return relay


async def _start_slack(relay: RunningRelay) -> None:
    """Events in (HTTP or Socket Mode), a catch-up on what was missed, then the worker."""
    slack, config = relay.parts.slack, relay.config.slack
    if slack is None or config is None:
        return
    source = relay.config.source
    relay.slack_auth_ok = True
    if config.mode == "socket":
        app_token = config.app_token.read()
        if not app_token:
            raise ConfigLoadError(
                source, [(1, "slack app token not found (app_token_env / app_token_file)")]
            )
        relay.socket = SocketModeReceiver(
            slack.inbox,
            app_token=app_token,
            web_client=slack.connection.web_client,
            interactions=slack.review,
            refusals=relay.parts.recorder,
        )
        await relay.socket.start()
    else:
        secret = config.signing_secret.read()
        if not secret:
            raise ConfigLoadError(
                source,
                [(1, "slack signing secret not found (signing_secret_env / signing_secret_file)")],
            )
        events = build_events_app(
            slack.inbox,
            secret,
            refusals=relay.parts.recorder,
            interactions=slack.review,
            registry=relay.metrics.registry,
        )
        runner = web.AppRunner(events, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        relay.runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        relay.slack_url = f"http://{config.host}:{port}/slack/events"
    with suppress(DeliveryError):
        await slack.catch_up.catch_up()  # before the worker moves any channel's mark
    relay.tasks += [
        asyncio.create_task(slack.inbox.run()),
        asyncio.create_task(slack.catch_up.run(config.catch_up_seconds)),
        asyncio.create_task(_watch_slack_auth(relay, slack.connection.caller)),
    ]
    if slack.review is not None:
        relay.tasks.append(asyncio.create_task(slack.review.board.run()))


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
        "instance": relay.parts.instance,
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
