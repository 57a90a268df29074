"""relay/core/backoff.py: what becomes of a delivery attempt (pure arithmetic, fixed rng)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.backoff import DONE, Attempt, Backoff, after_failure, before_attempt

NOW: Final = 1_800_000_000.0
FAR: Final = NOW + 365 * 86400.0
BACKOFF: Final = Backoff(base=0.5, cap=300.0, max_age=86400.0)
SETTINGS: Final = settings(max_examples=200, deadline=None, database=None, derandomize=True)


def _top() -> float:
    return 1.0


def _bottom() -> float:
    return 0.0


def _fail(
    *,
    attempts: int = 1,
    code: str = "http_503",
    retryable: bool = True,
    retry_after: float | None = None,
    created_at: float = NOW,
    expires_at: float = FAR,
    now: float = NOW,
    backoff: Backoff = BACKOFF,
    rng: Callable[[], float] = _top,
) -> Attempt:
    return after_failure(
        code=code,
        retryable=retryable,
        retry_after=retry_after,
        attempts=attempts,
        created_at=created_at,
        expires_at=expires_at,
        now=now,
        backoff=backoff,
        rng=rng,
    )


def test_done_is_a_plain_done() -> None:
    assert Attempt(state="done") == DONE
    assert (DONE.next_at, DONE.reason) == (0.0, None)


def test_defaults() -> None:
    backoff = Backoff()
    assert (backoff.base, backoff.cap, backoff.max_age) == (0.5, 300.0, 86400.0)


# -- full jitter -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempts", "ceiling"),
    [
        (0, 0.5),  # never less than the first step
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (4, 4.0),
        (9, 128.0),
        (10, 256.0),
        (11, 300.0),  # 512 capped
        (50, 300.0),
    ],
)
def test_delay_with_the_top_of_the_jitter_is_the_capped_exponential(
    attempts: int, ceiling: float
) -> None:
    assert BACKOFF.delay(attempts, _top) == ceiling
    assert BACKOFF.delay(attempts, _bottom) == 0.0
    assert BACKOFF.delay(attempts, lambda: 0.25) == ceiling / 4


def test_delay_scales_with_base_and_cap() -> None:
    backoff = Backoff(base=2.0, cap=10.0)
    assert [backoff.delay(n, _top) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize("attempts", [1024, 1025, 1026, 5000, 10**9])
def test_delay_after_very_many_attempts_is_the_cap(attempts: int) -> None:
    """``2.0 ** 1024`` overflows: an item retried that often (short Retry-After answers, a
    long max_age) must still get a delay, not raise out of the dispatcher."""
    assert BACKOFF.delay(attempts, _top) == BACKOFF.cap
    assert BACKOFF.delay(attempts, _bottom) == 0.0
    assert Backoff(base=4.0).delay(attempts, _top) == 300.0
    result = _fail(attempts=attempts)
    assert result == Attempt(state="pending", next_at=NOW + BACKOFF.cap, reason="http_503")


def test_a_retryable_failure_waits_the_jittered_delay() -> None:
    retry = Attempt(state="pending", next_at=NOW + 2.0, reason="http_503")
    assert _fail(attempts=3, rng=_top) == retry
    assert _fail(attempts=3, rng=_bottom) == Attempt(
        state="pending", next_at=NOW, reason="http_503"
    )
    assert _fail(attempts=3, rng=lambda: 0.5).next_at == NOW + 1.0


def test_the_cap_is_honoured() -> None:
    assert _fail(attempts=30).next_at == NOW + 300.0
    small = Backoff(base=1.0, cap=5.0)
    assert _fail(attempts=30, backoff=small).next_at == NOW + 5.0


# -- Retry-After -------------------------------------------------------------------------------
def test_retry_after_replaces_the_jittered_delay() -> None:
    result = _fail(attempts=1, retry_after=42.0, rng=_bottom)
    assert result == Attempt(state="pending", next_at=NOW + 42.0, reason="http_503")
    assert _fail(attempts=20, retry_after=3.0).next_at == NOW + 3.0
    assert _fail(retry_after=0.0).next_at == NOW


def test_retry_after_is_capped_and_never_negative() -> None:
    assert _fail(retry_after=3600.0).next_at == NOW + 300.0
    assert _fail(retry_after=float("inf")).next_at == NOW + 300.0
    assert _fail(retry_after=-5.0).next_at == NOW


# -- dead letters ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["http_400", "signature", "revoked"])
def test_a_failure_no_retry_can_help_is_dead_with_its_code(code: str) -> None:
    assert _fail(code=code, retryable=False) == Attempt(state="dead", reason=code)
    assert _fail(code=code, retryable=False, retry_after=1.0).state == "dead"


def test_an_expired_envelope_is_not_attempted() -> None:
    expired = Attempt(state="dead", reason="expired")
    go = before_attempt(created_at=NOW, expires_at=NOW + 1, now=NOW, backoff=BACKOFF)
    assert go is None
    assert before_attempt(created_at=NOW, expires_at=NOW, now=NOW, backoff=BACKOFF) == expired
    assert before_attempt(created_at=NOW, expires_at=NOW, now=NOW + 9, backoff=BACKOFF) == expired


def test_a_retry_that_would_land_after_expiry_is_dead_expired() -> None:
    expired = Attempt(state="dead", reason="expired")
    assert _fail(attempts=3, expires_at=NOW + 1.5) == expired  # the retry would be at +2
    assert _fail(attempts=3, expires_at=NOW + 2.0) == expired  # at the expiry is too late
    assert _fail(attempts=3, expires_at=NOW + 2.5).next_at == NOW + 2.0
    assert _fail(retry_after=60.0, expires_at=NOW + 30.0) == expired


def test_an_item_older_than_max_age_is_dead_max_age() -> None:
    max_age = Attempt(state="dead", reason="max_age")
    old = NOW - BACKOFF.max_age
    assert before_attempt(created_at=old, expires_at=FAR, now=NOW, backoff=BACKOFF) is None
    too_old = old - 0.001
    assert before_attempt(created_at=too_old, expires_at=FAR, now=NOW, backoff=BACKOFF) == max_age
    # Expiry is checked first: an expired envelope says so.
    assert before_attempt(created_at=too_old, expires_at=NOW, now=NOW, backoff=BACKOFF) == (
        Attempt(state="dead", reason="expired")
    )
    # The next retry would land past max_age.
    assert _fail(attempts=3, created_at=old + 1.0) == max_age
    assert _fail(attempts=3, created_at=old + 2.0).next_at == NOW + 2.0


# -- properties --------------------------------------------------------------------------------
_times = st.floats(min_value=0.0, max_value=4e9, allow_nan=False)
_spans = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@SETTINGS
@given(
    attempts=st.integers(min_value=0, max_value=100_000),
    retryable=st.booleans(),
    retry_after=st.none() | st.floats(min_value=-1e6, max_value=1e9, allow_nan=False),
    now=_times,
    age=_spans,
    lifetime=st.floats(min_value=-1e3, max_value=1e7, allow_nan=False),
    base=st.floats(min_value=0.001, max_value=100.0),
    cap=st.floats(min_value=0.0, max_value=3600.0),
    max_age=st.floats(min_value=1.0, max_value=1e6),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_after_failure_is_always_bounded(
    attempts: int,
    retryable: bool,
    retry_after: float | None,
    now: float,
    age: float,
    lifetime: float,
    base: float,
    cap: float,
    max_age: float,
    jitter: float,
) -> None:
    backoff = Backoff(base=base, cap=cap, max_age=max_age)
    created_at = now - age
    expires_at = now + lifetime
    result = _fail(
        code="timeout",
        attempts=attempts,
        retryable=retryable,
        retry_after=retry_after,
        created_at=created_at,
        expires_at=expires_at,
        now=now,
        backoff=backoff,
        rng=lambda: jitter,
    )
    assert result.state in ("pending", "dead")
    if result.state == "pending":
        assert retryable
        assert result.reason == "timeout"
        assert now <= result.next_at <= now + cap
        assert result.next_at < expires_at
        assert result.next_at - created_at <= max_age
        if retry_after is None:
            assert result.next_at <= now + backoff.delay(attempts, _top)
    else:
        assert result.reason in ("timeout", "expired", "max_age")
        assert (result.reason == "timeout") is not retryable


@SETTINGS
@given(attempts=st.integers(min_value=0, max_value=10**6), jitter=st.floats(0.0, 1.0))
def test_delay_is_within_the_jitter_window(attempts: int, jitter: float) -> None:
    ceiling = BACKOFF.delay(attempts, _top)
    assert 0.0 < ceiling <= BACKOFF.cap
    assert 0.0 <= BACKOFF.delay(attempts, lambda: jitter) <= ceiling
    assert ceiling <= BACKOFF.delay(attempts + 1, _top)  # never shrinks as attempts grow


@SETTINGS
@given(now=_times, age=_spans, lifetime=st.floats(-1e6, 1e6, allow_nan=False))
def test_before_attempt_is_dead_exactly_when_expired_or_too_old(
    now: float, age: float, lifetime: float
) -> None:
    result = before_attempt(
        created_at=now - age, expires_at=now + lifetime, now=now, backoff=BACKOFF
    )
    if now >= now + lifetime:
        assert result == Attempt(state="dead", reason="expired")
    elif now - (now - age) > BACKOFF.max_age:
        assert result == Attempt(state="dead", reason="max_age")
    else:
        assert result is None
