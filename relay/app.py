"""Build a running relay from ``relay.yaml``: policy, keys, store, peer client, listener."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import signal
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from relay.commands.policy import read_policy
from relay.config import ConfigLoadError, RelayConfig
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.federation.client import PeerClient
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.service import RelayService
from relay.store.sqlite import SqliteStore

__all__ = ["RunningRelay", "keyring_from_config", "load_signing_key", "run_forever", "start_relay"]


@dataclass
class RunningRelay:
    config: RelayConfig
    service: RelayService
    client: PeerClient
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.service.drain()
        await self.client.close()
        await self.runner.cleanup()
        self.service.store.close()


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


def _store_path(config: RelayConfig) -> Path:
    url = config.store
    if not url.startswith("sqlite:///"):
        raise ConfigLoadError(
            config.source, [(1, "store: only sqlite:///PATH is supported in this release")]
        )
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else Path(config.source).parent / path


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
        store=SqliteStore(_store_path(config)),
        sender=client,
        fingerprints={fp: o for o, link in config.partners.items() for fp in link.tls_sha256},
        hop_limit=fed.hop_limit,
        skew=fed.clock_skew,
        ttl=fed.envelope_ttl,
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
    return RunningRelay(
        config=config,
        service=service,
        client=client,
        runner=runner,
        url=f"https://{fed.host}:{port}",
    )


async def run_forever(config: RelayConfig) -> None:
    """Run until SIGTERM or SIGINT, then stop taking and finish what is in flight."""
    relay = await start_relay(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.stop()
