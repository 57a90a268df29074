"""The store's schema: numbered migrations and the schema version. The statements of each role
live with it (``sql_inbox``, ``sql_outbox``, ``sql_inbound``, ``sql_leases``, ``sql_admin``,
``sql_posts``, ``sql_refusals``, ``sql_audit``), all written once, the same way: PostgreSQL
syntax with ``$1`` placeholders.

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
    # 6: federated channels Slack moved to a new id (channel_id_changed), in order: the
    #    relay's channel map survives a restart
    (
        """
        CREATE TABLE channel_moves (
            seq BIGSERIAL PRIMARY KEY,
            old_id TEXT NOT NULL,
            new_id TEXT NOT NULL,
            at TEXT NOT NULL
        )
        """,
    ),
    # 7: receipts: those this relay owes the relays that sent it envelopes (signed tokens,
    #    sent and deleted), and those it received about its own envelopes (ids and codes)
    (
        """
        CREATE TABLE receipts_out (
            id TEXT PRIMARY KEY,
            peer TEXT NOT NULL,
            token TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            next_at DOUBLE PRECISION NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX receipts_out_due ON receipts_out (next_at)",
        """
        CREATE TABLE receipts (
            id TEXT PRIMARY KEY,
            envelope_id TEXT NOT NULL,
            reporter TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            at TEXT NOT NULL,
            received_at TEXT NOT NULL
        )
        """,
        "CREATE INDEX receipts_envelope ON receipts (envelope_id)",
    ),
    # 8: a relay post found by where it is (a reply made in its thread answers its origin)
    ("CREATE INDEX posted_at ON posted (channel, ts)",),
    # 9: an envelope's outbox rows found by its id (receipts, the author's view)
    ("CREATE INDEX outbox_envelope ON outbox (envelope_id)",),
    # 10: refusals counted per peer, reason and window of time (the refusals table keeps only
    #     the last individual ones)
    (
        """
        CREATE TABLE refusal_windows (
            peer TEXT NOT NULL,
            reason TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            count BIGINT NOT NULL,
            closed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (peer, reason, started_at)
        )
        """,
        "CREATE INDEX refusal_windows_started ON refusal_windows (started_at)",
    ),
    # 11: files held per partner (who pushed each, its size, when: quota and sweep), and the
    #     envelopes naming each file (a file is deleted once none of them needs it). Files
    #     from before get a NULL push time: the first sweep gives them the legacy hold.
    (
        "ALTER TABLE blobs ADD COLUMN peer TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE blobs ADD COLUMN size BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE blobs ADD COLUMN pushed_at DOUBLE PRECISION",
        "UPDATE blobs SET size = length(data)",
        "CREATE INDEX blobs_peer ON blobs (peer)",
        """
        CREATE TABLE blob_names (
            id BIGSERIAL PRIMARY KEY,
            sha256 TEXT NOT NULL,
            queue TEXT NOT NULL,
            party TEXT NOT NULL,
            envelope_id TEXT NOT NULL,
            named_at DOUBLE PRECISION NOT NULL,
            UNIQUE (sha256, queue, party, envelope_id)
        )
        """,
    ),
    # 12: the supervisor's review queue (issue 16): ids, codes and Slack places only
    (
        """
        CREATE TABLE reviews (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            digest TEXT NOT NULL,
            author TEXT NOT NULL,
            topic TEXT NOT NULL,
            partners TEXT NOT NULL,
            policy TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            card_channel TEXT NOT NULL,
            card_ts TEXT NOT NULL,
            card_state TEXT NOT NULL DEFAULT '',
            decided_by TEXT NOT NULL,
            decided_at DOUBLE PRECISION,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL,
            mode TEXT NOT NULL
        )
        """,
        "CREATE INDEX reviews_state ON reviews (state, created_at)",
        """
        CREATE TABLE releases (
            envelope_id TEXT NOT NULL,
            partner TEXT NOT NULL,
            mode TEXT NOT NULL,
            PRIMARY KEY (envelope_id, partner)
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

PING: Final = "SELECT 1"
