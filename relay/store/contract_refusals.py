"""The refusal windows of the store contract (:mod:`relay.store.contract`): how often a peer
was refused for one reason in one window of time (counts and codes, never content)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["RefusalWindow"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalWindow:
    """A peer's refusals for one reason from ``started``: ``count`` of them up to ``ended``
    (the window's end once ``closed``; the last count taken while it is open)."""

    peer: str  # the TLS peer's ORI, or "unknown"
    reason: str  # a reason code
    started: dt.datetime
    ended: dt.datetime
    count: int
    closed: bool
