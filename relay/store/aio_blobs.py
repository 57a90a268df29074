"""The :class:`~relay.store.contract.BlobHoldings` role, awaitable (see :mod:`relay.store.aio`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from relay.store.aio_pool import Facade
from relay.store.contract_blobs import BlobHold, BlobHoldings, BlobQueue, BlobSweep, BlobUsage

__all__ = ["AsyncBlobHoldings"]


class AsyncBlobHoldings(Facade):
    """The :class:`~relay.store.contract.BlobHoldings` role, awaitable."""

    def __init__(
        self, holdings: BlobHoldings, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._holdings = holdings

    async def hold_blob(
        self,
        *,
        sha256: str,
        mime: str,
        data: bytes,
        peer: str,
        at: float,
        quota_bytes: int,
        quota_files: int,
    ) -> BlobHold:
        return await self.run(
            self._holdings.hold_blob,
            sha256=sha256,
            mime=mime,
            data=data,
            peer=peer,
            at=at,
            quota_bytes=quota_bytes,
            quota_files=quota_files,
        )

    async def blob_room(
        self, *, sha256: str, peer: str, size: int, quota_bytes: int, quota_files: int
    ) -> BlobHold:
        return await self.run(
            self._holdings.blob_room,
            sha256=sha256,
            peer=peer,
            size=size,
            quota_bytes=quota_bytes,
            quota_files=quota_files,
        )

    async def name_blobs(
        self,
        *,
        queue: BlobQueue,
        party: str,
        envelope_id: str,
        sha256s: Sequence[str],
        at: float,
    ) -> None:
        return await self.run(
            self._holdings.name_blobs,
            queue=queue,
            party=party,
            envelope_id=envelope_id,
            sha256s=sha256s,
            at=at,
        )

    async def sweep_blobs(self, *, now: float, grace: float, limit: int) -> BlobSweep:
        return await self.run(self._holdings.sweep_blobs, now=now, grace=grace, limit=limit)

    async def blob_usage(self) -> list[BlobUsage]:
        return await self.run(self._holdings.blob_usage)
