"""The dissemination ledger: audit records chained in the store, signed checkpoints.

:class:`Ledger` is the adapter between the pure chain (:mod:`relay.core.audit`) and the store.
``append`` is synchronous so it can run inside a store write (``writer.run(lambda:
(ledger.append(records), store.enqueue(...)))``): the records and the step they record commit
together or not at all. A failed append raises :class:`AuditWriteError` and sets ``failing``
(and calls ``on_failure``): the relay stops forwarding until an append succeeds again
(CJIS AU-5: an audit failure must not go unnoticed; the relay fails closed).

Checkpoints: ``make_checkpoint`` signs the current head with the agency key (sent to partners
by the flow); ``receive_checkpoint`` verifies a partner's, keeps it and says whether it
contradicts one kept before (a fork at the same seq, or a history that went backwards).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.audit import (
    AuditEvent,
    AuditRecord,
    parse_rfc3339,
    rfc3339,
    sign_checkpoint,
    verify_checkpoint,
)
from relay.core.defaults import AUDIT_RETENTION_DAYS
from relay.core.keys import Keyring
from relay.core.reasons import Reason
from relay.errors import AuditWriteError, CheckpointError
from relay.store.contract import Store

__all__ = [
    "RETENTION_FLOOR_DAYS",
    "SERVED_CHECKPOINTS",
    "AuditWriteError",
    "CheckpointError",
    "Ledger",
]

RETENTION_FLOOR_DAYS: Final = (
    AUDIT_RETENTION_DAYS  # CJIS AU-11 / 5.4.6: audit records are kept a year at least
)
# Two checkpoints whose (seq, time) order disagrees by more than this are a conflict (several
# instances of one agency sign with their own clocks; a rolled-back history shows much more).
ORDER_SLACK: Final = dt.timedelta(seconds=60)
# ``GET /v1/audit/checkpoints`` answers at most this many, the newest (a year at the default
# 300 s interval is ~105,000).
SERVED_CHECKPOINTS: Final = 1000


class Ledger:
    def __init__(
        self,
        store: Store,
        *,
        agency: str,
        key: Ed25519PrivateKey,
        kid: str,
        keyring: Keyring,
        clock: Callable[[], dt.datetime],
        retention_days: int = RETENTION_FLOOR_DAYS,
        on_failure: Callable[[], None] | None = None,
        on_append: Callable[[int], None] | None = None,
    ) -> None:
        if retention_days < RETENTION_FLOOR_DAYS:
            raise ValueError("audit retention_days must be at least 365 (CJIS AU-11)")
        if not kid.startswith(f"{agency}#"):
            raise ValueError("kid must name the agency")
        self.store = store
        self.agency = agency
        self.kid = kid
        self.keyring = keyring
        self.retention_days = retention_days
        self._key = key
        self._clock = clock
        self._on_failure = on_failure
        self._on_append = on_append
        self.failing = False
        self.head: tuple[int, str] | None = None  # the last head this ledger wrote

    def entry(self, event: AuditEvent | str, **fields: Any) -> AuditRecord:
        """A record of ``event`` now, by this relay; ``ValueError`` names a bad field."""
        return AuditRecord(
            event=event,  # type: ignore[arg-type]  # checked: ValueError("event")
            at=rfc3339(self._clock()),
            relay=self.agency,
            **fields,
        )

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Chain ``records`` durably (in the caller's transaction when inside a store write).
        Raises :class:`AuditWriteError` on any store failure."""
        if not records:
            return
        try:
            head = self.store.audit_append(records)
        except Exception:  # noqa: BLE001 - any store failure stops forwarding
            self._failed()
            raise AuditWriteError() from None
        self.failing = False
        self.head = head
        if self._on_append is not None:
            self._on_append(head[0])

    def mark_failed(self) -> None:
        """A transaction that held audit records failed after ``append`` returned (its
        commit): the records are not kept, so forwarding stops as for a failed append."""
        self._failed()

    def _failed(self) -> None:
        self.failing = True
        if self._on_failure is not None:
            with contextlib.suppress(Exception):  # a broken callback must not hide the error
                self._on_failure()

    @contextlib.contextmanager
    def _recording(self) -> Iterator[None]:
        """Several store calls in one transaction whose failure, its commit included, is an
        audit write failure (forwarding stops until a write succeeds)."""
        try:
            with self._together():
                yield
        except AuditWriteError:
            raise
        except Exception:  # noqa: BLE001 - the group's commit failed
            self._failed()
            raise AuditWriteError() from None

    @contextlib.contextmanager
    def _together(self) -> Iterator[None]:
        """Several store calls in one transaction (a group, when the store has one)."""
        group = getattr(self.store, "group", None)
        if group is None:
            yield
            return
        with group():
            yield

    # -- checkpoints ---------------------------------------------------------------------------
    def make_checkpoint(self) -> str:
        """Sign the current head; keep it as this relay's own checkpoint and record it
        (``checkpoint``: ``count`` is the seq, ``digest`` the head). Returns the token."""
        now = self._clock()
        with self._recording():
            seq, head = self.store.audit_head()
            at = rfc3339(now)
            token = sign_checkpoint(
                self._key, self.kid, agency=self.agency, seq=seq, head=head, at=at
            )
            self.store.put_checkpoint(
                issuer=self.agency, seq=seq, head=head, at=at, token=token, received_at=at
            )
            record = self.entry(
                AuditEvent.CHECKPOINT, outcome="signed", kid=self.kid, count=seq, digest=head
            )
            self.append([record])
        return token

    def receive_checkpoint(self, partner: str, token: str) -> str:
        """Verify and keep ``partner``'s checkpoint: ``"stored"`` (new, consistent),
        ``"stale"`` (one already kept, or an older one arriving late) or ``"conflict"``
        (another head at a seq already kept: a fork; or a history that went backwards).
        ``CheckpointError`` (with a code) if it does not verify or is not ``partner``'s."""
        now = self._clock()
        checkpoint = verify_checkpoint(token, self.keyring, now)
        if checkpoint.agency != partner:
            raise CheckpointError("checkpoint is not the peer's", code=Reason.ISSUER_MISMATCH)
        signed_at = parse_rfc3339(checkpoint.at)
        outcome, why = "stored", "stored"
        # Not every kept checkpoint: those at this seq, its nearest neighbours and the newest
        # (kept checkpoints are ordered in seq and time, so the neighbours bound the rest).
        kept = self.store.checkpoints_near(partner, checkpoint.seq)
        for old in kept:
            if old.seq == checkpoint.seq and old.head == checkpoint.head:
                outcome, why = "stale", "duplicate"
        for old in kept:
            old_at = parse_rfc3339(old.at)
            if old.seq == checkpoint.seq and old.head != checkpoint.head:
                outcome, why = "conflict", "fork"
                break
            if (old.seq > checkpoint.seq and signed_at - old_at > ORDER_SLACK) or (
                old.seq < checkpoint.seq and old_at - signed_at > ORDER_SLACK
            ):
                outcome, why = "conflict", "rollback"
                break
        if outcome == "stored" and kept and checkpoint.seq < max(k.seq for k in kept):
            outcome, why = "stale", "late"
        event = AuditEvent.CHECKPOINT_RECEIVED
        if outcome == "conflict":
            event = AuditEvent.CHECKPOINT_CONFLICT
        with self._recording():
            self.store.put_checkpoint(
                issuer=partner,
                seq=checkpoint.seq,
                head=checkpoint.head,
                at=checkpoint.at,
                token=token,
                received_at=rfc3339(now),
            )
            record = self.entry(
                event,
                outcome=why,
                source=partner,
                kid=checkpoint.kid,
                count=checkpoint.seq,
                digest=checkpoint.head,
            )
            self.append([record])
        return outcome

    def kept_tokens(self, issuer: str) -> list[str]:
        """The newest :data:`SERVED_CHECKPOINTS` checkpoint tokens kept of ``issuer``, oldest
        first (what a partner may fetch of itself: ``GET /v1/audit/checkpoints``)."""
        return [c.token for c in self.store.checkpoints(issuer, newest=SERVED_CHECKPOINTS)]

    # -- retention -----------------------------------------------------------------------------
    def prune(self, now: dt.datetime) -> int:
        """Delete records older than the retention period (never less than 365 days) and
        record it (``retention``, ``count`` records); the chain stays verifiable from the
        anchor the store keeps. Checkpoints (own and partners') signed before the same cut-off
        go too, except each issuer's newest (``retention``, outcome ``checkpoints_pruned``,
        recorded when there were any). Returns the records deleted."""
        before = now - dt.timedelta(days=self.retention_days)
        with self._recording():
            deleted = self.store.audit_prune(before.timestamp(), now=now.timestamp())
            dropped = self.store.prune_checkpoints(before.timestamp(), now=now.timestamp())
            records = [self.entry(AuditEvent.RETENTION, outcome="pruned", count=deleted)]
            if dropped:
                records.append(
                    self.entry(AuditEvent.RETENTION, outcome="checkpoints_pruned", count=dropped)
                )
            self.append(records)
        return deleted
