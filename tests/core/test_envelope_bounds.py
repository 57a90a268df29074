"""Envelope time bounds (issue 15): ``iat`` against the signing key's window, the age of the
newest signature, the lifetime ``exp - iat``; and the marking claim, present or absent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.core.defaults import ENVELOPE_MAX_AGE, ENVELOPE_MAX_LIFETIME, ENVELOPE_TTL, MAX_AGE
from relay.core.envelope import EnvelopeId, verify_envelope
from relay.core.envelope_verify import DEFAULT_SKEW
from relay.core.keys import Keyring
from relay.core.model import AgencyId
from relay.core.reasons import Reason
from relay.errors import VerificationError
from tests.core.test_envelope import KEYS, RING, T0, A, B, C, as_wire, hop, kid, origin, pin

NOW = T0 + timedelta(minutes=5)
SKEW = DEFAULT_SKEW


def code(data: Any, *, now: datetime = NOW, ring: Keyring = RING, **kw: Any) -> str:
    with pytest.raises(VerificationError) as info:
        verify_envelope(data, ring, now=now, receiver=B, **kw)
    return info.value.code


def ring_with_a_from(not_before: datetime) -> Keyring:
    return Keyring.of([pin(A, not_before=not_before), *(pin(x) for x in KEYS if x != A)])


def test_the_defaults_hold_a_senders_queue_and_the_ttl_we_sign() -> None:
    assert MAX_AGE + timedelta(seconds=120) < ENVELOPE_MAX_AGE
    assert ENVELOPE_MAX_LIFETIME == ENVELOPE_TTL == timedelta(days=30)


def test_iat_before_the_origin_keys_window_is_refused() -> None:
    """An envelope dated before its key was pinned to sign could only be backdated."""
    ring = ring_with_a_from(T0 + SKEW + timedelta(seconds=1))
    assert code(as_wire(origin()), ring=ring) == Reason.ISSUED_BEFORE_KEY


def test_iat_within_the_skew_of_the_keys_window_is_accepted() -> None:
    ring = ring_with_a_from(T0 + SKEW)
    got = verify_envelope(as_wire(origin()), ring, now=NOW, receiver=B)
    assert got.issued_at == T0


def test_a_hop_dated_before_its_keys_window_is_refused() -> None:
    env = hop(origin(), B, frm=A, to=C, minutes=1)
    ring = Keyring.of([pin(B, not_before=T0 + timedelta(minutes=1) + SKEW + timedelta(seconds=1))]
                      + [pin(x) for x in KEYS if x != B])  # fmt: skip
    with pytest.raises(VerificationError) as info:
        verify_envelope(as_wire(env), ring, now=NOW, receiver=C)
    assert info.value.code == Reason.ISSUED_BEFORE_KEY


def test_a_ten_year_lifetime_is_refused() -> None:
    env = origin(expires_at=T0 + timedelta(days=3650))
    assert code(as_wire(env)) == Reason.LIFETIME_TOO_LONG


def test_the_lifetime_bound_is_inclusive_and_configurable() -> None:
    at_limit = origin(expires_at=T0 + ENVELOPE_MAX_LIFETIME)
    verify_envelope(as_wire(at_limit), RING, now=NOW, receiver=B)
    over = origin(expires_at=T0 + ENVELOPE_MAX_LIFETIME + timedelta(seconds=1))
    assert code(as_wire(over)) == Reason.LIFETIME_TOO_LONG
    short = origin(expires_at=T0 + timedelta(hours=2))
    assert code(as_wire(short), max_lifetime=timedelta(hours=1)) == Reason.LIFETIME_TOO_LONG


def test_an_envelope_older_than_the_max_age_is_refused() -> None:
    env = origin(expires_at=T0 + timedelta(days=10))
    later = T0 + ENVELOPE_MAX_AGE
    verify_envelope(as_wire(env), RING, now=later, receiver=B)  # exactly at the limit
    assert code(as_wire(env), now=later + timedelta(seconds=1)) == Reason.TOO_OLD
    assert code(as_wire(env), now=T0 + timedelta(hours=2), max_age=timedelta(hours=1)) == (
        Reason.TOO_OLD
    )


def test_a_relayed_envelopes_age_counts_from_its_last_hop() -> None:
    """Each relay's outbox holds it up to its own max age: the newest signature counts."""
    env = origin(expires_at=T0 + timedelta(days=10))
    relayed = hop(env, B, frm=A, to=C, minutes=60 * 40)  # passed on 40 hours later
    now = T0 + timedelta(hours=60)  # iat 60 h old, the hop 20 h old
    got = verify_envelope(as_wire(relayed), RING, now=now, receiver=C)
    assert len(got.hops) == 1
    with pytest.raises(VerificationError) as info:
        verify_envelope(as_wire(relayed), RING, now=T0 + timedelta(hours=89), receiver=C)
    assert info.value.code == Reason.TOO_OLD


