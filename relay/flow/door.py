"""The federation listener's port into the relay: envelopes to accept, files to keep,
refusals to record, this relay's public keys, and its readiness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from relay.core import defaults
from relay.core.keys import Keyring, public_jwk
from relay.federation.server import Accepted
from relay.flow.inbound import Inbound
from relay.flow.records import Recorder
from relay.flow.refusals import RefusalLog
from relay.flow.wire import Signer
from relay.store.aio import AsyncStore
from relay.store.contract import BlobHold, BlobHoldings, Lifecycle, RefusalRecord, Refusals

log = structlog.get_logger("relay.flow")


class DoorStore(Refusals, BlobHoldings, Lifecycle, Protocol):
    """What the federation listener's port writes: refusals and pushed files."""


__all__ = ["Door"]

log = structlog.get_logger("relay.flow")


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
        files_quota: tuple[int, int] = (defaults.FILES_QUOTA_BYTES, defaults.FILES_QUOTA_COUNT),
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
        self.files_quota = files_quota  # bytes and files held per partner, at most

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

    async def blob_room(self, sha256: str, size: int, *, peer: str) -> BlobHold:
        """Whether ``peer``'s quota has room for a file of ``size`` bytes (a read)."""
        return await self.aio.blob_room(
            sha256=sha256,
            peer=peer,
            size=size,
            quota_bytes=self.files_quota[0],
            quota_files=self.files_quota[1],
        )

    async def store_blob(self, sha256: str, mime: str, data: bytes, *, peer: str) -> BlobHold:
        """A checked file kept, charged to ``peer`` within its quota (off the event loop)."""
        held = await self.aio.hold_blob(
            sha256=sha256,
            mime=mime,
            data=data,
            peer=peer,
            at=self.clock().timestamp(),
            quota_bytes=self.files_quota[0],
            quota_files=self.files_quota[1],
        )
        if held is BlobHold.STORED:
            self.recorder.metrics.blob_stored(peer, len(data))
        elif held is BlobHold.OVER_QUOTA:
            log.warning("file_quota_exceeded", partner=peer, size=len(data))
        return held
