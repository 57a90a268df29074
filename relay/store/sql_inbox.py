"""The Slack inbox role over SQL: events taken before they are acknowledged, leased to one
instance at a time per order key, and the newest ts seen per channel (catch-up).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Final

from relay.store.engine import SqlEngine

__all__ = ["FINISH_EVENT", "SqlInbox", "ts_order"]


def ts_order(ts: str) -> tuple[int, Decimal]:
    """Sort key for a Slack ts: exact decimal order, so ``"1700000000.000100"`` is newer than
    ``"1700000000.000099"`` on every backend (a float cast is only as exact as the float, and
    PostgreSQL's ``REAL`` is 4 bytes). A value that is not a finite number sorts lowest."""
    try:
        value = Decimal(ts)
    except InvalidOperation:
        return (0, Decimal(0))
    return (1, value) if value.is_finite() else (0, Decimal(0))


# Leases and order keys as in :mod:`relay.store.sql_outbox` (migration 4).
INSERT_EVENT: Final = (
    "INSERT INTO inbox (event_id, team, received_at, body, order_key) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING"
)
CLAIM_EVENTS: Final = """
    UPDATE inbox SET lease_owner = $1, lease_until = CAST($2 AS DOUBLE PRECISION) + $3
    WHERE seq IN (
        SELECT i.seq FROM inbox i
        WHERE i.done = 0 AND (i.lease_until IS NULL OR i.lease_until <= $2)
          AND NOT EXISTS (
              SELECT 1 FROM inbox p WHERE p.order_key = i.order_key AND p.done = 0
                AND p.seq < i.seq)
        ORDER BY i.seq LIMIT $4 FOR UPDATE SKIP LOCKED)
    RETURNING seq, event_id, body
"""
COUNT_PENDING_EVENTS: Final = "SELECT count(*) FROM inbox WHERE done = 0"
SELECT_PENDING: Final = "SELECT event_id, body FROM inbox WHERE done = 0 ORDER BY seq LIMIT $1"
FINISH_EVENT: Final = "UPDATE inbox SET done = 1 WHERE event_id = $1"
SELECT_EVENT: Final = "SELECT 1 FROM inbox WHERE event_id = $1"
DEFER_EVENT: Final = (
    "UPDATE inbox SET lease_owner = NULL, lease_until = $3 "
    "WHERE event_id = $1 AND lease_owner = $2 AND done = 0"
)
INSERT_SEEN: Final = (
    "INSERT INTO seen (channel, ts) VALUES ($1, $2) ON CONFLICT (channel) DO NOTHING"
)
SELECT_SEEN: Final = "SELECT ts FROM seen WHERE channel = $1"
SELECT_SEEN_FOR_UPDATE: Final = "SELECT ts FROM seen WHERE channel = $1 FOR UPDATE"
UPDATE_SEEN: Final = "UPDATE seen SET ts = $2 WHERE channel = $1"
SELECT_TAKEN_POSTS: Final = (
    "SELECT event_id, order_key FROM inbox WHERE event_id >= $1 AND event_id < $2"
)
MOVE_POSTED: Final = "UPDATE posted SET channel = $2 WHERE channel = $1"
INSERT_MOVE: Final = "INSERT INTO channel_moves (old_id, new_id, at) VALUES ($1, $2, $3)"
SELECT_MOVES: Final = "SELECT old_id, new_id FROM channel_moves ORDER BY seq"
COPY_SEEN: Final = (
    "INSERT INTO seen (channel, ts) SELECT $2, ts FROM seen WHERE channel = $1 "
    "ON CONFLICT (channel) DO NOTHING"
)


class SqlInbox(SqlEngine):
    def take_event(
        self, *, event_id: str, team: str, body: bytes, at: dt.datetime, order_key: str = ""
    ) -> bool:
        """Store a Slack event before it is acknowledged; False if already taken."""
        with self._transaction():
            result = self._execute(INSERT_EVENT, (event_id, team, at.isoformat(), body, order_key))
        return result.rowcount == 1

    def claim_events(
        self, *, owner: str, now: float, lease: float, limit: int
    ) -> list[tuple[str, bytes]]:
        """Lease pending events, oldest first, at most one per order key in flight."""
        with self._transaction():
            rows = self._execute(CLAIM_EVENTS, (owner, now, lease, limit)).rows
        return [(r[1], bytes(r[2])) for r in sorted(rows)]

    def pending_event_count(self) -> int:
        with self._transaction():
            return int(self._execute(COUNT_PENDING_EVENTS).rows[0][0])

    def pending_events(self, limit: int = 100) -> list[tuple[str, bytes]]:
        with self._transaction():
            rows = self._execute(SELECT_PENDING, (limit,)).rows
        return [(r[0], bytes(r[1])) for r in rows]

    def finish_event(self, event_id: str) -> None:
        with self._transaction():
            self._execute(FINISH_EVENT, (event_id,))

    def event_taken(self, event_id: str) -> bool:
        """Whether an event with this key was taken (done or not)."""
        with self._transaction():
            return bool(self._execute(SELECT_EVENT, (event_id,)).rows)

    def defer_event(self, event_id: str, *, owner: str, until: float) -> None:
        """Not renewed by the heartbeat (no owner), not claimed before ``until``."""
        with self._transaction():
            self._execute(DEFER_EVENT, (event_id, owner, float(until)))

    def last_seen(self, channel: str) -> str | None:
        with self._transaction():
            rows = self._execute(SELECT_SEEN, (channel,)).rows
        return str(rows[0][0]) if rows else None

    def set_last_seen(self, channel: str, ts: str) -> None:
        """Keep the newest ts per channel: an older one never overwrites a newer one."""
        with self._transaction():
            if self._execute(INSERT_SEEN, (channel, ts)).rowcount == 1:
                return
            (stored,) = self._execute(SELECT_SEEN_FOR_UPDATE, (channel,)).rows[0]
            if ts_order(ts) > ts_order(stored):
                self._execute(UPDATE_SEEN, (channel, ts))

    def move_channel(self, old: str, new: str, *, at: dt.datetime) -> None:
        """Slack moved channel ``old`` to id ``new``: kept (in order), with its last-seen
        mark and the copies posted there, so the channel map, the catch-up and later edits
        follow it after a restart."""
        with self._transaction():
            self._execute(INSERT_MOVE, (old, new, at.isoformat()))
            self._execute(COPY_SEEN, (old, new))
            self._execute(MOVE_POSTED, (old, new))

    def channel_moves(self) -> list[tuple[str, str]]:
        """Every channel move, oldest first: (old id, new id)."""
        with self._transaction():
            rows = self._execute(SELECT_MOVES, ()).rows
        return [(str(old), str(new)) for old, new in rows]

    def taken_posts(self, channel: str, after: str) -> list[tuple[str, str]]:
        """The messages of ``channel`` newer than ts ``after`` whose events were taken:
        ``(ts, thread ts)`` (the thread ts is the message's own for a top-level one)."""
        prefix = f"post.{channel}."
        with self._transaction():
            rows = self._execute(SELECT_TAKEN_POSTS, (prefix, prefix[:-1] + "/")).rows
        low = ts_order(after)
        out: list[tuple[str, str]] = []
        for event_id, order_key in rows:
            ts = str(event_id)[len(prefix) :]
            if ts_order(ts) > low:
                thread = str(order_key or "").rpartition("/")[2] or ts
                out.append((ts, thread))
        return out
