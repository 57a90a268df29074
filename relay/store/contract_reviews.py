"""The reviews role of the store contract (:mod:`relay.store.contract`): the supervisor's
review queue (issue 16). Ids, codes and Slack places only; the message's text stays in Slack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ReviewRow", "Reviews"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRow:
    """One message the policy stopped and a supervisor may release.

    ``partners``: JSON of ``[{"partner", "rules", "modes"}]`` (rule ids and release modes).
    ``state``: ``pending`` (card not posted yet), ``open``, ``released``, ``kept``,
    ``expired``, ``superseded`` (the message was edited or deleted)."""

    id: str  # the message's envelope id
    channel: str
    ts: str
    digest: str  # sha256 of the message as judged (its text and files): a later edit differs
    author: str
    topic: str
    partners: str
    policy: str
    state: str = "pending"
    created_at: float = 0.0
    expires_at: float = 0.0
    card_channel: str = ""
    card_ts: str = ""
    decided_by: str = ""
    outcome: str = ""
    reason: str = ""
    mode: str = ""


class Reviews(Protocol):
    def open_review(self, row: ReviewRow) -> bool:
        """Kept (True), or a review of this message exists (False: nothing changes)."""

    def review(self, review_id: str) -> ReviewRow | None: ...

    def reviews_to_post(self, *, limit: int) -> list[ReviewRow]:
        """Reviews whose card is not posted yet, oldest first."""

    def review_posted(self, review_id: str, *, channel: str, ts: str) -> None:
        """The card is in Slack: the review is ``open`` (unless decided meanwhile)."""

    def decide_review(
        self, review_id: str, *, outcome: str, by: str, reason: str, mode: str, at: float
    ) -> bool:
        """Taken once: True when the review was pending or open and now carries the
        decision; False when it was decided, expired or superseded before."""

    def update_review(self, review_id: str, *, digest: str, partners: str) -> bool:
        """An edit still to be reviewed: the review (pending or open) now judges it; its card
        is to be posted again in place. False when there is no such review waiting."""

    def close_review(self, review_id: str, *, outcome: str, at: float) -> bool:
        """Closed without a reviewer (``superseded``): True when it was waiting."""

    def cards_to_refresh(self, *, limit: int) -> list[ReviewRow]:
        """Reviews whose card shows an older state than the row (updated or closed)."""

    def card_refreshed(self, review_id: str, *, state: str) -> None:
        """The card now shows ``state``."""

    def expire_reviews(self, *, now: float, limit: int) -> list[ReviewRow]:
        """Open or pending reviews past their time, now ``expired`` (as they were before)."""

    def review_stats(self) -> tuple[int, float | None]:
        """Reviews waiting (pending or open), and when the oldest was opened."""

    def record_release(self, envelope_id: str, partner: str, mode: str) -> None:
        """A reviewer released ``envelope_id`` to ``partner`` in ``mode``: its edits follow."""

    def released_mode(self, envelope_id: str, partner: str) -> str | None: ...
