"""Refusals at the federation listener, cheap and bounded: counted in memory
(:class:`~relay.flow.refusal_tally.RefusalTally`) as they happen, written in batches off the
event loop.

Per peer (a partner's ORI, or ``unknown`` for every certificate nobody pinned) and reason, in
windows of ``federation.refusals.window_seconds``: the ledger gets a ``refusal`` record when
the window opens (the first refusal's envelope id and body digest, when it had them) and one
closing ``refusal`` record with the window's ``count`` when it ends or the relay stops. The
store keeps every window's count (``refusal_windows``) and the last
``federation.refusals.keep`` refusals one by one. Every refusal is counted in
``relay_envelopes_refused_total`` at once. A flood of refused requests costs a counter each
and a write a second, whatever its size.

Replayed envelopes (answered ``duplicate``: nothing new stored) are aggregated the same way, per
peer and window (:meth:`RefusalLog.note_duplicate`): the first duplicate of a window gets the
``receive`` record with outcome ``duplicate`` it always had, and the window closes with one
more (no envelope id, its ``count``). No refusal row or window is kept for them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import structlog

from relay.flow.refusal_tally import UNKNOWN, RefusalTally, Taken
from relay.store.contract import RefusalRecord
from relay.store.contract_refusals import RefusalWindow

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord
    from relay.flow.records import Recorder
    from relay.store.aio import AsyncStore

__all__ = ["FLUSH_EVERY", "RefusalLog"]

FLUSH_EVERY: Final = 1.0  # seconds between two batches written
_DUPLICATE: Final = "duplicate"  # a receive record's outcome, a window's reason

log = structlog.get_logger("relay.flow")


class RefusalLog:
    """The refusals of one relay instance: noted on the loop, written by :meth:`run` (and
    :meth:`flush`, which the relay's stop calls with ``closing=True``)."""

    def __init__(
        self,
        *,
        agency: str,
        store: AsyncStore,
        recorder: Recorder,
        clock: Callable[[], dt.datetime],
        window: float,
        keep: int,
        every: float = FLUSH_EVERY,
    ) -> None:
        self.agency = agency
        self.aio = store
        self.recorder = recorder
        self.clock = clock
        self.keep = keep
        self.every = every
        self.tally = RefusalTally(window=dt.timedelta(seconds=window), keep=keep)
        self.duplicates = RefusalTally(window=dt.timedelta(seconds=window), keep=0)
        self._duplicates_opened: list[AuditRecord] = []  # first duplicates, not yet written

    def note(self, record: RefusalRecord) -> None:
        """One refusal: counted now, written with the next batch (no I/O here)."""
        self.recorder.metrics.envelope_refused(
            None if record.peer == UNKNOWN else record.peer, record.reason
        )
        if self.tally.note(record, self.clock()):
            log.info(
                "refusals_opened",
                partner=record.peer,
                reason=record.reason,
                status=record.http_status,
            )

    def note_duplicate(self, peer: str, **fields: object) -> None:
        """An envelope received again (``fields``: its ``receive`` record): counted; the first
        of its peer's window gets the record, written with the next batch (no I/O here)."""
        now = self.clock()
        first = RefusalRecord(at=now, peer=peer, reason=_DUPLICATE, http_status=200)
        if self.duplicates.note(first, now):
            try:
                self._duplicates_opened += self.recorder.entry("receive", **fields)
            except ValueError:  # an id that fits no record: the window's count still closes
                return

    async def run(self) -> None:
        """Write a batch every ``every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.every)
            await self.flush()

    async def flush(self, *, closing: bool = False) -> int:
        """Write what was noted since the last batch (and close every window when
        ``closing``); the ledger records written."""
        now = self.clock()
        taken = self.tally.take(now, closing=closing)
        repeats = self.duplicates.take(now, closing=closing)
        records = self._duplicate_records(repeats.closed)
        if not taken and not records:
            return 0
        records = self._records(taken) + records
        store, recorder = self.aio.store, self.recorder

        def write() -> None:
            try:
                if taken:
                    store.record_refusals(taken.records, taken.windows, keep=self.keep)
            except Exception:  # noqa: BLE001 - counts lost, never the relay: logged
                log.warning(
                    "refusals_unwritten", windows=len(taken.windows), refusals=len(taken.records)
                )
            try:
                recorder.append(records)
            except Exception:  # noqa: BLE001 - counted and logged by the ledger
                return

        await self.aio.run(write)
        for w in taken.closed:
            log.info("refusals_closed", partner=w.peer, reason=w.reason, count=w.count)
        return len(records)

    def _duplicate_records(self, closed: tuple[RefusalWindow, ...]) -> list[AuditRecord]:
        """The first duplicates noted since the last batch, then a ``receive`` record with
        outcome ``duplicate`` and the count for each window of duplicates that closed."""
        out, self._duplicates_opened = self._duplicates_opened, []
        for w in closed:
            out += self.recorder.entry(
                "receive",
                source=None if w.peer == UNKNOWN else w.peer,
                destination=self.agency,
                outcome=_DUPLICATE,
                count=w.count,
            )
        return out

    def _records(self, taken: Taken) -> list[AuditRecord]:
        """An opening record per window opened, then a closing one (with the count) per
        window closed: ids, codes and counts only."""
        out: list[AuditRecord] = []
        for r in taken.opened:
            fields = {
                "source": None if r.peer == UNKNOWN else r.peer,
                "destination": self.agency,
                "envelope_id": r.envelope_id,
                "digest": r.digest,
                "outcome": str(r.reason),
            }
            try:
                out += self.recorder.entry("refusal", **fields)
            except ValueError:  # a partner's envelope id that fits no record: left out
                out += self.recorder.entry("refusal", **{**fields, "envelope_id": None})
        for w in taken.closed:
            out += self.recorder.entry(
                "refusal",
                source=None if w.peer == UNKNOWN else w.peer,
                destination=self.agency,
                outcome=w.reason,
                count=w.count,
            )
        return out
