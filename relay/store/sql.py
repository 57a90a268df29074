"""The store's SQL, written once: PostgreSQL syntax with ``$1`` placeholders.

Every backend runs these texts through its dialect (:mod:`relay.store.dialect`): SQLite gets
``?1`` placeholders, ``BLOB`` for ``BYTEA``, ``INTEGER PRIMARY KEY AUTOINCREMENT`` for
``BIGSERIAL PRIMARY KEY`` and no ``FOR UPDATE`` (its ``BEGIN IMMEDIATE`` already holds the
write lock); psycopg gets ``%s``. Only syntax both engines accept is used otherwise
(``ON CONFLICT ... DO NOTHING``, ``ON CONFLICT ... DO UPDATE SET col = excluded.col``).

Times are ISO 8601 text, so a record reads back equal (offset included) on either backend.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS"]

# Numbered migrations: MIGRATIONS[n - 1] takes a database from version n - 1 to n. Each is a
# tuple of single statements (no splitting on ";"). Never edit a released migration; add one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: received envelopes and their dedupe key; refusals (ids and reason codes only)
    (
        """
        CREATE TABLE received (
            issuer TEXT NOT NULL,
            envelope_id TEXT NOT NULL,
            digest TEXT NOT NULL,
            sender TEXT NOT NULL,
            received_at TEXT NOT NULL,
            body BYTEA NOT NULL,
            PRIMARY KEY (issuer, envelope_id)
        )
        """,
        """
        CREATE TABLE refusals (
            id BIGSERIAL PRIMARY KEY,
            at TEXT NOT NULL,
            peer TEXT NOT NULL,
            reason TEXT NOT NULL,
            http_status INTEGER NOT NULL,
            issuer TEXT,
            envelope_id TEXT,
            digest TEXT
        )
        """,
    ),
    # 2: Slack events taken (dedupe on event_id), envelope -> Slack ts, file blobs,
    #    last seen ts per channel (catch-up after an outage)
    (
        """
        CREATE TABLE inbox (
            event_id TEXT PRIMARY KEY,
            team TEXT NOT NULL,
            received_at TEXT NOT NULL,
            body BYTEA NOT NULL,
            done INTEGER NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE TABLE posted (
            issuer TEXT NOT NULL,
            envelope_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            PRIMARY KEY (issuer, envelope_id)
        )
        """,
        """
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            mime TEXT NOT NULL,
            data BYTEA NOT NULL
        )
        """,
        """
        CREATE TABLE seen (
            channel TEXT PRIMARY KEY,
            ts TEXT NOT NULL
        )
        """,
    ),
    # 3: the inbox keeps arrival order in a column (SQLite used its implicit rowid, which
    #    PostgreSQL lacks). Rows from version 2 are copied in time order.
    (
        """
        CREATE TABLE inbox_v3 (
            seq BIGSERIAL PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            team TEXT NOT NULL,
            received_at TEXT NOT NULL,
            body BYTEA NOT NULL,
            done INTEGER NOT NULL DEFAULT 0
        )
        """,
        """
        INSERT INTO inbox_v3 (event_id, team, received_at, body, done)
        SELECT event_id, team, received_at, body, done FROM inbox
        ORDER BY received_at, event_id
        """,
        "DROP TABLE inbox",
        "ALTER TABLE inbox_v3 RENAME TO inbox",
    ),
)

# -- schema version (a table, so both backends track it alike) --------------------------------
CREATE_SCHEMA_VERSION: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
)
SELECT_SCHEMA_VERSION: Final = "SELECT version FROM schema_version"
INSERT_SCHEMA_VERSION: Final = "INSERT INTO schema_version (version) VALUES ($1)"
UPDATE_SCHEMA_VERSION: Final = "UPDATE schema_version SET version = $1"

# -- received envelopes and refusals -----------------------------------------------------------
INSERT_RECEIVED: Final = (
    "INSERT INTO received (issuer, envelope_id, digest, sender, received_at, body) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, envelope_id) DO NOTHING"
)
SELECT_RECEIVED: Final = (
    "SELECT digest, sender FROM received WHERE issuer = $1 AND envelope_id = $2"
)
INSERT_REFUSAL: Final = (
    "INSERT INTO refusals (at, peer, reason, http_status, issuer, envelope_id, digest) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
SELECT_REFUSALS: Final = (
    "SELECT at, peer, reason, http_status, issuer, envelope_id, digest FROM refusals ORDER BY id"
)

# -- Slack inbox -------------------------------------------------------------------------------
INSERT_EVENT: Final = (
    "INSERT INTO inbox (event_id, team, received_at, body) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (event_id) DO NOTHING"
)
SELECT_PENDING: Final = "SELECT event_id, body FROM inbox WHERE done = 0 ORDER BY seq LIMIT $1"
FINISH_EVENT: Final = "UPDATE inbox SET done = 1 WHERE event_id = $1"

# -- envelope -> Slack ts ----------------------------------------------------------------------
UPSERT_POST: Final = (
    "INSERT INTO posted (issuer, envelope_id, channel, ts) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (issuer, envelope_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts"
)
SELECT_POST: Final = "SELECT channel, ts FROM posted WHERE issuer = $1 AND envelope_id = $2"

# -- blobs -------------------------------------------------------------------------------------
INSERT_BLOB: Final = (
    "INSERT INTO blobs (sha256, mime, data) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING"
)
SELECT_BLOB: Final = "SELECT mime, data FROM blobs WHERE sha256 = $1"

# -- catch-up ----------------------------------------------------------------------------------
INSERT_SEEN: Final = (
    "INSERT INTO seen (channel, ts) VALUES ($1, $2) ON CONFLICT (channel) DO NOTHING"
)
SELECT_SEEN: Final = "SELECT ts FROM seen WHERE channel = $1"
SELECT_SEEN_FOR_UPDATE: Final = "SELECT ts FROM seen WHERE channel = $1 FOR UPDATE"
UPDATE_SEEN: Final = "UPDATE seen SET ts = $2 WHERE channel = $1"

PING: Final = "SELECT 1"
