"""The store contract the relay sees: role protocols, and ``Store``, their union.

Backends implement ``Store``; a consumer takes only the roles it uses (the Slack inbox an
``Inbox``, ``PostMap`` and ``Blobs``, delivery an ``Outbox`` and ``InboundQueue``...). Each
method is one transaction. :mod:`relay.store.aio` offers the same roles with ``async``
methods that run off the event loop."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

from relay.core.audit import AuditRecord, ChainedRecord, RawRow
from relay.core.backoff import Attempt
from relay.core.reasons import Reason
from relay.store.contract_blobs import BlobHold, BlobHoldings, BlobSweep, BlobUsage
from relay.store.contract_posts import Blobs, PostCopy, PostMap
from relay.store.contract_receipts import OwedReceipt, ReceiptRow, Receipts
from relay.store.contract_refusals import RefusalWindow
from relay.store.contract_reviews import ReviewRow, Reviews

__all__ = [
    "ROLES",
    "Admin",
    "Attempt",
    "AuditLog",
    "BlobHold",
    "BlobHoldings",
    "BlobSweep",
    "BlobUsage",
    "Blobs",
    "ClaimedEnvelope",
    "ClaimedInbound",
    "InboundQueue",
    "Inbox",
    "Leases",
    "Lifecycle",
    "Outbox",
    "OutboxItem",
    "OwedReceipt",
    "PostCopy",
    "PostMap",
    "QueueEntry",
    "QueueStat",
    "ReceiptRow",
    "Receipts",
    "ReceiveOutcome",
    "RefusalRecord",
    "RefusalWindow",
    "Refusals",
    "ReviewRow",
    "Reviews",
    "Store",
    "StoredCheckpoint",
    "role_methods",
]


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
    reason: Reason | str  # a Reason; read back, a code an older relay may have written
    http_status: int
    issuer: str | None = None
    envelope_id: str | None = None
    digest: str | None = None  # sha256 of the request body

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", Reason.parse(self.reason) or self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxItem:
    """A signed envelope for one partner, with the files to push before it."""

    partner: str
    envelope_id: str
    order_key: str  # the thread's first message: an edit never overtakes its post
    body: bytes  # the envelope on the wire (JSON)
    blobs: tuple[tuple[str, str], ...] = ()  # (sha256, mime) of files the partner needs
    expires_at: float  # POSIX seconds: never delivered after this (an expired BOLO)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedEnvelope:
    """An outbox row leased to one instance for one delivery attempt."""

    seq: int
    partner: str
    envelope_id: str
    body: bytes
    blobs: tuple[tuple[str, str], ...]
    created_at: float
    expires_at: float
    attempts: int  # this attempt included


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedInbound:
    """An accepted envelope leased to one instance to judge, post and pass on."""

    seq: int
    issuer: str
    envelope_id: str
    sender: str
    body: bytes
    created_at: float
    expires_at: float
    attempts: int  # this attempt included: more than 1 means an earlier one may have posted


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    """One queued item as operators see it: ids, counts, times and reason codes only."""

    id: str  # "out-<seq>" or "in-<seq>"
    queue: str  # "outbox" or "inbound"
    peer: str  # partner (outbox) or sender (inbound)
    envelope_id: str
    state: str
    attempts: int
    created_at: float
    next_at: float
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStat:
    queue: str
    peer: str
    state: str
    count: int
    oldest: float  # created_at of the oldest item


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCheckpoint:
    """A signed audit checkpoint kept by this relay: its own, or a partner's."""

    issuer: str  # the agency that signed it
    seq: int
    head: str
    at: str  # RFC 3339, as signed
    token: str  # the compact JWS
    received_at: str  # RFC 3339, when it was kept


