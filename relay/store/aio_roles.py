"""The store roles with ``async`` methods (:mod:`relay.store.aio`): each one runs the blocking
call of the same name and arguments in the facade's thread pool, off the event loop."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Executor

from relay.core.audit import AuditRecord, ChainedRecord, RawRow
from relay.store.aio_pool import Facade as _Facade
from relay.store.contract import (
    Admin,
    Attempt,
    AuditLog,
    Blobs,
    ClaimedEnvelope,
    ClaimedInbound,
    InboundQueue,
    Inbox,
    Leases,
    Lifecycle,
    Outbox,
    OutboxItem,
    PostMap,
    QueueEntry,
    QueueStat,
    ReceiveOutcome,
    RefusalRecord,
    Refusals,
    RefusalWindow,
    StoredCheckpoint,
)

__all__ = [
    "AsyncAdmin",
    "AsyncAuditLog",
    "AsyncBlobs",
    "AsyncInboundQueue",
    "AsyncInbox",
    "AsyncLeases",
    "AsyncLifecycle",
    "AsyncOutbox",
    "AsyncPostMap",
    "AsyncRefusals",
]


class AsyncInbox(_Facade):
    """The :class:`~relay.store.contract.Inbox` role, awaitable."""

    def __init__(
        self, inbox: Inbox, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._inbox = inbox

    async def take_event(
        self, *, event_id: str, team: str, body: bytes, at: dt.datetime, order_key: str = ""
    ) -> bool:
        return await self.run(
            self._inbox.take_event,
            event_id=event_id,
            team=team,
            body=body,
            at=at,
            order_key=order_key,
        )

    async def claim_events(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[tuple[str, bytes]]:
        return await self.run(
            self._inbox.claim_events, owner=owner, now=now, lease=lease, limit=limit
        )

    async def pending_event_count(self) -> int:
        return await self.run(self._inbox.pending_event_count)

    async def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]:
        return await self.run(self._inbox.pending_events, limit)

    async def finish_event(self, event_id: str) -> None:
        return await self.run(self._inbox.finish_event, event_id)

    async def defer_event(self, event_id: str, *, owner: str, until: float) -> None:
        return await self.run(self._inbox.defer_event, event_id, owner=owner, until=until)

    async def last_seen(self, channel: str) -> str | None:
        return await self.run(self._inbox.last_seen, channel)

    async def set_last_seen(self, channel: str, ts: str) -> None:
        return await self.run(self._inbox.set_last_seen, channel, ts)

    async def event_taken(self, event_id: str) -> bool:
        return await self.run(self._inbox.event_taken, event_id)

    async def taken_posts(self, channel: str, after: str) -> list[tuple[str, str]]:
        return await self.run(self._inbox.taken_posts, channel, after)

    async def move_channel(self, old: str, new: str, *, at: dt.datetime) -> None:
        return await self.run(self._inbox.move_channel, old, new, at=at)

    async def channel_moves(self) -> list[tuple[str, str]]:
        return await self.run(self._inbox.channel_moves)


class AsyncOutbox(_Facade):
    """The :class:`~relay.store.contract.Outbox` role, awaitable."""

    def __init__(
        self, outbox: Outbox, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._outbox = outbox

    async def enqueue(
        self, items: Sequence[OutboxItem], *, now: float, finish_event: str | None = None
    ) -> int:
        return await self.run(self._outbox.enqueue, items, now=now, finish_event=finish_event)

    async def claim_outbox(
        self, partner: str, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedEnvelope]:
        return await self.run(
            self._outbox.claim_outbox, partner, owner=owner, now=now, lease=lease, limit=limit
        )

    async def settle_outbox(
        self, results: Sequence[tuple[int, Attempt]], *, owner: str, now: float
    ) -> None:
        return await self.run(self._outbox.settle_outbox, results, owner=owner, now=now)

    async def next_outbox_due(self, partner: str) -> float | None:
        return await self.run(self._outbox.next_outbox_due, partner)


class AsyncInboundQueue(_Facade):
    """The :class:`~relay.store.contract.InboundQueue` role, awaitable."""

    def __init__(
        self, inbound: InboundQueue, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._inbound = inbound

    async def record_received(
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
        return await self.run(
            self._inbound.record_received,
            issuer=issuer,
            envelope_id=envelope_id,
            digest=digest,
            sender=sender,
            body=body,
            at=at,
            order_key=order_key,
            expires_at=expires_at,
        )

    async def claim_inbound(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[ClaimedInbound]:
        return await self.run(
            self._inbound.claim_inbound, owner=owner, now=now, lease=lease, limit=limit
        )

    async def complete_inbound(
        self, seq: int, *, owner: str, now: float, forwards: Sequence[OutboxItem] = ()
    ) -> None:
        return await self.run(
            self._inbound.complete_inbound, seq, owner=owner, now=now, forwards=forwards
        )

    async def settle_inbound(self, seq: int, attempt: Attempt, *, owner: str, now: float) -> None:
        return await self.run(self._inbound.settle_inbound, seq, attempt, owner=owner, now=now)

    async def next_inbound_due(self) -> float | None:
        return await self.run(self._inbound.next_inbound_due)


class AsyncLeases(_Facade):
    """The :class:`~relay.store.contract.Leases` role, awaitable."""

    def __init__(
        self, leases: Leases, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._leases = leases

    async def renew(self, owner: str, *, until: float) -> int:
        return await self.run(self._leases.renew, owner, until=until)

    async def release(self, owner: str) -> None:
        return await self.run(self._leases.release, owner)

    async def lease_counts(self, now: float) -> dict[tuple[str, str], int]:
        return await self.run(self._leases.lease_counts, now)


class AsyncPostMap(_Facade):
    """The :class:`~relay.store.contract.PostMap` role, awaitable."""

    def __init__(
        self, posts: PostMap, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._posts = posts

    async def map_post(self, *, issuer: str, envelope_id: str, channel: str, ts: str) -> None:
        return await self.run(
            self._posts.map_post, issuer=issuer, envelope_id=envelope_id, channel=channel, ts=ts
        )

    async def forget_post(self, *, issuer: str, envelope_id: str) -> None:
        return await self.run(self._posts.forget_post, issuer=issuer, envelope_id=envelope_id)

    async def lookup_post(self, *, issuer: str, envelope_id: str) -> tuple[str, str] | None:
        return await self.run(self._posts.lookup_post, issuer=issuer, envelope_id=envelope_id)

    async def post_at(self, channel: str, ts: str) -> tuple[str, str] | None:
        return await self.run(self._posts.post_at, channel, ts)


class AsyncBlobs(_Facade):
    """The :class:`~relay.store.contract.Blobs` role, awaitable."""

    def __init__(
        self, blobs: Blobs, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._blobs = blobs

    async def put_blob(self, *, sha256: str, mime: str, data: bytes) -> None:
        return await self.run(self._blobs.put_blob, sha256=sha256, mime=mime, data=data)

    async def get_blob(self, sha256: str) -> tuple[str, bytes] | None:
        return await self.run(self._blobs.get_blob, sha256)


class AsyncAuditLog(_Facade):
    """The :class:`~relay.store.contract.AuditLog` role, awaitable."""

    def __init__(
        self, audit: AuditLog, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._audit = audit

    async def audit_append(self, records: Sequence[AuditRecord]) -> tuple[int, str]:
        return await self.run(self._audit.audit_append, records)

    async def audit_head(self) -> tuple[int, str]:
        return await self.run(self._audit.audit_head)

    async def audit_rows(
        self,
        *,
        after_seq: int = 0,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[ChainedRecord]:
        return await self.run(
            self._audit.audit_rows, after_seq=after_seq, since=since, until=until, limit=limit
        )

    async def audit_raw_rows(self, *, after_seq: int = 0, limit: int = 10000) -> list[RawRow]:
        return await self.run(self._audit.audit_raw_rows, after_seq=after_seq, limit=limit)

    async def audit_anchor(self) -> tuple[int, str] | None:
        return await self.run(self._audit.audit_anchor)

    async def audit_prune(self, before: float, *, now: float) -> int:
        return await self.run(self._audit.audit_prune, before, now=now)

    async def put_checkpoint(
        self, *, issuer: str, seq: int, head: str, at: str, token: str, received_at: str
    ) -> bool:
        return await self.run(
            self._audit.put_checkpoint,
            issuer=issuer,
            seq=seq,
            head=head,
            at=at,
            token=token,
            received_at=received_at,
        )

    async def checkpoints(
        self, issuer: str, *, newest: int | None = None
    ) -> list[StoredCheckpoint]:
        return await self.run(self._audit.checkpoints, issuer, newest=newest)

    async def checkpoints_near(self, issuer: str, seq: int) -> list[StoredCheckpoint]:
        return await self.run(self._audit.checkpoints_near, issuer, seq)

    async def prune_checkpoints(self, before: float, *, now: float) -> int:
        return await self.run(self._audit.prune_checkpoints, before, now=now)


class AsyncRefusals(_Facade):
    """The :class:`~relay.store.contract.Refusals` role, awaitable."""

    def __init__(
        self, refusals: Refusals, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._refusals = refusals

    async def record_refusal(self, record: RefusalRecord) -> None:
        return await self.run(self._refusals.record_refusal, record)

    async def refusals(self, *, limit: int | None = None) -> list[RefusalRecord]:
        return await self.run(self._refusals.refusals, limit=limit)

    async def record_refusals(
        self, records: Sequence[RefusalRecord], windows: Sequence[RefusalWindow], *, keep: int
    ) -> None:
        return await self.run(self._refusals.record_refusals, records, windows, keep=keep)

    async def refusal_windows(self, *, limit: int) -> list[RefusalWindow]:
        return await self.run(self._refusals.refusal_windows, limit=limit)


class AsyncAdmin(_Facade):
    """The :class:`~relay.store.contract.Admin` role, awaitable."""

    def __init__(
        self, admin: Admin, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._admin = admin

    async def queue_entries(
        self, *, state: str = "", peer: str = "", limit: int = 1000
    ) -> list[QueueEntry]:
        return await self.run(self._admin.queue_entries, state=state, peer=peer, limit=limit)

    async def retry_entry(self, entry_id: str, *, now: float) -> bool:
        return await self.run(self._admin.retry_entry, entry_id, now=now)

    async def drop_entry(self, entry_id: str, *, now: float, reason: str) -> bool:
        return await self.run(self._admin.drop_entry, entry_id, now=now, reason=reason)

    async def queue_stats(self) -> list[QueueStat]:
        return await self.run(self._admin.queue_stats)


class AsyncLifecycle(_Facade):
    """The :class:`~relay.store.contract.Lifecycle` role, awaitable."""

    def __init__(
        self, lifecycle: Lifecycle, *, executor: Executor | None = None, workers: int = 1
    ) -> None:
        super().__init__(executor=executor, workers=workers)
        self._lifecycle = lifecycle

    async def ping(self) -> None:
        return await self.run(self._lifecycle.ping)

    async def close(self) -> None:
        """Close the store (in the pool: it may wait for a call in flight), then the pool if
        this facade made it."""
        try:
            await self.run(self._lifecycle.close)
        finally:
            self.shutdown()
