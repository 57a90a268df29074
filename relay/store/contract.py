"""The store contract the service sees (a Protocol); backends implement it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["ReceiveOutcome", "RefusalRecord", "Store"]


class ReceiveOutcome(StrEnum):
    NEW = "new"  # first time: stored, to be processed
    DUPLICATE = "duplicate"  # the same envelope again (a retry): answer 200, do nothing
    OTHER_PATH = "other_path"  # the same origin message via another relay: 200, not again
    CONFLICT = "conflict"  # a different envelope reusing the id from the same sender


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalRecord:
    """An audit-ready record of a refused envelope: ids and reason codes, never content."""

    at: dt.datetime
    peer: str  # the TLS peer's ORI, or "unknown"
    reason: str
    http_status: int
    issuer: str | None = None
    envelope_id: str | None = None
    digest: str | None = None  # sha256 of the request body


class Store(Protocol):
    def record_received(
        self,
        *,
        issuer: str,
        envelope_id: str,
        digest: str,
        sender: str,
        body: bytes,
        at: dt.datetime,
    ) -> ReceiveOutcome:
        """Store a verified envelope and its dedupe row in one transaction (durable)."""

    def record_refusal(self, record: RefusalRecord) -> None: ...

    def refusals(self) -> list[RefusalRecord]: ...

    def take_event(self, *, event_id: str, team: str, body: bytes, at: dt.datetime) -> bool:
        """Store a Slack event before it is acknowledged; False if already taken."""

    def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]: ...

    def finish_event(self, event_id: str) -> None: ...

    def map_post(self, *, issuer: str, envelope_id: str, channel: str, ts: str) -> None: ...

    def lookup_post(self, *, issuer: str, envelope_id: str) -> tuple[str, str] | None: ...

    def put_blob(self, *, sha256: str, mime: str, data: bytes) -> None: ...

    def get_blob(self, sha256: str) -> tuple[str, bytes] | None: ...

    def last_seen(self, channel: str) -> str | None: ...

    def set_last_seen(self, channel: str, ts: str) -> None: ...

    def ping(self) -> None:
        """Raise if the store cannot be reached."""

    def close(self) -> None: ...