class Inbox(Protocol):
    """The Slack events taken before they are acknowledged, and the catch-up marks."""

    def take_event(
        self, *, event_id: str, team: str, body: bytes, at: dt.datetime, order_key: str = ""
    ) -> bool:
        """Store a Slack event before it is acknowledged; False if already taken."""

    def claim_events(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[tuple[str, bytes]]:
        """Lease pending events, oldest first, at most one per order key in flight."""

    def pending_event_count(self) -> int: ...

    def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]: ...

    def finish_event(self, event_id: str) -> None: ...
    def event_taken(self, event_id: str) -> bool: ...  # taken before (done or not)

    def defer_event(self, event_id: str, *, owner: str, until: float) -> None:
        """Give back ``owner``'s lease on an event that failed for now; nobody takes it (nor
        anything after it in its thread) before ``until``."""

    def last_seen(self, channel: str) -> str | None: ...

    def set_last_seen(self, channel: str, ts: str) -> None: ...

    def taken_posts(self, channel: str, after: str) -> list[tuple[str, str]]:
        """``(ts, thread ts)`` of the messages of ``channel`` newer than ``after`` whose
        events were taken (the catch-up looks for the ones deleted meanwhile)."""

    def move_channel(self, old: str, new: str, *, at: dt.datetime) -> None:
        """Slack moved a channel to a new id: kept in order, its last-seen mark with it."""

    def channel_moves(self) -> list[tuple[str, str]]:
        """Every channel move kept, oldest first: (old id, new id)."""


class Outbox(Protocol):
    """Signed envelopes queued per partner until delivered."""

    def enqueue(
        self, items: Sequence[OutboxItem], *, now: float, finish_event: str | None = None
    ) -> int:
        """Queue envelopes (one per partner and id; a second copy is ignored) and, in the same
        transaction, mark the Slack event they came from processed. Returns rows added."""

    def claim_outbox(
        self, partner: str, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedEnvelope]: ...

    def settle_outbox(
        self, results: Sequence[tuple[int, Attempt]], *, owner: str, now: float
    ) -> None:
        """Record attempts' outcomes (only rows this owner still leases)."""

    def next_outbox_due(self, partner: str) -> float | None: ...


class InboundQueue(Protocol):
    """Verified envelopes from partners: stored, deduped, then judged and posted."""

    def record_received(
        self,
        *,
        issuer: str,
        envelope_id: str,
        digest: str,
        sender: str,
        body: bytes,
        at: dt.datetime,
        order_key: str = "",
        expires_at: float | None = None,
    ) -> ReceiveOutcome:
        """Store a verified envelope, its dedupe row and (when new) its inbound queue row in
        one transaction (durable)."""

    def claim_inbound(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedInbound]: ...

    def complete_inbound(
        self, seq: int, *, owner: str, now: float, forwards: Sequence[OutboxItem] = ()
    ) -> None:
        """Queue the envelopes passed on and mark the inbound item done, in one transaction."""

    def settle_inbound(self, seq: int, attempt: Attempt, *, owner: str, now: float) -> None: ...

    def next_inbound_due(self) -> float | None: ...


class Leases(Protocol):
    """The leases an instance holds on the inbox, the outbox and the inbound queue."""

    def renew(self, owner: str, *, until: float) -> int:
        """Extend every lease this owner holds to ``until`` (a heartbeat while it works)."""

    def release(self, owner: str) -> None:
        """Give back every lease this owner holds (graceful shutdown)."""

    def lease_counts(self, now: float) -> dict[tuple[str, str], int]:
        """Pending items whose lease is still held at ``now``, by ``(queue, peer)``: queue
        ``outbox`` (peer the partner) or ``inbound`` (peer the sender); none is no key."""


