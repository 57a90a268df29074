"""The one place that turns what happened into audit records, metrics and log lines.

The flow steps build facts (a decision for a partner, an envelope signed, a copy posted) and
hand them here: :class:`Recorder` makes the ledger records (ids, digests, rule ids and codes,
never text), counts them, and gates forwarding on the ledger taking writes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord
    from relay.ledger import Ledger
    from relay.metrics import RelayMetrics
    from relay.store.aio import AsyncStore

__all__ = ["Problem", "Recorder"]

log = structlog.get_logger("relay.flow")
# Audit fields whose values come from outside (Slack, partners): left out if they do not fit.
_LOOSE_FIELDS = frozenset(
    {"actor_user", "topic", "rules", "kid", "actor_agency", "source", "channel", "old_channel"}
)
RECENT = 50  # problems kept for ``/status`` (ids and codes): a window, not a history


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that went wrong, for ``/status``: where, which id, which reason code."""

    where: str  # "outbox", "inbound", "slack", "store", ...
    id: str  # an envelope id, event key or partner ORI: never text
    reason: str


class Recorder:
    """Audit records, metrics and the recent problems of one relay instance."""

    def __init__(
        self, *, agency: str, ledger: Ledger, metrics: RelayMetrics, store: AsyncStore
    ) -> None:
        self.agency = agency
        self.aio = store  # the ledger's probe is a durable write
        self.ledger = ledger
        self.metrics = metrics
        self.recent: deque[Problem] = deque(maxlen=RECENT)
        self._probe: asyncio.Future[bool] | None = None

    # -- records -------------------------------------------------------------------------
    def entry(self, event: str, **fields: Any) -> list[AuditRecord]:
        """One record. A value from outside that does not fit its field's closed shape (a
        test's short user id, a partner's odd topic) is left out, never written; the record
        keeps every other field."""
        while True:
            try:
                return [self.ledger.entry(event, **fields)]
            except ValueError as exc:
                field = str(exc)
                if field not in _LOOSE_FIELDS or field not in fields:
                    raise
                log.warning("audit_field_refused", audit_event=event, field=field)
                fields = {k: v for k, v in fields.items() if k != field}

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Inside a store transaction (the caller's group-commit write)."""
        if records:
            self.ledger.append(records)

    def commit_failed(self) -> None:
        """A transaction that carried audit records did not commit: they are not kept."""
        if not self.ledger.failing:
            self.ledger.mark_failed()

    # -- the gate ------------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        return not self.ledger.failing

    async def ready(self) -> bool:
        """May this relay forward now? Not while audit writes fail: the ledger is tried
        again (it records that writes came back) and forwarding resumes when it succeeds.
        Callers waiting together share one attempt (one ``audit_recovered`` record)."""
        if not self.ledger.failing:
            return True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._try_ledger())
        return await asyncio.shield(self._probe)

    async def _try_ledger(self) -> bool:
        ledger = self.ledger
        try:
            await self.aio.durable(
                lambda: ledger.append([ledger.entry("audit_recovered", outcome="recovered")])
            )
        except Exception:  # noqa: BLE001 - still failing: forwarding stays stopped
            return False
        log.warning("audit_recovered")
        return True

    # -- problems ------------------------------------------------------------------------
    def problem(self, where: str, id_: str, reason: str) -> None:
        """Kept for ``/status`` (bounded) and logged: ids and codes only."""
        self.recent.append(Problem(where, id_, reason))
        log.warning("relay_problem", where=where, id=id_, reason=reason)

    def slack_rejected(self, reason: str) -> None:
        """An unauthenticated request to the Slack listener refused: counted, not logged
        (anyone can send them, as many as they like)."""
        self.metrics.slack_request_rejected(reason)

    def slack_refused(self, reason: str, event_id: str | None, field: str | None = None) -> None:
        """A signed or stored Slack event that cannot be used: acknowledged or set aside,
        counted, kept for ``/status`` and logged (reason, field path, event id: never text)."""
        self.metrics.slack_event_refused(reason)
        self.recent.append(Problem("slack", event_id or "-", reason))
        log.warning("slack_event_refused", reason=reason, field=field, event_id=event_id)

    def dead_letter(self, queue: str, peer: str, envelope_id: str, reason: str) -> None:
        self.metrics.dead_letter(queue, peer, reason)
        self.recent.append(Problem(queue, envelope_id, reason))
        log.warning("dead_letter", queue=queue, partner=peer, envelope=envelope_id, reason=reason)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
