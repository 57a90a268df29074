"""The reviews role over SQL (see :mod:`relay.store.contract_reviews`)."""

from __future__ import annotations

from typing import Final

from relay.store.contract_reviews import ReviewRow
from relay.store.engine import SqlEngine

__all__ = ["SqlReviews"]

_COLUMNS: Final = (
    "id, channel, ts, digest, author, topic, partners, policy, state, created_at, expires_at, "
    "card_channel, card_ts, decided_by, outcome, reason, mode"
)
INSERT_REVIEW: Final = (
    f"INSERT INTO reviews ({_COLUMNS}) VALUES "  # noqa: S608 - constant column list
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
    "ON CONFLICT (id) DO NOTHING"
)
SELECT_REVIEW: Final = f"SELECT {_COLUMNS} FROM reviews WHERE id = $1"  # noqa: S608
SELECT_TO_POST: Final = (
    f"SELECT {_COLUMNS} FROM reviews WHERE state = 'pending' "  # noqa: S608
    "ORDER BY created_at LIMIT $1"
)
POSTED: Final = (
    "UPDATE reviews SET card_channel = $2, card_ts = $3, card_state = 'open', "
    "state = CASE WHEN state = 'pending' THEN 'open' ELSE state END WHERE id = $1"
)
DECIDE: Final = (
    "UPDATE reviews SET state = $2, outcome = $2, decided_by = $3, reason = $4, mode = $5, "
    "decided_at = $6 WHERE id = $1 AND state IN ('pending', 'open')"
)
SELECT_EXPIRED: Final = (
    f"SELECT {_COLUMNS} FROM reviews WHERE state IN ('pending', 'open') "  # noqa: S608
    "AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
)
UPDATE_REVIEW: Final = (
    "UPDATE reviews SET digest = $2, partners = $3, "
    "card_state = CASE WHEN card_ts = '' THEN card_state ELSE 'stale' END "
    "WHERE id = $1 AND state IN ('pending', 'open')"
)
CLOSE: Final = (
    "UPDATE reviews SET state = $2, outcome = $2, decided_at = $3 "
    "WHERE id = $1 AND state IN ('pending', 'open')"
)
SELECT_REFRESH: Final = (
    f"SELECT {_COLUMNS} FROM reviews WHERE card_ts <> '' "  # noqa: S608
    "AND (card_state = 'stale' OR (state NOT IN ('pending', 'open') AND card_state <> state)) "
    "ORDER BY created_at LIMIT $1"
)
REFRESHED: Final = "UPDATE reviews SET card_state = $2 WHERE id = $1"
EXPIRE: Final = (
    "UPDATE reviews SET state = 'expired' WHERE id = $1 AND state IN ('pending', 'open')"
)
STATS: Final = "SELECT count(*), min(created_at) FROM reviews WHERE state IN ('pending', 'open')"
INSERT_RELEASE: Final = (
    "INSERT INTO releases (envelope_id, partner, mode) VALUES ($1, $2, $3) "
    "ON CONFLICT (envelope_id, partner) DO NOTHING"
)
SELECT_RELEASE: Final = "SELECT mode FROM releases WHERE envelope_id = $1 AND partner = $2"


def _row(r: tuple[object, ...]) -> ReviewRow:
    return ReviewRow(
        id=str(r[0]),
        channel=str(r[1]),
        ts=str(r[2]),
        digest=str(r[3] or ""),
        author=str(r[4] or ""),
        topic=str(r[5]),
        partners=str(r[6]),
        policy=str(r[7]),
        state=str(r[8]),
        created_at=float(r[9]),  # type: ignore[arg-type]
        expires_at=float(r[10]),  # type: ignore[arg-type]
        card_channel=str(r[11] or ""),
        card_ts=str(r[12] or ""),
        decided_by=str(r[13] or ""),
        outcome=str(r[14] or ""),
        reason=str(r[15] or ""),
        mode=str(r[16] or ""),
    )


class SqlReviews(SqlEngine):
    def open_review(self, row: ReviewRow) -> bool:
        with self._transaction():
            done = self._execute(
                INSERT_REVIEW,
                (
                    row.id,
                    row.channel,
                    row.ts,
                    row.digest,
                    row.author,
                    row.topic,
                    row.partners,
                    row.policy,
                    row.state,
                    row.created_at,
                    row.expires_at,
                    row.card_channel,
                    row.card_ts,
                    row.decided_by,
                    row.outcome,
                    row.reason,
                    row.mode,
                ),
            )
        return done.rowcount == 1

    def review(self, review_id: str) -> ReviewRow | None:
        with self._transaction():
            rows = self._execute(SELECT_REVIEW, (review_id,)).rows
        return _row(rows[0]) if rows else None

    def reviews_to_post(self, *, limit: int) -> list[ReviewRow]:
        with self._transaction():
            return [_row(r) for r in self._execute(SELECT_TO_POST, (int(limit),)).rows]

    def review_posted(self, review_id: str, *, channel: str, ts: str) -> None:
        with self._transaction():
            self._execute(POSTED, (review_id, channel, ts))

    def decide_review(
        self, review_id: str, *, outcome: str, by: str, reason: str, mode: str, at: float
    ) -> bool:
        with self._transaction():
            done = self._execute(DECIDE, (review_id, outcome, by, reason, mode, at))
        return done.rowcount == 1

    def update_review(self, review_id: str, *, digest: str, partners: str) -> bool:
        with self._transaction():
            return self._execute(UPDATE_REVIEW, (review_id, digest, partners)).rowcount == 1

    def close_review(self, review_id: str, *, outcome: str, at: float) -> bool:
        with self._transaction():
            return self._execute(CLOSE, (review_id, outcome, at)).rowcount == 1

    def cards_to_refresh(self, *, limit: int) -> list[ReviewRow]:
        with self._transaction():
            return [_row(r) for r in self._execute(SELECT_REFRESH, (int(limit),)).rows]

    def card_refreshed(self, review_id: str, *, state: str) -> None:
        with self._transaction():
            self._execute(REFRESHED, (review_id, state))

    def expire_reviews(self, *, now: float, limit: int) -> list[ReviewRow]:
        with self._transaction():
            rows = [_row(r) for r in self._execute(SELECT_EXPIRED, (now, int(limit))).rows]
            return [r for r in rows if self._execute(EXPIRE, (r.id,)).rowcount == 1]

    def review_stats(self) -> tuple[int, float | None]:
        with self._transaction():
            count, oldest = self._execute(STATS).rows[0]
        return int(count), (float(oldest) if oldest is not None else None)

    def record_release(self, envelope_id: str, partner: str, mode: str) -> None:
        with self._transaction():
            self._execute(INSERT_RELEASE, (envelope_id, partner, mode))

    def released_mode(self, envelope_id: str, partner: str) -> str | None:
        with self._transaction():
            rows = self._execute(SELECT_RELEASE, (envelope_id, partner)).rows
        return str(rows[0][0]) if rows else None
