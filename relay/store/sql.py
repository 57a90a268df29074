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

_DELIVERY_COLUMNS: Final = """
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            next_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            reason TEXT,
            finished_at DOUBLE PRECISION
"""

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
    # 4: the outbox (signed envelopes per partner), the inbound queue (accepted envelopes to
    #    judge and post), and leases on the Slack inbox (several instances on one database)
    (
        f"""
        CREATE TABLE outbox (
            seq BIGSERIAL PRIMARY KEY,
            partner TEXT NOT NULL,
            envelope_id TEXT NOT NULL,
            order_key TEXT NOT NULL,
            body BYTEA NOT NULL,
            blobs TEXT NOT NULL,
            {_DELIVERY_COLUMNS},
            UNIQUE (partner, envelope_id)
        )
        """,
        "CREATE INDEX outbox_due ON outbox (partner, state, seq)",
        "CREATE INDEX outbox_order ON outbox (partner, order_key, state, seq)",
        f"""
        CREATE TABLE inbound (
            seq BIGSERIAL PRIMARY KEY,
            issuer TEXT NOT NULL,
            envelope_id TEXT NOT NULL,
            sender TEXT NOT NULL,
            order_key TEXT NOT NULL,
            {_DELIVERY_COLUMNS},
            UNIQUE (issuer, envelope_id)
        )
        """,
        "CREATE INDEX inbound_due ON inbound (state, seq)",
        "CREATE INDEX inbound_order ON inbound (order_key, state, seq)",
        "ALTER TABLE inbox ADD COLUMN order_key TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE inbox ADD COLUMN lease_owner TEXT",
        "ALTER TABLE inbox ADD COLUMN lease_until DOUBLE PRECISION",
        "CREATE INDEX inbox_due ON inbox (done, seq)",
        "CREATE INDEX inbox_order ON inbox (order_key, done, seq)",
    ),
    # 5: the audit ledger: the hash chain (records as canonical JSON, ids and codes only), its
    #    one-row head (locked by every append: several instances extend one chain), the
    #    retention anchor (the last pruned record), and signed checkpoints (own and partners')
    (
        """
        CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            at TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL,
            record TEXT NOT NULL
        )
        """,
        "CREATE INDEX audit_log_at ON audit_log (at)",
        """
        CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL,
            anchor_seq BIGINT NOT NULL,
            anchor_hash TEXT NOT NULL
        )
        """,
        # the head before any record is relay.core.audit.GENESIS (64 zeros)
        "INSERT INTO audit_head (id, seq, hash, anchor_seq, anchor_hash) VALUES (1, 0, "
        "'0000000000000000000000000000000000000000000000000000000000000000', 0, "
        "'0000000000000000000000000000000000000000000000000000000000000000')",
        """
        CREATE TABLE audit_checkpoints (
            issuer TEXT NOT NULL,
            seq BIGINT NOT NULL,
            head TEXT NOT NULL,
            at TEXT NOT NULL,
            token TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (issuer, seq, head)
        )
        """,
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
# The last $1, still in the order recorded.
SELECT_LAST_REFUSALS: Final = (
    "SELECT at, peer, reason, http_status, issuer, envelope_id, digest FROM ("
    "SELECT id, at, peer, reason, http_status, issuer, envelope_id, digest FROM refusals "
    "ORDER BY id DESC LIMIT $1) AS r ORDER BY id"
)

# -- Slack inbox -------------------------------------------------------------------------------
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

# -- durable delivery (migration 4) ------------------------------------------------------------
# Times in these tables are POSIX seconds (DOUBLE PRECISION): leases and backoff compare them.
# A lease's end is computed in SQL from a cast: psycopg sends a small Python int as smallint,
# and 30000 + 5000 would overflow it.
# States: 'pending' (due at next_at; leased while lease_until is in the future), 'done', 'dead'.
# A row is claimed only when no earlier pending row of the same order key exists, so an edit
# never overtakes its post and a reply never overtakes its thread's first message.

ENQUEUE: Final = (
    "INSERT INTO outbox (partner, envelope_id, order_key, body, blobs, created_at, next_at, "
    "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) "
    "ON CONFLICT (partner, envelope_id) DO NOTHING"
)
CLAIM_OUTBOX: Final = """
    UPDATE outbox SET lease_owner = $2, lease_until = CAST($3 AS DOUBLE PRECISION) + $4,
        attempts = attempts + 1
    WHERE seq IN (
        SELECT o.seq FROM outbox o
        WHERE o.partner = $1 AND o.state = 'pending' AND o.next_at <= $3
          AND (o.lease_until IS NULL OR o.lease_until <= $3)
          AND NOT EXISTS (
              SELECT 1 FROM outbox p
              WHERE p.partner = o.partner AND p.order_key = o.order_key
                AND p.state = 'pending' AND p.seq < o.seq)
        ORDER BY o.seq LIMIT $5 FOR UPDATE SKIP LOCKED)
    RETURNING seq, partner, envelope_id, body, blobs, created_at, expires_at, attempts
"""
SETTLE_OUTBOX: Final = (
    "UPDATE outbox SET state = $3, next_at = $4, reason = $5, finished_at = $6, "
    "lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND lease_owner = $2"
)
# Due: the earliest time a claim can return something. Only the first pending row of each order
# key counts: a row queued behind one that waits for its retry or lease is not due (a loop that
# sleeps until a time already past would spin); it follows once that row settles.
NEXT_DUE_OUTBOX: Final = """
    SELECT min(CASE WHEN o.lease_until IS NOT NULL AND o.lease_until > o.next_at
                    THEN o.lease_until ELSE o.next_at END)
    FROM outbox o
    WHERE o.partner = $1 AND o.state = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM outbox p
          WHERE p.partner = o.partner AND p.order_key = o.order_key
            AND p.state = 'pending' AND p.seq < o.seq)
"""

INSERT_INBOUND: Final = (
    "INSERT INTO inbound (issuer, envelope_id, sender, order_key, created_at, next_at, "
    "expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (issuer, envelope_id) DO NOTHING"
)
CLAIM_INBOUND: Final = """
    UPDATE inbound SET lease_owner = $1, lease_until = CAST($2 AS DOUBLE PRECISION) + $3,
        attempts = attempts + 1
    WHERE seq IN (
        SELECT i.seq FROM inbound i
        WHERE i.state = 'pending' AND i.next_at <= $2
          AND (i.lease_until IS NULL OR i.lease_until <= $2)
          AND NOT EXISTS (
              SELECT 1 FROM inbound p
              WHERE p.order_key = i.order_key AND p.state = 'pending' AND p.seq < i.seq)
        ORDER BY i.seq LIMIT $4 FOR UPDATE SKIP LOCKED)
    RETURNING seq, issuer, envelope_id, sender, created_at, expires_at, attempts
"""
SELECT_RECEIVED_BODY: Final = "SELECT body FROM received WHERE issuer = $1 AND envelope_id = $2"
SETTLE_INBOUND: Final = (
    "UPDATE inbound SET state = $3, next_at = $4, reason = $5, finished_at = $6, "
    "lease_owner = NULL, lease_until = NULL WHERE seq = $1 AND lease_owner = $2"
)
NEXT_DUE_INBOUND: Final = """
    SELECT min(CASE WHEN i.lease_until IS NOT NULL AND i.lease_until > i.next_at
                    THEN i.lease_until ELSE i.next_at END)
    FROM inbound i
    WHERE i.state = 'pending'
      AND NOT EXISTS (
          SELECT 1 FROM inbound p
          WHERE p.order_key = i.order_key AND p.state = 'pending' AND p.seq < i.seq)
"""

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

# -- the queue as operators see it (relay queue, relay status, metrics) -----------------------
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
# Pending items whose lease is still held at $1, per peer.
LEASED_OUTBOX: Final = (
    "SELECT partner, count(*) FROM outbox WHERE state = 'pending' "
    "AND lease_until IS NOT NULL AND lease_until > $1 GROUP BY partner"
)
LEASED_INBOUND: Final = (
    "SELECT sender, count(*) FROM inbound WHERE state = 'pending' "
    "AND lease_until IS NOT NULL AND lease_until > $1 GROUP BY sender"
)

# -- audit ledger (migration 5) ----------------------------------------------------------------
# Record times are fixed-width RFC 3339 text (microseconds, Z), so text order is time order.
# The head row is locked FOR UPDATE by every append (SQLite: BEGIN IMMEDIATE already excludes
# other writers), so appends from several instances queue up on it and extend one chain.
SELECT_AUDIT_HEAD_FOR_UPDATE: Final = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
SELECT_AUDIT_HEAD: Final = "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1"
UPDATE_AUDIT_HEAD: Final = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1"
UPDATE_AUDIT_ANCHOR: Final = "UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1"
INSERT_AUDIT: Final = "INSERT INTO audit_log (seq, at, prev, hash, record) VALUES "


def audit_rows_values(count: int) -> str:
    """The VALUES list for ``count`` audit rows in one INSERT (one round trip per append)."""
    return ", ".join(
        f"(${5 * i + 1}, ${5 * i + 2}, ${5 * i + 3}, ${5 * i + 4}, ${5 * i + 5})"
        for i in range(count)
    )


SELECT_AUDIT_ROWS: Final = (
    "SELECT seq, prev, hash, record FROM audit_log "
    "WHERE seq > $1 AND ($2 = '' OR at >= $2) AND ($3 = '' OR at < $3) "
    "ORDER BY seq LIMIT $4"
)
# The last record of the prefix to prune: every record up to it is older than the cut-off.
SELECT_AUDIT_PRUNE_END: Final = """
    SELECT seq, hash FROM audit_log
    WHERE seq < coalesce((SELECT min(seq) FROM audit_log WHERE at >= $1),
                         (SELECT max(seq) FROM audit_log) + 1)
    ORDER BY seq DESC LIMIT 1
"""
DELETE_AUDIT_UPTO: Final = "DELETE FROM audit_log WHERE seq <= $1"
INSERT_CHECKPOINT: Final = (
    "INSERT INTO audit_checkpoints (issuer, seq, head, at, token, received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, seq, head) DO NOTHING"
)
SELECT_CHECKPOINTS: Final = (
    "SELECT issuer, seq, head, at, token, received_at FROM audit_checkpoints "
    "WHERE issuer = $1 ORDER BY seq, at, head"
)
# The newest $2 of an issuer (by seq), oldest first.
SELECT_CHECKPOINTS_NEWEST: Final = (
    "SELECT issuer, seq, head, at, token, received_at FROM ("
    "SELECT issuer, seq, head, at, token, received_at FROM audit_checkpoints "
    "WHERE issuer = $1 ORDER BY seq DESC, at DESC, head DESC LIMIT $2"
    ") AS newest ORDER BY seq, at, head"
)
# What a new checkpoint at seq $2 is compared with: those at the same seq, at the nearest seq
# below and above, and at the highest seq (each a primary-key lookup, never a scan of all).
SELECT_CHECKPOINTS_NEAR: Final = """
    SELECT issuer, seq, head, at, token, received_at FROM audit_checkpoints
    WHERE issuer = $1 AND seq IN (
        $2,
        (SELECT max(seq) FROM audit_checkpoints WHERE issuer = $1 AND seq < $2),
        (SELECT min(seq) FROM audit_checkpoints WHERE issuer = $1 AND seq > $2),
        (SELECT max(seq) FROM audit_checkpoints WHERE issuer = $1)
    )
    ORDER BY seq, at, head
"""
# Retention: checkpoints signed before $1, except those at each issuer's highest seq (the
# newest stays, so a rollback below it still shows).
DELETE_CHECKPOINTS_BEFORE: Final = """
    DELETE FROM audit_checkpoints
    WHERE at < $1 AND seq < (
        SELECT max(newest.seq) FROM audit_checkpoints AS newest
        WHERE newest.issuer = audit_checkpoints.issuer
    )
"""
