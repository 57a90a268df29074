"""The file sweep: photos deleted once no envelope needs them.

A file is kept while an envelope naming it is still to be worked here (an inbound item to
post or pass on, an outbox row to send or retry) and deleted at the next sweep once every one
of them is settled or expired; a file no envelope ever named goes after the grace period
(``federation.files.orphan_grace_seconds``). The rules are the store's
(:mod:`relay.store.contract_blobs`); this loop runs them every
``federation.files.sweep_interval_seconds`` in bounded batches, off the event loop, and sets the
``relay_blobs_held*`` gauges from what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import structlog

from relay.core import defaults
from relay.flow.records import Recorder
from relay.store.aio import AsyncStore
from relay.store.contract import BlobSweep

__all__ = ["FileSweep"]

log = structlog.get_logger("relay.flow")

_ROUNDS: Final = 10  # batches in one sweep at most; the rest waits for the next one


class FileSweep:
    def __init__(
        self,
        *,
        store: AsyncStore,
        recorder: Recorder,
        clock: Callable[[], float],
        grace: float = defaults.FILES_ORPHAN_GRACE,
        interval: float = defaults.FILES_SWEEP_INTERVAL,
        batch: int = defaults.FILES_SWEEP_BATCH,
    ) -> None:
        self.aio = store  # every store call off the event loop
        self.recorder = recorder
        self.clock = clock
        self.grace = grace
        self.interval = interval
        self.batch = batch

    async def sweep(self) -> BlobSweep:
        """Delete what nothing needs (at most ``_ROUNDS`` batches), then set the gauges."""
        deleted = size = dropped = 0
        for _ in range(_ROUNDS):
            got = await self.aio.sweep_blobs(now=self.clock(), grace=self.grace, limit=self.batch)
            deleted, size, dropped = (
                deleted + got.deleted,
                size + got.size,
                dropped + got.names_dropped,
            )
            if got.deleted < self.batch and got.names_dropped < self.batch:
                break
        self.recorder.metrics.blobs_held(await self.aio.blob_usage())
        if deleted or dropped:
            log.info("files_swept", deleted=deleted, size=size, names=dropped)
        return BlobSweep(deleted=deleted, size=size, names_dropped=dropped)

    async def run(self) -> None:
        """Sweep at once, then every ``interval`` seconds, until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the store is away: the next sweep tries again
                self.recorder.problem("store", "file_sweep", "store_unavailable")
            await asyncio.sleep(self.interval)
