"""Per-method rate limits (token buckets, Slack's tiers) and fault injection."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_LIMITS", "Fault", "FaultInjector", "Limit", "RateLimiter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """``rate`` requests per second refill a bucket of ``burst``; keyed per workspace."""

    rate: float
    burst: int
    per_channel: bool = False


def _tier(per_minute: int) -> Limit:
    return Limit(rate=per_minute / 60, burst=max(per_minute, 10))


TIER_1: Final = _tier(1)
TIER_2: Final = _tier(20)
TIER_3: Final = _tier(50)
TIER_4: Final = _tier(100)
POST_MESSAGE: Final = Limit(rate=1.0, burst=10, per_channel=True)
"""Slack: about one message per second per channel, short bursts allowed."""

DEFAULT_LIMITS: Final[dict[str, Limit]] = {
    "apps.connections.open": TIER_1,
    "auth.test": TIER_4,
    "chat.postMessage": POST_MESSAGE,
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.getPermalink": _tier(300),  # Slack: "special", hundreds of requests per minute
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.info": TIER_3,
    "users.info": TIER_4,
    "files.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "reactions.add": TIER_3,
    "reactions.remove": TIER_2,
    "reactions.get": TIER_3,
    "usergroups.users.list": TIER_2,
    "views.open": TIER_4,
    "views.update": TIER_4,
}


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets keyed by (team, method[, channel]); ``check`` returns Retry-After or None."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limits: dict[str, Limit | None] = dict(DEFAULT_LIMITS)
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self.enabled = True

    def configure(self, method: str, limit: Limit | None) -> None:
        """Replace a method's limit; ``None`` removes it."""
        self._limits[method] = limit
        self._buckets = {k: v for k, v in self._buckets.items() if k[1] != method}

    def check(self, team_id: str, method: str, channel: str | None) -> int | None:
        limit = self._limits.get(method)
        if not self.enabled or limit is None:
            return None
        key = (team_id, method, (channel or "") if limit.per_channel else "")
        now = self._clock()
        bucket = self._buckets.setdefault(key, _Bucket(tokens=float(limit.burst), at=now))
        bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) * limit.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / limit.rate))


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A forced answer: ``status`` 429 means ``ratelimited`` with ``retry_after``."""

    error: str = "internal_error"
    status: int = 200
    retry_after: int = 1


class FaultInjector:
    """Queues of forced answers per method (and, where given, per workspace: only calls made
    with that workspace's tokens take them), consumed one call at a time."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str | None], deque[Fault]] = {}

    def fail_next(
        self, method: str, fault: Fault, times: int = 1, team: str | None = None
    ) -> None:
        self._queues.setdefault((method, team), deque()).extend([fault] * times)

    def take(self, method: str, team: str | None = None) -> Fault | None:
        queue = self._queues.get((method, team))
        return queue.popleft() if queue else None

    def pending(self, method: str, team: str | None = None) -> int:
        return len(self._queues.get((method, team), ()))
