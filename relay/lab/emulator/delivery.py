"""Event delivery: one record per event, retried like Slack (3 retries, same ``event_id``).

:class:`Dispatcher` is the emulator's :class:`~relay.lab.emulator.state.EventSink`. It wraps each
event in an ``event_callback`` envelope and hands attempts to a transport: signed HTTP POSTs
(:class:`relay.lab.emulator.webhook.HttpTransport`) or Socket Mode
(:class:`relay.lab.emulator.socket_mode.SocketHub`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

from relay.lab.emulator.events import event_callback
from relay.lab.emulator.model import Json, Workspace
from relay.lab.emulator.spec import EventsApi, SocketMode, Timings
from relay.lab.emulator.state import EmulatorState

__all__ = [
    "MAX_RETRIES",
    "Attempt",
    "DeliveryRecord",
    "DeliveryState",
    "DeliveryStats",
    "Dispatcher",
    "Transport",
]

MAX_RETRIES: Final = 3


class DeliveryState(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    FAILED = "failed"
    """Slack gave up after the last retry (or the receiver sent ``X-Slack-No-Retry: 1``)."""
    UNDELIVERABLE = "undeliverable"
    """The workspace had no event target when the event happened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    retry_num: int
    ok: bool
    reason: str = ""
    """Why it failed, in ``X-Slack-Retry-Reason`` terms (``http_error``, ``http_timeout``...)."""
    status: int | None = None
    no_retry: bool = False


@dataclass(slots=True, kw_only=True)
class DeliveryRecord:
    team_id: str
    event_id: str
    payload: Json
    attempts: list[Attempt] = field(default_factory=list)
    state: DeliveryState = DeliveryState.PENDING

    @property
    def event(self) -> Json:
        inner: Json = self.payload["event"]
        return inner


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryStats:
    events: int
    attempts: int
    retries: int
    acked: int
    failed: int
    pending: int


class Transport(Protocol):
    async def attempt(
        self, ws: Workspace, record: DeliveryRecord, retry_num: int, reason: str
    ) -> Attempt: ...


class Dispatcher:
    def __init__(
        self, state: EmulatorState, timings: Timings, *, http: Transport, socket: Transport
    ) -> None:
        self._state = state
        self._timings = timings
        self._http = http
        self._socket = socket
        self._tasks: set[asyncio.Task[None]] = set()
        self.records: dict[str, list[DeliveryRecord]] = {}

    def emit(self, ws: Workspace, event: Json) -> None:
        event_id = self._state.new_id("Ev")
        payload = event_callback(ws, event, event_id=event_id, event_time=self._state.now())
        record = DeliveryRecord(team_id=ws.team_id, event_id=event_id, payload=payload)
        self.records.setdefault(ws.team_id, []).append(record)
        if ws.delivery is None:
            record.state = DeliveryState.UNDELIVERABLE
        else:
            task = asyncio.get_running_loop().create_task(self._deliver(ws, record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._state.changes.notify()

    def _transport(self, ws: Workspace) -> Transport | None:
        match ws.delivery:
            case EventsApi():
                return self._http
            case SocketMode():
                return self._socket
            case None:
                return None

    async def _deliver(self, ws: Workspace, record: DeliveryRecord) -> None:
        reason = ""
        for retry_num in range(MAX_RETRIES + 1):
            if retry_num:
                await asyncio.sleep(self._timings.retry_delays[retry_num - 1])
            transport = self._transport(ws)
            if transport is None:
                attempt = Attempt(retry_num=retry_num, ok=False, reason="connection_failed")
            else:
                attempt = await transport.attempt(ws, record, retry_num, reason)
            record.attempts.append(attempt)
            if attempt.ok:
                record.state = DeliveryState.ACKED
                self._state.changes.notify()
                return
            self._state.changes.notify()
            reason = attempt.reason
            if attempt.no_retry:
                break
        record.state = DeliveryState.FAILED
        self._state.changes.notify()

    def stats(self, team_id: str) -> DeliveryStats:
        records = self.records.get(team_id, [])
        attempts = sum(len(r.attempts) for r in records)
        return DeliveryStats(
            events=len(records),
            attempts=attempts,
            retries=sum(max(len(r.attempts) - 1, 0) for r in records),
            acked=sum(r.state is DeliveryState.ACKED for r in records),
            failed=sum(r.state is DeliveryState.FAILED for r in records),
            pending=sum(r.state is DeliveryState.PENDING for r in records),
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