class AuditLog(Protocol):
    """The hash-chained audit ledger and the signed checkpoints of it."""

    def audit_append(self, records: Sequence[AuditRecord]) -> tuple[int, str]:
        """Chain ``records`` after the head (locked: one chain for every instance) in one
        transaction, or the caller's savepoint; returns the new head ``(seq, hash)``."""

    def audit_head(self) -> tuple[int, str]: ...

    def audit_rows(
        self,
        *,
        after_seq: int = 0,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[ChainedRecord]:
        """Records after ``after_seq`` in sequence order, ``since <= at < until`` (POSIX)."""

    def audit_raw_rows(self, *, after_seq: int = 0, limit: int = 10_000) -> list[RawRow]:
        """Rows as stored, record JSON unparsed (for verification)."""

    def audit_anchor(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the last pruned record; None if nothing was ever pruned."""

    def audit_prune(self, before: float, *, now: float) -> int:
        """Delete the records older than ``before`` (a prefix of the chain), keep the last
        one's ``(seq, hash)`` as the anchor; ``ValueError`` if ``before`` is within 365 days
        of ``now``. Returns the records deleted."""

    def put_checkpoint(
        self, *, issuer: str, seq: int, head: str, at: str, token: str, received_at: str
    ) -> bool:
        """Keep a checkpoint (own or a partner's); False if it was kept already."""

    def checkpoints(self, issuer: str, *, newest: int | None = None) -> list[StoredCheckpoint]:
        """The checkpoints kept of ``issuer``, by seq; with ``newest``, only the last that
        many (by seq)."""

    def checkpoints_near(self, issuer: str, seq: int) -> list[StoredCheckpoint]:
        """What a new checkpoint of ``issuer`` at ``seq`` is compared with, by seq: the kept
        ones at ``seq``, at the nearest seq below and above it, and at the highest seq (index
        lookups, never a scan of every kept checkpoint)."""

    def prune_checkpoints(self, before: float, *, now: float) -> int:
        """Delete the checkpoints (own and partners') signed before ``before`` (POSIX), except
        those at each issuer's highest seq; ``ValueError`` if ``before`` is within 365 days of
        ``now``. Returns the checkpoints deleted."""


class Refusals(Protocol):
    """Refused envelopes: ids and reason codes, never content."""

    def record_refusal(self, record: RefusalRecord) -> None: ...

    def refusals(self, *, limit: int | None = None) -> list[RefusalRecord]:
        """The refusals in the order recorded; with ``limit``, only the last ``limit``."""

    def record_refusals(
        self, records: Sequence[RefusalRecord], windows: Sequence[RefusalWindow], *, keep: int
    ) -> None:
        """One transaction: ``records`` added, then only the last ``keep`` refusals kept;
        ``windows`` written (a window already kept, same peer, reason and start, updated)."""

    def refusal_windows(self, *, limit: int) -> list[RefusalWindow]:
        """The last ``limit`` windows by start, newest first."""


class Admin(Protocol):
    """The queues as operators see them (``relay queue``, ``relay status``, metrics)."""

    def queue_entries(
        self, *, state: str = "", peer: str = "", limit: int = 1000
    ) -> list[QueueEntry]: ...

    def retry_entry(self, entry_id: str, *, now: float) -> bool: ...

    def drop_entry(self, entry_id: str, *, now: float, reason: str) -> bool: ...

    def queue_stats(self) -> list[QueueStat]: ...


class Lifecycle(Protocol):
    def ping(self) -> None:
        """Raise if the store cannot be reached."""

    def close(self) -> None: ...


class Store(
    Inbox,
    Outbox,
    InboundQueue,
    Leases,
    PostMap,
    Blobs,
    BlobHoldings,
    AuditLog,
    Refusals,
    Receipts,
    Reviews,
    Admin,
    Lifecycle,
    Protocol,
):
    """Every role: what a backend implements. A consumer takes only the roles it uses."""


# The roles, in the order above; each method of Store belongs to exactly one of them.
ROLES: Final[tuple[type[Any], ...]] = (
    Inbox,
    Outbox,
    InboundQueue,
    Leases,
    PostMap,
    Blobs,
    BlobHoldings,
    AuditLog,
    Refusals,
    Receipts,
    Reviews,
    Admin,
    Lifecycle,
)


def role_methods(role: type[Any]) -> tuple[str, ...]:
    """The public methods a role protocol declares itself (not its bases'), in order."""
    return tuple(
        name for name, value in vars(role).items() if not name.startswith("_") and callable(value)
    )
