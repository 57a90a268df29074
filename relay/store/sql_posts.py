"""The post map and blob roles over SQL: envelope -> Slack message, and files by sha256."""

from __future__ import annotations

import time
from typing import Final

from relay.store.engine import SqlEngine

__all__ = ["SqlBlobs", "SqlPostMap"]

UPSERT_POST: Final = (
    "INSERT INTO posted (issuer, envelope_id, channel, ts) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (issuer, envelope_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts"
)
SELECT_POST: Final = "SELECT channel, ts FROM posted WHERE issuer = $1 AND envelope_id = $2"
# The message a relay post is the copy of (marks such as "#cancelled" or "#file0" share the
# copy's place and are left out).
SELECT_POST_AT: Final = (
    "SELECT issuer, envelope_id FROM posted WHERE channel = $1 AND ts = $2 "
    "AND envelope_id NOT LIKE '%#%' ORDER BY envelope_id LIMIT 1"
)
DELETE_POST: Final = "DELETE FROM posted WHERE issuer = $1 AND envelope_id = $2"
# This relay's own files (peer ''), pushed now: their outbox rows name them in the same
# transaction (:mod:`relay.store.sql_blobs`).
INSERT_BLOB: Final = (
    "INSERT INTO blobs (sha256, mime, data, size, pushed_at) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (sha256) DO UPDATE SET pushed_at = excluded.pushed_at"
)
SELECT_BLOB: Final = "SELECT mime, data FROM blobs WHERE sha256 = $1"


class SqlPostMap(SqlEngine):
    def map_post(self, *, issuer: str, envelope_id: str, channel: str, ts: str) -> None:
        with self._transaction():
            self._execute(UPSERT_POST, (issuer, envelope_id, channel, ts))

    def forget_post(self, *, issuer: str, envelope_id: str) -> None:
        """The copy is gone (retracted): a later edit posts the message again."""
        with self._transaction():
            self._execute(DELETE_POST, (issuer, envelope_id))

    def lookup_post(self, *, issuer: str, envelope_id: str) -> tuple[str, str] | None:
        with self._transaction():
            rows = self._execute(SELECT_POST, (issuer, envelope_id)).rows
        return (rows[0][0], rows[0][1]) if rows else None

    def post_at(self, channel: str, ts: str) -> tuple[str, str] | None:
        """(issuer, envelope id) of the message the relay post at ``channel``/``ts`` copies."""
        with self._transaction():
            rows = self._execute(SELECT_POST_AT, (channel, ts)).rows
        return (rows[0][0], rows[0][1]) if rows else None


class SqlBlobs(SqlEngine):
    def put_blob(self, *, sha256: str, mime: str, data: bytes) -> None:
        with self._transaction():
            self._execute(INSERT_BLOB, (sha256, mime, data, len(data), time.time()))

    def get_blob(self, sha256: str) -> tuple[str, bytes] | None:
        with self._transaction():
            rows = self._execute(SELECT_BLOB, (sha256,)).rows
        return (rows[0][0], bytes(rows[0][1])) if rows else None