def test_expiry_is_still_checked_before_age() -> None:
    env = origin(expires_at=T0 + timedelta(hours=1))
    assert code(as_wire(env), now=T0 + timedelta(days=3)) == Reason.EXPIRED


def test_a_forged_envelope_gets_the_signature_reason_not_a_time_reason() -> None:
    """Time claims are judged only once the signatures hold."""
    wire = as_wire(origin(expires_at=T0 + timedelta(days=3650)))
    wire["signatures"][0]["signature"] = wire["signatures"][0]["signature"][::-1]
    assert code(wire) in (Reason.SIGNATURE_INVALID, Reason.MALFORMED)


# -- the marking claim ---------------------------------------------------------------------


def test_an_unmarked_envelope_has_no_marking_member_and_verifies() -> None:
    env = origin(marking=None)
    payload = json.loads(_payload(env))
    assert "marking" not in payload
    assert verify_envelope(as_wire(env), RING, now=NOW, receiver=B).marking is None


@pytest.mark.parametrize("marking", ["U", "U//LES", "CUI//SP-INV", "CUI//SP-CHRI//NOFORN"])
def test_a_portion_mark_is_carried_as_signed(marking: str) -> None:
    env = origin(marking=marking)
    assert verify_envelope(as_wire(env), RING, now=NOW, receiver=B).marking == marking


def _payload(env: Any) -> str:
    from relay.core.signing import b64url_decode

    return b64url_decode(env.payload).decode()


# -- any time claims: a verdict or a known refusal ------------------------------------------

TIME_CODES = {
    Reason.ISSUED_BEFORE_KEY, Reason.TOO_OLD, Reason.LIFETIME_TOO_LONG, Reason.EXPIRED,
    Reason.NOT_YET_VALID, Reason.MALFORMED, Reason.HOP_INVALID,
}  # fmt: skip
SECONDS = st.integers(min_value=-(10**9), max_value=10**9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(iat=SECONDS, life=st.integers(1, 10**9), key_from=SECONDS, now=SECONDS, hop_at=SECONDS)
def test_time_claims_give_an_answer_or_a_time_refusal(
    iat: int, life: int, key_from: int, now: int, hop_at: int
) -> None:
    issued = T0 + timedelta(seconds=iat)
    env = origin(
        issued_at=issued,
        expires_at=issued + timedelta(seconds=life),
        envelope_id=EnvelopeId("t-1"),
    )
    env = hop(env, B, frm=A, to=C, minutes=0) if hop_at % 2 else env
    ring = ring_with_a_from(T0 + timedelta(seconds=key_from))
    receiver = C if hop_at % 2 else B
    try:
        got = verify_envelope(
            as_wire(env), ring, now=T0 + timedelta(seconds=now), receiver=AgencyId(receiver)
        )
    except VerificationError as exc:
        refused: str = exc.code
    else:
        refused = ""
    if refused:
        assert refused in TIME_CODES
        return
    at = T0 + timedelta(seconds=now)
    assert got.issued_at >= ring.keys[0].not_before - SKEW
    assert got.expires_at - got.issued_at <= ENVELOPE_MAX_LIFETIME
    newest = got.hops[-1].at if got.hops else got.issued_at
    assert at - newest <= ENVELOPE_MAX_AGE
    assert kid(A) == got.origin_kid
