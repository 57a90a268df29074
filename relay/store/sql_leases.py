"""The leases role over SQL: heartbeats, graceful release, and the leases held now."""

from __future__ import annotations

from typing import Final

from relay.store.engine import SqlEngine

__all__ = ["SqlLeases"]

RELEASE_OUTBOX: Final = (
    "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 "
    "WHERE lease_owner = $1 AND state = 'pending'"
)
# An inbound item keeps the attempt: it may have posted in Slack before it was released, so
# the next attempt looks for that post first.
RELEASE_INBOUND: Final = (
    "UPDATE inbound SET lease_owner = NULL, lease_until = NULL "
    "WHERE lease_owner = $1 AND state = 'pending'"
)
# A heartbeat: the work an instance holds stays its own while it is alive and working.
RENEW_OUTBOX: Final = (
    "UPDATE outbox SET lease_until = $2 WHERE lease_owner = $1 AND state = 'pending'"
)
RENEW_INBOUND: Final = (
    "UPDATE inbound SET lease_until = $2 WHERE lease_owner = $1 AND state = 'pending'"
)
RENEW_EVENTS: Final = "UPDATE inbox SET lease_until = $2 WHERE lease_owner = $1 AND done = 0"
RELEASE_EVENTS: Final = (
    "UPDATE inbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND done = 0"
)
# Pending items whose lease is still held at $1, per peer.
LEASED_OUTBOX: Final = (
    "SELECT partner, count(*) FROM outbox WHERE state = 'pending' "
    "AND lease_until IS NOT NULL AND lease_until > $1 GROUP BY partner"
)
LEASED_INBOUND: Final = (
    "SELECT sender, count(*) FROM inbound WHERE state = 'pending' "
    "AND lease_until IS NOT NULL AND lease_until > $1 GROUP BY sender"
)


class SqlLeases(SqlEngine):
    def renew(self, owner: str, *, until: float) -> int:
        """Extend every lease this owner holds to ``until`` (a heartbeat while it works: a
        batch may take longer than one lease). Returns the leases renewed."""
        with self._transaction():
            until_ = float(until)
            return sum(
                self._execute(query, (owner, until_)).rowcount
                for query in (RENEW_OUTBOX, RENEW_INBOUND, RENEW_EVENTS)
            )

    def release(self, owner: str) -> None:
        """Give back every lease this owner holds (graceful shutdown)."""
        with self._transaction():
            self._execute(RELEASE_OUTBOX, (owner,))
            self._execute(RELEASE_INBOUND, (owner,))
            self._execute(RELEASE_EVENTS, (owner,))

    def lease_counts(self, now: float) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        with self._transaction():
            for queue, query in (("outbox", LEASED_OUTBOX), ("inbound", LEASED_INBOUND)):
                for peer, count in self._execute(query, (now,)).rows:
                    out[(queue, str(peer))] = int(count)
        return out
