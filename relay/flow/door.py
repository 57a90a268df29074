"""The federation listener's port into the relay: envelopes to accept, files to keep,
refusals to record, this relay's public keys, and its readiness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from relay.core.keys import Keyring, public_jwk
from relay.federation.server import Accepted
from relay.flow.inbound import Inbound
from relay.flow.records import Recorder
from relay.flow.refusals import RefusalLog
from relay.flow.wire import Signer
from relay.store.aio import AsyncStore
from relay.store.contract import Blobs, Lifecycle, RefusalRecord, Refusals


class DoorStore(Refusals, Blobs, Lifecycle, Protocol):
    """What the federation listener's port writes: refusals and pushed files."""


__all__ = ["Door"]


class Door:
    def __init__(
        self,
        *,
        agency: str,
        inbound: Inbound,
        store: AsyncStore,
        recorder: Recorder,
        signer: Signer,
        keyring: Keyring,
        fingerprints: dict[str, str],
        clock: Callable[[], dt.datetime],
        refusals: RefusalLog,
        receipt: Callable[[Accepted], str | None] = lambda accepted: None,
    ) -> None:
        self.agency = agency
        self.inbound = inbound
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.recorder = recorder
        self.signer = signer
        self.keyring = keyring
        self._fingerprints = fingerprints  # certificate sha256 hex -> partner ORI
        self.clock = clock
        self.refusals = refusals  # counted in memory, written in batches
        self._receipt = receipt  # the signed "accepted" receipt answered with an envelope

    async def handle_peer_envelope(
        self, body: bytes, *, peer: str, data: object | None = None
    ) -> Accepted:
        return await self.inbound.accept(body, peer=peer, data=data)

    def receipt(self, accepted: Accepted) -> str | None:
        return self._receipt(accepted)

    def partner_for_fingerprint(self, fingerprint: str) -> str | None:
        return self._fingerprints.get(fingerprint)

    def public_jwks(self) -> dict[str, Any]:
        public = self.signer.key.public_key().public_bytes_raw()
        return {"keys": [public_jwk(public, kid=self.signer.kid)]}

    async def readiness(self) -> dict[str, bool]:
        try:
            await self.aio.run(self.store.ping)
            store_ok = True
        except Exception:  # noqa: BLE001 - any failure means not ready
            store_ok = False
        now = self.clock()
        keys_ok = any(
            not k.revoked and k.not_before <= now and (k.not_after is None or now < k.not_after)
            for k in self.keyring.keys
        )
        return {"store": store_ok, "policy": True, "partner_keys": keys_ok}

    async def record_refusal(self, record: RefusalRecord) -> None:
        """Counted now, written with the next batch of refusals (off the event loop)."""
        self.refusals.note(record)

    async def store_blob(self, sha256: str, mime: str, data: bytes) -> None:
        await self.aio.run(lambda: self.store.put_blob(sha256=sha256, mime=mime, data=data))
