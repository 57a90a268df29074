"""Every default the relay runs with, defined once.

``relay.yaml`` (:mod:`relay.config`) documents and may override most of them (the key is named
beside each); the library's own defaults (the envelope verifier, the queues, the peer client)
are these same values. Durations are in seconds unless a ``timedelta``.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

__all__ = [
    "ADMIN_HOST",
    "ADMIN_PORT",
    "AUDIT_RETENTION_DAYS",
    "BATCH",
    "CHECKPOINT_BODY_BYTES",
    "CHECKPOINT_INTERVAL",
    "CHECKPOINT_SKEW",
    "CLOCK_SKEW",
    "ENVELOPE_MAX_AGE",
    "ENVELOPE_MAX_LIFETIME",
    "ENVELOPE_TTL",
    "EVENT_RETRY",
    "FEDERATION_HOST",
    "FEDERATION_PORT",
    "FILES_LEGACY_HOLD",
    "FILES_ORPHAN_GRACE",
    "FILES_QUOTA_BYTES",
    "FILES_QUOTA_COUNT",
    "FILES_SWEEP_BATCH",
    "FILES_SWEEP_INTERVAL",
    "HOP_LIMIT",
    "LEASE",
    "MAX_AGE",
    "MAX_BODY_BYTES",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "PEER_ATTEMPTS",
    "PEER_RETRY_BASE",
    "PEER_RETRY_CAP",
    "PEER_TIMEOUT",
    "POLL",
    "RATE_BURST",
    "RATE_PER_SECOND",
    "READ_TIMEOUT",
    "RETRY_BASE",
    "RETRY_CAP",
    "SLACK_API_URL",
    "SLACK_CATCH_UP",
    "SLACK_HOST",
    "SLACK_PORT",
    "STOP_TIMEOUT",
    "STORE_URL",
    "TRANSACTION_BYTES",
    "TRANSACTION_ENVELOPES",
    "VERIFY_SKEW",
]

# -- envelopes ---------------------------------------------------------------------------------
HOP_LIMIT: Final = 4  # federation.hop_limit: hops an envelope may carry (we send what we accept)
ENVELOPE_TTL: Final = dt.timedelta(days=30)  # federation.envelope_ttl_days
# What an accepted envelope may be: its newest signature (``iat``, or the last hop's ``at``) at
# most this old, longer than a sender's outbox keeps it (delivery.max_age_hours) plus the skew;
# and ``exp - iat`` at most the lifetime, what a relay signs by default (envelope_ttl_days).
ENVELOPE_MAX_AGE: Final = dt.timedelta(hours=48)  # federation.envelope_max_age_hours
ENVELOPE_MAX_LIFETIME: Final = ENVELOPE_TTL  # federation.envelope_max_lifetime_days
CLOCK_SKEW: Final = dt.timedelta(seconds=120)  # federation.clock_skew_seconds (a running relay)
VERIFY_SKEW: Final = dt.timedelta(seconds=60)  # verify_envelope's own, `relay envelope verify`
CHECKPOINT_SKEW: Final = dt.timedelta(minutes=5)  # an audit checkpoint's time ahead of ours

# -- the federation listener and its peers ----------------------------------------------------
FEDERATION_HOST: Final = "127.0.0.1"  # federation.listen.host
FEDERATION_PORT: Final = 8443  # federation.listen.port
MAX_BODY_BYTES: Final = 1 << 20  # federation.max_body_bytes: one envelope
TRANSACTION_ENVELOPES: Final = 100  # envelopes in one POST /v1/transactions, at most
TRANSACTION_BYTES: Final = 1 << 20  # a sender keeps a transaction's body under this
MAX_FILE_BYTES: Final = 10 << 20  # one file pushed with PUT /v1/files/{sha256}
MAX_IMAGE_PIXELS: Final = 40_000_000  # a pushed image decodes to at most this many pixels
FILES_QUOTA_BYTES: Final = 200 << 20  # federation.files.partner_quota_bytes: held per partner
FILES_QUOTA_COUNT: Final = 5_000  # federation.files.partner_quota_files: held per partner
FILES_ORPHAN_GRACE: Final = 3600.0  # federation.files.orphan_grace_seconds: unnamed, kept
FILES_SWEEP_INTERVAL: Final = 60.0  # federation.files.sweep_interval_seconds
FILES_SWEEP_BATCH: Final = 200  # files deleted in one sweep transaction, at most
FILES_LEGACY_HOLD: Final = 30 * 86400.0  # files from before migration 10: kept this long
CHECKPOINT_BODY_BYTES: Final = 8192  # POST /v1/audit/checkpoints
RECEIPT_BATCH: Final = 100  # receipts in one POST /v1/receipts
RECEIPT_BODY_BYTES: Final = RECEIPT_BATCH * 2200  # a receipt token is at most 2048 chars
READ_TIMEOUT: Final = 10.0  # federation.read_timeout_seconds: a request body arrives within
RATE_PER_SECOND: Final = 20.0  # federation.rate_limit.per_second, per peer
RATE_BURST: Final = 100  # federation.rate_limit.burst
REFUSAL_WINDOW: Final = 60.0  # federation.refusals.window_seconds: refusals counted per window
REFUSALS_KEPT: Final = 1000  # federation.refusals.keep: the last refusals kept one by one
PEER_TIMEOUT: Final = 10.0  # one call to a partner relay
PEER_ATTEMPTS: Final = 5  # tries of one call before it counts as failed
PEER_RETRY_BASE: Final = 0.25  # backoff between those tries (full jitter, capped)
PEER_RETRY_CAP: Final = 30.0

# -- the durable queues (delivery:) -------------------------------------------------------------
MAX_AGE: Final = dt.timedelta(hours=24)  # delivery.max_age_hours: older is a dead letter
RETRY_BASE: Final = 0.5  # delivery.retry_base_seconds
RETRY_CAP: Final = 300.0  # delivery.retry_cap_seconds
LEASE: Final = 30.0  # delivery.lease_seconds: an instance holds an item before others may
BATCH: Final = 64  # delivery.batch: items leased at once
POLL: Final = 1.0  # delivery.poll_seconds: between looks when nothing wakes the loop
EVENT_RETRY: Final = 5.0  # a Slack event that failed for now (Slack, store, ledger away) waits
STOP_TIMEOUT: Final = 10.0  # delivery.stop_timeout_seconds: finishing the batches in hand

# -- admin, audit, store, Slack ----------------------------------------------------------------
ADMIN_HOST: Final = "127.0.0.1"  # admin.listen.host: loopback or a management network only
ADMIN_PORT: Final = 9469  # admin.listen.port
AUDIT_RETENTION_DAYS: Final = 365  # audit.retention_days, and its floor (CJIS AU-11)
CHECKPOINT_INTERVAL: Final = 300.0  # audit.checkpoint_interval_seconds
STORE_URL: Final = "sqlite:///relay.db"  # store
SLACK_API_URL: Final = "https://slack.com/api/"  # slack.api_url
SLACK_HOST: Final = "127.0.0.1"  # slack.listen.host
SLACK_PORT: Final = 3000  # slack.listen.port
SLACK_CATCH_UP: Final = 60.0  # slack.catch_up_seconds
SLACK_CANCEL_REACTION: Final = "no_entry"  # slack.cancel_reaction: the author's cancel emoji
SLACK_STATUS_REACTION: Final = "grey_question"  # slack.status_reaction: "what did partners do?"
REVIEW_EXPIRE_HOURS: Final = 24.0  # slack.review.expire_hours: an unreviewed card expires
REVIEW_ALERT_MINUTES: Final = 60.0  # slack.review.alert_minutes: a card waiting this long alerts
REVIEW_REASONS: Final = ("officer_safety", "public_safety", "investigative_need", "other")
SUPERVISOR_GROUP_TTL: Final = 60.0  # seconds slack.supervisors.usergroup's members are kept
SHADOW_SAMPLE_MINUTES: Final = 10.0  # policy_candidate_sample_minutes: one sample per partner+kind
