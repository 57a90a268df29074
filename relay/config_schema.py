"""``relay.yaml``'s schema: the frozen dataclasses :func:`relay.config.load_config` builds.

Their defaults are :mod:`relay.core.defaults`; the YAML reading is :mod:`relay.config_sections`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from relay.config_files import FilesConfig
from relay.core import defaults
from relay.ocr.reader import DEFAULT_OCR, OcrSettings

__all__ = [
    "AdminConfig",
    "AuditConfig",
    "DeliveryConfig",
    "FederationConfig",
    "LoggingConfig",
    "OriginKeys",
    "PartnerLink",
    "PinnedKeyConfig",
    "RelayConfig",
    "Secret",
    "SlackConfig",
    "Supervisors",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PinnedKeyConfig:
    kid: str
    public_key: str  # base64url, 32 bytes
    not_before: dt.datetime
    not_after: dt.datetime
    revoked: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerLink:
    ori: str
    url: str
    tls_sha256: frozenset[str]  # pinned client/server certificate fingerprints (hex)
    keys: tuple[PinnedKeyConfig, ...]
    icon_url: str | None = None  # the icon this partner's posts show in our workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginKeys:
    """An agency heard from only through a relaying partner (``origins:``): its signing keys,
    pinned so that the origin signature of what it writes can be verified. No URL and no
    certificate: this relay never talks to it."""

    ori: str
    keys: tuple[PinnedKeyConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FederationConfig:
    host: str
    port: int
    tls_cert: Path
    tls_key: Path
    tls_ca: Path
    hop_limit: int
    clock_skew: dt.timedelta
    max_body_bytes: int
    read_timeout: float
    rate_per_second: float
    rate_burst: int
    envelope_ttl: dt.timedelta
    refusal_window: float = defaults.REFUSAL_WINDOW  # seconds
    refusals_kept: int = defaults.REFUSALS_KEPT
    files: FilesConfig = field(default_factory=FilesConfig)  # federation.files: pushed photos
    # what an accepted envelope may be (``relay.core.envelope_verify.verify_envelope``)
    envelope_max_age: dt.timedelta = defaults.ENVELOPE_MAX_AGE
    envelope_max_lifetime: dt.timedelta = defaults.ENVELOPE_MAX_LIFETIME


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfig:
    """The durable queues (``delivery:``): retries, dead letters, leases, shutdown."""

    max_age: dt.timedelta = defaults.MAX_AGE
    retry_base: float = defaults.RETRY_BASE
    retry_cap: float = defaults.RETRY_CAP
    lease: float = defaults.LEASE
    batch: int = defaults.BATCH
    poll: float = defaults.POLL
    stop_timeout: float = defaults.STOP_TIMEOUT


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminConfig:
    """The admin listener (``admin:``): ``/metrics``, ``/healthz``, ``/readyz``, ``/status``.
    Plain HTTP, separate from the federation and Slack listeners: bind it to loopback or a
    management network only."""

    host: str = defaults.ADMIN_HOST
    port: int = defaults.ADMIN_PORT


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditConfig:
    """The dissemination ledger (``audit:``)."""

    retention_days: int = (
        defaults.AUDIT_RETENTION_DAYS
    )  # never less: CJIS AU-11 and 28 CFR 23 keep a year at least
    checkpoint_interval: float = (
        defaults.CHECKPOINT_INTERVAL
    )  # seconds between signed checkpoints sent to partners
    # This agency's earlier signing keys (public keys only, ``kid`` ``OURORI#...``), each with
    # the window it signed in: ``relay audit verify`` checks the checkpoints signed before a
    # rotation against them.
    previous_keys: tuple[PinnedKeyConfig, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    """Logs (``logging:``): ``json`` for production, ``console`` for a terminal, ``auto``
    picks ``console`` when stderr is a terminal."""

    format: str = "auto"
    level: str = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    """Where a secret comes from: an environment variable or a file, never the YAML."""

    env: str | None = None
    file: Path | None = None

    def read(self) -> str | None:
        if self.env:
            value = os.environ.get(self.env)
            return value.strip() if value else None
        if self.file:
            try:
                return self.file.read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Supervisors:
    """``slack.supervisors``: who may act on any officer's post in this workspace: cancel a
    BOLO by reaction (``slack.cancel_reaction``); the supervisor's review (issue #16) uses the
    same list. Listed user ids, and the members of one user group (``usergroups:read``)."""

    users: frozenset[str] = frozenset()
    usergroup: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewConfig:
    """``slack.review``: the supervisor's review queue (issue 16) in a private channel of this
    workspace; who decides is ``slack.supervisors``."""

    channel: str  # a private channel id (G... or C...)
    redactions: bool = False  # also review what reviewable rules removed (not only blocks)
    expire_hours: float = defaults.REVIEW_EXPIRE_HOURS
    alert_minutes: float = defaults.REVIEW_ALERT_MINUTES
    reasons: tuple[str, ...] = defaults.REVIEW_REASONS


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackConfig:
    team_id: str
    mode: str  # "events" (HTTP) or "socket"
    api_url: str
    bot_token: Secret
    signing_secret: Secret
    app_token: Secret
    host: str
    port: int
    channels: dict[str, str]  # channel id -> topic
    icon_url: str | None
    # topic -> {partner ORI or "*": channel id}: where partners' posts land, when not in the
    # channel officers post the topic in
    partner_channels: dict[str, dict[str, str]] = field(default_factory=dict)
    pacing: bool = True  # false: no client-side pacing (an emulator without rate limits)
    catch_up_seconds: float = (
        defaults.SLACK_CATCH_UP
    )  # look for events Slack gave up delivering this often
    supervisors: Supervisors = Supervisors()
    cancel_reaction: str = defaults.SLACK_CANCEL_REACTION  # an emoji name, no colons
    # the emoji an author (or a supervisor) adds to be told each partner's outcome
    status_reaction: str = defaults.SLACK_STATUS_REACTION
    review: ReviewConfig | None = None  # no ``review:``: blocked messages simply do not go


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayConfig:
    source: str
    agency: str
    policy: Path
    signing_key: Path
    signing_kid: str
    store: str
    federation: FederationConfig
    partners: dict[str, PartnerLink]
    slack: SlackConfig | None = None
    origins: dict[str, OriginKeys] = field(default_factory=dict)  # keys pinned, no link
    delivery: DeliveryConfig = DeliveryConfig()
    admin: AdminConfig | None = None  # no ``admin:`` section: no admin listener
    audit: AuditConfig = AuditConfig()
    logging: LoggingConfig = LoggingConfig()
    ocr: OcrSettings = DEFAULT_OCR  # reading the text in photos (``ocr:``, docs/ocr.md)
    # a candidate policy judged beside the current one, never in force (docs/review.md)
    policy_candidate: Path | None = None
    # at most one sample of a difference per partner and kind this often (minutes)
    policy_candidate_sample_minutes: float = defaults.SHADOW_SAMPLE_MINUTES
