"""Prometheus metrics: one :class:`RelayMetrics` per relay, on its own ``CollectorRegistry``.

Names are ``relay_<thing>_<unit>`` with ``_total`` on counters. Label values come only from
closed sets — partner ORIs, topics, actions, reason codes, rule ids, directions, Slack
methods — and every value is checked against its set's shape before it becomes a label: a
value that does not fit is counted as ``other``. Never text, user ids or envelope ids.

The flow (outbound, inbound, the queues), the Slack side and the federation listener call
the methods below; the admin
listener (:mod:`relay.admin`) serves ``registry`` at ``GET /metrics``.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from relay import __version__
from relay.core.ids import is_kid, is_ori
from relay.store.contract import BlobUsage, QueueStat

__all__ = ["LATENCY_BUCKETS", "RelayMetrics"]

# No ``*_created`` series beside every counter: they double the series count and no alert or
# dashboard here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_TOPIC: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_RULE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_METHOD: Final = re.compile(r"^[a-z]+(\.[a-zA-Z]+){1,3}$")
_HEX: Final = re.compile(r"^[0-9a-f]{12,64}$")
OTHER: Final = "other"


def _fit(pattern: re.Pattern[str], value: str | None) -> str:
    return value if value is not None and pattern.match(value) else OTHER


def ori(value: str | None) -> str:
    return value if is_ori(value) else OTHER


def code(value: str | None) -> str:
    return _fit(_CODE, value)


def topic(value: str | None) -> str:
    return _fit(_TOPIC, value)


class RelayMetrics:
    """Every metric the relay exports. ``registry`` defaults to a new one, never the global
    default: two relays in one process (tests, ``relay demo``) keep their figures apart."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build = Info("relay_build", "Relay version and runtime.", registry=r)
        self.build.info({"version": __version__, "python": platform.python_version()})
        self.start_time = Gauge(
            "relay_start_time_seconds", "When this relay process started (POSIX).", registry=r
        )
        self.policy_info = Gauge(
            "relay_policy_info",
            "The loaded sharing policy (value 1), by agency and policy digest.",
            ["agency", "digest"],
            registry=r,
        )
        self.policy_loaded = Gauge(
            "relay_policy_loaded_timestamp_seconds", "When the policy was loaded.", registry=r
        )
        self.slack_received = Counter(
            "relay_slack_messages_received_total",
            "Messages received from this agency's Slack workspace in federated channels.",
            ["topic", "kind"],
            registry=r,
        )
        self.decisions = Counter(
            "relay_decisions_total",
            "Policy decisions, per partner (outbound) or sender (inbound).",
            ["direction", "partner", "topic", "action"],
            registry=r,
        )
        self.rule_hits = Counter(
            "relay_rule_hits_total",
            "Policy rules that fired, by rule id.",
            ["direction", "rule", "action"],
            registry=r,
        )
        self.sent = Counter(
            "relay_envelopes_sent_total",
            "Envelopes a partner relay accepted (outcome accepted or duplicate).",
            ["partner", "outcome"],
            registry=r,
        )
        self.send_failures = Counter(
            "relay_envelope_send_failures_total",
            "Failed delivery attempts to a partner relay, by reason code.",
            ["partner", "reason"],
            registry=r,
        )
        self.received = Counter(
            "relay_envelopes_received_total",
            "Envelopes accepted from partner relays (outcome new or duplicate).",
            ["partner", "topic", "outcome"],
            registry=r,
        )
        self.refused = Counter(
            "relay_envelopes_refused_total",
            "Envelopes and requests refused at the federation listener, by reason code.",
            ["partner", "reason"],
            registry=r,
        )
        self.dead = Counter(
            "relay_dead_letters_total",
            "Items given up on (dead letters), by queue, partner and reason code.",
            ["queue", "partner", "reason"],
            registry=r,
        )
        self.photos_unforwarded = Counter(
            "relay_photos_unforwarded_total",
            "Photos that could not be fetched from Slack and went as a line saying so.",
            ["topic", "reason"],
            registry=r,
        )
        self.posts = Counter(
            "relay_slack_posts_total",
            "Messages posted, edited, cancelled or deleted in this workspace for partners.",
            ["partner", "kind"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "relay_queue_depth",
            "Items in a durable queue, by queue (outbox, inbound), partner and state.",
            ["queue", "partner", "state"],
            registry=r,
        )
        self.queue_oldest = Gauge(
            "relay_queue_oldest_age_seconds",
            "Age of the oldest item waiting (not dead) in a queue, per partner.",
            ["queue", "partner"],
            registry=r,
        )
        self.slack_pending = Gauge(
            "relay_slack_events_pending",
            "Slack events taken and not yet processed.",
            registry=r,
        )
        self.slack_refused = Counter(
            "relay_slack_events_refused_total",
            "Signed Slack events acknowledged and not used (malformed, not JSON, ...), and "
            "stored events set aside, by reason code.",
            ["reason"],
            registry=r,
        )
        self.slack_rejected = Counter(
            "relay_slack_requests_rejected_total",
            "Unauthenticated requests to the Slack events listener refused, by reason code.",
            ["reason"],
            registry=r,
        )
        self.latency = Histogram(
            "relay_delivery_latency_seconds",
            "Latency per stage: queued (Slack event to outbox), sent (outbox to partner "
            "accepted), hop (previous relay signed to accepted here), posted (origin "
            "signed to posted in this workspace: Slack event to partner post).",
            ["stage", "partner"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.slack_calls = Counter(
            "relay_slack_api_calls_total",
            "Slack Web API calls, by method and outcome (ok or an error code).",
            ["method", "outcome"],
            registry=r,
        )
        self.rate_waits = Counter(
            "relay_slack_rate_limit_waits_total",
            "Times a Slack call waited for a rate limit (429 Retry-After or pacing).",
            ["method"],
            registry=r,
        )
        self.rate_wait_seconds = Counter(
            "relay_slack_rate_limit_wait_seconds_total",
            "Seconds spent waiting for Slack rate limits.",
            ["method"],
            registry=r,
        )
        self.slack_auth = Gauge(
            "relay_slack_auth_ok",
            "1 when the last Slack auth check passed, 0 when it failed, NaN before the first "
            "check (or with no Slack workspace configured).",
            registry=r,
        )
        self.audit_head = Gauge(
            "relay_audit_chain_head", "Sequence number of the audit chain head.", registry=r
        )
        self.audit_failures = Counter(
            "relay_audit_write_failures_total",
            "Audit writes that failed (forwarding stops until one succeeds).",
            registry=r,
        )
        self.audit_writable = Gauge(
            "relay_audit_writable",
            "1 while audit writes succeed; 0 while they fail and forwarding is stopped.",
            registry=r,
        )
        self.checkpoint_time = Gauge(
            "relay_audit_last_checkpoint_timestamp_seconds",
            "When this relay last signed a checkpoint of its audit chain.",
            registry=r,
        )
        self.checkpoints = Counter(
            "relay_audit_checkpoints_total",
            "Audit checkpoints sent to and received from partners, by outcome.",
            ["direction", "partner", "outcome"],
            registry=r,
        )
        self.receipts = Counter(
            "relay_receipts_total",
            "Signed receipts sent to the relays that sent us envelopes, and received from "
            "partners (kept, passed back or refused), by outcome: ok or a reason code.",
            ["direction", "partner", "outcome"],
            registry=r,
        )
        self.key_expiry = Gauge(
            "relay_key_expiry_timestamp_seconds",
            "When each pinned signing key stops being valid (POSIX), per kid.",
            ["agency", "kid"],
            registry=r,
        )
        self.shadow_judged = Counter(
            "relay_policy_shadow_judged_total",
            "Outbound decisions the candidate policy (policy_candidate) also made, never in "
            "force, per partner.",
            ["partner"],
            registry=r,
        )
        self.shadow_differences = Counter(
            "relay_policy_shadow_differences_total",
            "Candidate decisions that differ from the policy in force, per partner, kind "
            "(more_blocked, less_blocked, more_stripped, less_stripped, rules_changed) and "
            "rule id behind the difference.",
            ["partner", "kind", "rule"],
            registry=r,
        )
        self.shadow_errors = Counter(
            "relay_policy_shadow_errors_total",
            "Candidate judgements (judge) or difference samples (sample) that failed; the "
            "message went as the policy in force decided.",
            ["stage"],
            registry=r,
        )
        self.blob_bytes = Gauge(
            "relay_blobs_held_bytes",
            "Bytes of files held (photos partners pushed, and this relay's own until sent), by "
            "holder: the partner's ORI, or self.",
            ["holder"],
            registry=r,
        )
        self.blob_count = Gauge(
            "relay_blobs_held",
            "Files held, by holder (as relay_blobs_held_bytes).",
            ["holder"],
            registry=r,
        )
        self.audit_writable.set(1)
        self.slack_auth.set(float("nan"))  # no workspace checked (yet): neither up nor down

    # -- the calls the relay makes ------------------------------------------------------
    def policy(self, agency: str, digest: str, at: float) -> None:
        self.policy_info.clear()
        self.policy_info.labels(ori(agency), _fit(_HEX, digest[:12])).set(1)
        self.policy_loaded.set(at)

    def keys(self, expiries: Iterable[tuple[str, str, float]]) -> None:
        """``(agency, kid, not_after)`` of every pinned key with an end date."""
        self.key_expiry.clear()
        for agency, kid, until in expiries:
            self.key_expiry.labels(ori(agency), kid if is_kid(kid) else OTHER).set(until)

    def slack_message(self, topic_: str, kind: str) -> None:
        self.slack_received.labels(topic(topic_), code(kind)).inc()

    def decision(
        self, direction: str, partner: str, topic_: str, action: str, rules: Iterable[str]
    ) -> None:
        act = code(action)
        self.decisions.labels(code(direction), ori(partner), topic(topic_), act).inc()
        for rule in set(rules):
            self.rule_hits.labels(code(direction), _fit(_RULE, rule), act).inc()

    def shadow_judged_for(self, partner: str) -> None:
        self.shadow_judged.labels(ori(partner)).inc()

    def shadow_difference(self, partner: str, kind: str, rules: Iterable[str]) -> None:
        """The candidate's decision for ``partner`` differs in ``kind``, by ``rules``."""
        for rule in set(rules) or {"none"}:
            self.shadow_differences.labels(ori(partner), code(kind), _fit(_RULE, rule)).inc()

    def shadow_failed(self, stage: str) -> None:
        self.shadow_errors.labels(code(stage)).inc()

    def envelope_sent(self, partner: str, outcome: str, seconds: float | None = None) -> None:
        self.sent.labels(ori(partner), code(outcome)).inc()
        if seconds is not None:
            self.latency.labels("sent", ori(partner)).observe(max(0.0, seconds))

    def send_failed(self, partner: str, reason: str) -> None:
        self.send_failures.labels(ori(partner), code(reason)).inc()

    def envelope_received(self, partner: str, topic_: str, outcome: str) -> None:
        self.received.labels(ori(partner), topic(topic_), code(outcome)).inc()

    def envelope_refused(self, partner: str | None, reason: str) -> None:
        self.refused.labels(ori(partner) if partner else "unknown", code(reason)).inc()

    def dead_letter(self, queue: str, partner: str, reason: str) -> None:
        self.dead.labels(code(queue), ori(partner), code(reason)).inc()

    def photo_unforwarded(self, topic_: str, reason: str) -> None:
        self.photos_unforwarded.labels(topic(topic_), code(reason)).inc()

    def slack_event_refused(self, reason: str) -> None:
        self.slack_refused.labels(code(reason)).inc()

    def slack_request_rejected(self, reason: str) -> None:
        self.slack_rejected.labels(code(reason)).inc()

    def posted(self, partner: str, kind: str) -> None:
        self.posts.labels(ori(partner), code(kind)).inc()

    def observe(self, stage: str, partner: str, seconds: float) -> None:
        self.latency.labels(code(stage), ori(partner)).observe(max(0.0, seconds))

    def slack_call(self, method: str, outcome: str) -> None:
        self.slack_calls.labels(_fit(_METHOD, method), code(outcome)).inc()

    def rate_limited(self, method: str, seconds: float) -> None:
        m = _fit(_METHOD, method)
        self.rate_waits.labels(m).inc()
        self.rate_wait_seconds.labels(m).inc(max(0.0, seconds))

    def audit_appended(self, seq: int) -> None:
        self.audit_head.set(seq)
        self.audit_writable.set(1)

    def audit_failed(self) -> None:
        self.audit_failures.inc()
        self.audit_writable.set(0)

    def checkpoint(self, direction: str, partner: str, outcome: str) -> None:
        self.checkpoints.labels(code(direction), ori(partner), code(outcome)).inc()

    def receipt(self, direction: str, partner: str, outcome: str) -> None:
        self.receipts.labels(code(direction), ori(partner), code(outcome)).inc()

    def blob_stored(self, peer: str, size: int) -> None:
        """A file a partner pushed, kept (the sweep sets the figures again from the store)."""
        holder = ori(peer) if peer else "self"
        self.blob_bytes.labels(holder).inc(size)
        self.blob_count.labels(holder).inc()

    def blobs_held(self, usage: Iterable[BlobUsage]) -> None:
        """Set the file gauges from the store's figures (after each sweep)."""
        self.blob_bytes.clear()
        self.blob_count.clear()
        for u in usage:
            holder = ori(u.peer) if u.peer else "self"
            self.blob_bytes.labels(holder).inc(u.size)
            self.blob_count.labels(holder).inc(u.count)

    def queues(self, stats: Iterable[QueueStat], *, now: float, pending_events: int) -> None:
        """Set the queue gauges from the store's figures (at every scrape)."""
        self.queue_depth.clear()
        self.queue_oldest.clear()
        oldest: dict[tuple[str, str], float] = {}
        for s in stats:
            key = (code(s.queue), ori(s.peer))
            self.queue_depth.labels(*key, code(s.state)).inc(s.count)
            if s.state != "dead" and s.count:
                oldest[key] = min(oldest.get(key, s.oldest), s.oldest)
        for key, created in oldest.items():
            self.queue_oldest.labels(*key).set(max(0.0, now - created))
        self.slack_pending.set(pending_events)
