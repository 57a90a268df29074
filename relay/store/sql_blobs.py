"""The blob holdings role over SQL (migration 10): files charged to the partner that pushed
them, the envelopes naming each file, and the sweep (:mod:`relay.store.contract_blobs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from relay.core.defaults import FILES_LEGACY_HOLD
from relay.store.contract_blobs import BlobHold, BlobQueue, BlobSweep, BlobUsage
from relay.store.engine import SqlEngine

__all__ = ["SqlBlobHoldings", "name_rows"]

SELECT_HELD: Final = "SELECT size FROM blobs WHERE sha256 = $1"
RENEW_PUSH: Final = "UPDATE blobs SET pushed_at = $2 WHERE sha256 = $1"
PEER_USAGE: Final = "SELECT count(*), COALESCE(sum(size), 0) FROM blobs WHERE peer = $1"
INSERT_HELD: Final = (
    "INSERT INTO blobs (sha256, mime, data, peer, size, pushed_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (sha256) DO UPDATE SET pushed_at = excluded.pushed_at"
)
INSERT_NAME: Final = (
    "INSERT INTO blob_names (sha256, queue, party, envelope_id, named_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256, queue, party, envelope_id) DO NOTHING"
)
# A name is live while its item still needs the file: an inbound item or an outbox row
# pending (a first attempt or a retry to come) and not expired. Done or dead-lettered is
# settled: a dead letter retried by an operator goes without the file. $1: now.
_LIVE: Final = """(
    (n.queue = 'inbound' AND EXISTS (
        SELECT 1 FROM inbound i WHERE i.issuer = n.party AND i.envelope_id = n.envelope_id
          AND i.state = 'pending' AND i.expires_at > $1))
    OR (n.queue = 'outbox' AND EXISTS (
        SELECT 1 FROM outbox o WHERE o.partner = n.party AND o.envelope_id = n.envelope_id
          AND o.state = 'pending' AND o.expires_at > $1))
)"""
# Files from before migration 10 (no push time) are held as if pushed at $1.
STAMP_LEGACY: Final = "UPDATE blobs SET pushed_at = $1 WHERE pushed_at IS NULL"
# Nothing needs it, and it was used (named after its last push; this relay's own files are
# named in the transaction that keeps them) or held past the grace period ($2: now - grace).
# Oldest first, $3 at most.
DELETE_UNNEEDED: Final = f"""
    DELETE FROM blobs WHERE sha256 IN (
        SELECT b.sha256 FROM blobs b
        WHERE b.pushed_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM blob_names n WHERE n.sha256 = b.sha256 AND {_LIVE})
          AND (b.pushed_at <= $2 OR EXISTS (
              SELECT 1 FROM blob_names u
              WHERE u.sha256 = b.sha256 AND (b.peer = '' OR u.named_at >= b.pushed_at)))
        ORDER BY b.pushed_at LIMIT $3)
    RETURNING size
"""  # noqa: S608 - constant text (_LIVE), values bound
# Names no longer live, once their file is gone or they are older than the grace period (the
# file's own push time decides then), $3 at most.
DELETE_SETTLED_NAMES: Final = f"""
    DELETE FROM blob_names WHERE id IN (
        SELECT n.id FROM blob_names n
        WHERE NOT {_LIVE}
          AND (n.named_at <= $2 OR NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = n.sha256))
        ORDER BY n.id LIMIT $3)
"""  # noqa: S608 - constant text (_LIVE), values bound
USAGE: Final = "SELECT peer, count(*), COALESCE(sum(size), 0) FROM blobs GROUP BY peer"


def name_rows(
    engine: SqlEngine,
    *,
    queue: BlobQueue,
    party: str,
    envelope_id: str,
    sha256s: Sequence[str],
    at: float,
) -> None:
    """Inside a transaction: the files an item names (an outbox row's, an inbound item's)."""
    for sha256 in dict.fromkeys(sha256s):
        engine._execute(INSERT_NAME, (sha256, queue, party, envelope_id, at))


class SqlBlobHoldings(SqlEngine):
    def hold_blob(
        self,
        *,
        sha256: str,
        mime: str,
        data: bytes,
        peer: str,
        at: float,
        quota_bytes: int,
        quota_files: int,
    ) -> BlobHold:
        with self._transaction():
            # One partner's pushes one at a time (PostgreSQL: an advisory lock until commit),
            # or two instances could both pass the quota check under READ COMMITTED.
            self._lock_key(f"blobs:{peer}")
            if self._execute(SELECT_HELD, (sha256,)).rows:
                self._execute(RENEW_PUSH, (sha256, at))
                return BlobHold.KEPT
            count, size = self._execute(PEER_USAGE, (peer,)).rows[0]
            if int(count) + 1 > quota_files or int(size) + len(data) > quota_bytes:
                return BlobHold.OVER_QUOTA
            self._execute(INSERT_HELD, (sha256, mime, data, peer, len(data), at))
        return BlobHold.STORED

    def blob_room(
        self, *, sha256: str, peer: str, size: int, quota_bytes: int, quota_files: int
    ) -> BlobHold:
        with self._transaction():
            if self._execute(SELECT_HELD, (sha256,)).rows:
                return BlobHold.KEPT
            count, held = self._execute(PEER_USAGE, (peer,)).rows[0]
        if int(count) + 1 > quota_files or int(held) + size > quota_bytes:
            return BlobHold.OVER_QUOTA
        return BlobHold.STORED

    def name_blobs(
        self,
        *,
        queue: BlobQueue,
        party: str,
        envelope_id: str,
        sha256s: Sequence[str],
        at: float,
    ) -> None:
        with self._transaction():
            name_rows(
                self, queue=queue, party=party, envelope_id=envelope_id, sha256s=sha256s, at=at
            )

    def sweep_blobs(self, *, now: float, grace: float, limit: int) -> BlobSweep:
        with self._transaction():
            # held before migration 10: unneeded ones go FILES_LEGACY_HOLD from the first sweep
            self._execute(STAMP_LEGACY, (now + FILES_LEGACY_HOLD - grace,))
            sizes = self._execute(DELETE_UNNEEDED, (now, now - grace, limit)).rows
            dropped = self._execute(DELETE_SETTLED_NAMES, (now, now - grace, limit)).rowcount
        return BlobSweep(
            deleted=len(sizes), size=sum(int(r[0]) for r in sizes), names_dropped=dropped
        )

    def blob_usage(self) -> list[BlobUsage]:
        with self._transaction():
            rows = self._execute(USAGE).rows
        return [BlobUsage(peer=str(p), count=int(c), size=int(s)) for p, c, s in rows]
