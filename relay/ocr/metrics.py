"""What the OCR counts (issue 17): photos read by outcome, and how long a reading took.
Codes and durations only: never the text."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["OUTCOMES", "OcrMetrics"]

# read, or why not: the closed set of the ``outcome`` label
OUTCOMES: Final = frozenset(
    {"read", "cached", "ocr_timeout", "ocr_error", "ocr_unavailable", "unreadable_image"}
)


class OcrMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.photos = Counter(
            "relay_ocr_photos_total",
            "Photos the OCR was asked to read, by outcome (read, cached, or why not).",
            ["outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "relay_ocr_seconds",
            "Time to read one photo in the OCR's worker pool (cache hits not counted).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0),
            registry=registry,
        )

    def observe(self, outcome: str, seconds: float | None) -> None:
        self.photos.labels(outcome if outcome in OUTCOMES else "ocr_error").inc()
        if seconds is not None:
            self.seconds.observe(max(0.0, seconds))
