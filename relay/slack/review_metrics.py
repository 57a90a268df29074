"""The review queue's metrics (issue 16): cards waiting, the oldest one's age, decisions by
outcome, and the configured alert threshold (the alert rule compares the two)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["ReviewMetrics"]


class ReviewMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge(
            "relay_review_cards_open",
            "Held messages waiting for a supervisor's decision (cards open).",
            registry=registry,
        )
        self.oldest = Gauge(
            "relay_review_oldest_age_seconds",
            "How long the oldest open review card has waited (0: none open).",
            registry=registry,
        )
        self.alert_after = Gauge(
            "relay_review_alert_after_seconds",
            "slack.review.alert_minutes in seconds: a card waiting longer alerts.",
            registry=registry,
        )
        self.decisions = Counter(
            "relay_review_decisions_total",
            "Review decisions by outcome: released, kept, expired.",
            ["outcome"],
            registry=registry,
        )
