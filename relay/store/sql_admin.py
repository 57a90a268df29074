"""The admin role over SQL: the queues as operators see them (``relay queue``, ``relay
status``, metrics): list, retry a dead item, drop a pending one, counts.
"""

from __future__ import annotations

from typing import Final

from relay.store.contract import QueueEntry, QueueStat
from relay.store.engine import SqlEngine

__all__ = ["SqlAdmin"]

LIST_OUTBOX: Final = (
    "SELECT seq, partner, envelope_id, state, attempts, created_at, next_at, reason "
    "FROM outbox WHERE ($1 = '' OR state = $1) AND ($2 = '' OR partner = $2) "
    "ORDER BY seq LIMIT $3"
)
LIST_INBOUND: Final = (
    "SELECT seq, sender, envelope_id, state, attempts, created_at, next_at, reason "
    "FROM inbound WHERE ($1 = '' OR state = $1) AND ($2 = '' OR sender = $2) "
    "ORDER BY seq LIMIT $3"
)
RETRY_OUTBOX: Final = (
    "UPDATE outbox SET state = 'pending', next_at = $2, reason = NULL, finished_at = NULL, "
    "lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND state = 'dead'"
)
RETRY_INBOUND: Final = (
    "UPDATE inbound SET state = 'pending', next_at = $2, reason = NULL, finished_at = NULL, "
    "lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND state = 'dead'"
)
DROP_OUTBOX: Final = (
    "UPDATE outbox SET state = 'dead', reason = $3, finished_at = $2, lease_owner = NULL, "
    "lease_until = NULL WHERE seq = $1 AND state = 'pending'"
)
DROP_INBOUND: Final = (
    "UPDATE inbound SET state = 'dead', reason = $3, finished_at = $2, lease_owner = NULL, "
    "lease_until = NULL WHERE seq = $1 AND state = 'pending'"
)
STATS_OUTBOX: Final = (
    "SELECT partner, state, count(*), min(created_at) FROM outbox "
    "WHERE state <> 'done' GROUP BY partner, state"
)
STATS_INBOUND: Final = (
    "SELECT sender, state, count(*), min(created_at) FROM inbound "
    "WHERE state <> 'done' GROUP BY sender, state"
)


def _entry(entry_id: str) -> tuple[str, int]:
    """``out-12`` -> ("out", 12); ``ValueError`` for anything else."""
    queue, _, number = entry_id.partition("-")
    if queue not in ("out", "in") or not number.isdigit():
        raise ValueError(f"queue id {entry_id!r} is not out-<n> or in-<n>")
    return queue, int(number)


class SqlAdmin(SqlEngine):
    def queue_entries(
        self, *, state: str = "", peer: str = "", limit: int = 1000
    ) -> list[QueueEntry]:
        out: list[QueueEntry] = []
        with self._transaction():
            for queue, prefix, query in (
                ("outbox", "out", LIST_OUTBOX),
                ("inbound", "in", LIST_INBOUND),
            ):
                for r in self._execute(query, (state, peer, limit)).rows:
                    out.append(
                        QueueEntry(
                            id=f"{prefix}-{r[0]}",
                            queue=queue,
                            peer=r[1],
                            envelope_id=r[2],
                            state=r[3],
                            attempts=int(r[4]),
                            created_at=float(r[5]),
                            next_at=float(r[6]),
                            reason=r[7],
                        )
                    )
        return out

    def retry_entry(self, entry_id: str, *, now: float) -> bool:
        """A dead item back to pending, due now. False if there is no such dead item."""
        queue, seq = _entry(entry_id)
        query = RETRY_OUTBOX if queue == "out" else RETRY_INBOUND
        with self._transaction():
            return self._execute(query, (seq, now)).rowcount == 1

    def drop_entry(self, entry_id: str, *, now: float, reason: str) -> bool:
        """A pending item to the dead letters with ``reason``. False if none is pending."""
        queue, seq = _entry(entry_id)
        query = DROP_OUTBOX if queue == "out" else DROP_INBOUND
        with self._transaction():
            return self._execute(query, (seq, now, reason)).rowcount == 1

    def queue_stats(self) -> list[QueueStat]:
        out: list[QueueStat] = []
        with self._transaction():
            for queue, query in (("outbox", STATS_OUTBOX), ("inbound", STATS_INBOUND)):
                for peer, state, count, oldest in self._execute(query).rows:
                    out.append(
                        QueueStat(
                            queue=queue,
                            peer=peer,
                            state=state,
                            count=int(count),
                            oldest=float(oldest),
                        )
                    )
        return out
