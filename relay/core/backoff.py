"""What becomes of a delivery attempt: pure arithmetic over times and a reason code.

Exponential backoff with full jitter, capped, ``Retry-After`` honoured; a message older than
``max_age`` or past its envelope's expiry goes to the dead letters instead of being tried
again (an expired BOLO is never delivered late); a refusal no retry can help goes there at
once. Times are POSIX seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from relay.core import defaults

__all__ = ["DONE", "Attempt", "Backoff", "after_failure", "before_attempt"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """What became of an attempt: ``done``, ``pending`` again at ``next_at``, or ``dead``."""

    state: str
    next_at: float = 0.0
    reason: str | None = None  # a reason code, never text


DONE = Attempt(state="done")


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    base: float = defaults.RETRY_BASE  # the first retry waits up to this
    cap: float = defaults.RETRY_CAP  # no wait is longer
    max_age: float = defaults.MAX_AGE.total_seconds()  # older: dead letter ``max_age``

    def delay(self, attempts: int, rng: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempts-1))]."""
        # 2.0 ** 1024 raises OverflowError (an item retried that often, e.g. after many short
        # Retry-After answers); 2.0 ** 1023 times any sensible base is past the cap already.
        exponent = min(max(0, attempts - 1), 1023)
        return rng() * min(self.cap, self.base * 2.0**exponent)


def before_attempt(
    *, created_at: float, expires_at: float, now: float, backoff: Backoff
) -> Attempt | None:
    """A dead letter if the item must not be tried any more, else None (go ahead)."""
    if now >= expires_at:
        return Attempt(state="dead", reason="expired")
    if now - created_at > backoff.max_age:
        return Attempt(state="dead", reason="max_age")
    return None


def after_failure(
    *,
    code: str,
    retryable: bool,
    retry_after: float | None,
    attempts: int,
    created_at: float,
    expires_at: float,
    now: float,
    backoff: Backoff,
    rng: Callable[[], float],
) -> Attempt:
    """The item's next state after a failed attempt with reason ``code``."""
    if not retryable:
        return Attempt(state="dead", reason=code)
    wait = retry_after if retry_after is not None else backoff.delay(attempts, rng)
    wait = min(max(wait, 0.0), backoff.cap)
    due = now + wait
    if due >= expires_at:
        return Attempt(state="dead", reason="expired")
    if due - created_at > backoff.max_age:
        return Attempt(state="dead", reason="max_age")
    return Attempt(state="pending", next_at=due, reason=code)
