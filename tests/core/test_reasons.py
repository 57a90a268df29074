"""One vocabulary: every reason code in one enum, with its HTTP status, retry and log level."""

from __future__ import annotations

import pytest

from relay.core.reasons import HTTP_REASONS, TABLE, LogLevel, Reason
from relay.errors import (
    AuditUnavailable,
    AuditWriteError,
    CheckpointError,
    CommandError,
    ConfigError,
    ConfigLoadError,
    DeliveryError,
    InputError,
    PolicyError,
    RelayError,
    VerificationError,
    exit_code,
)

# The statuses the federation listener answered before the enums were folded (a contract:
# docs/openapi.yaml x-reasons).
STATUSES = {
    "malformed": 400, "unknown_field": 400, "disclosure_invalid": 400,
    "disclosure_duplicate": 400, "hop_invalid": 400, "bad_request": 400,
    "signature_invalid": 403, "key_not_pinned": 403, "key_revoked": 403, "key_invalid": 403,
    "issuer_mismatch": 403, "peer_unknown": 403, "not_addressed": 403,
    "onward_forbidden": 403, "topic_not_accepted": 403,
    "timeout": 408, "replayed": 409, "too_large": 413, "image_too_large": 413,
    "unsupported_media_type": 415, "type_mismatch": 415, "undecodable": 422,
    "quota_exceeded": 429,
    "expired": 422, "not_yet_valid": 422, "hop_limit": 422, "loop": 422,
    "topic_not_mapped": 422, "rate_limited": 429, "unavailable": 503,
}  # fmt: skip
ADDED = {
    "unsupported_media_type": 415, "issued_before_key": 422, "too_old": 422,
    "lifetime_too_long": 422,
}  # fmt: skip
HELD = {"onward_forbidden", "partner_unknown", "topic_not_accepted", "agreement_expired"}
CHECKPOINT = {"malformed", "wrong_type", "issuer_mismatch", "signature_invalid", "key_invalid"}
CHECKPOINT |= {"key_not_pinned", "key_revoked", "not_yet_valid", "expired"}


def test_every_reason_has_one_row():
    assert set(TABLE) == set(Reason)
    assert all(isinstance(spec.log_level, LogLevel) for spec in TABLE.values())


def test_http_statuses_are_the_ones_answered_before():
    for value, status in STATUSES.items():
        assert Reason(value).http_status == status, value
    assert Reason.INTERNAL.http_status == 500
    added = {Reason(v) for v in ADDED}
    assert {Reason(v) for v in STATUSES} | {Reason.INTERNAL, Reason.WRONG_TYPE} | added == (
        HTTP_REASONS
    )


def test_the_envelope_bound_and_media_type_reasons_keep_their_statuses():
    """Added by issue 15: a contract like the older ones (docs/openapi.yaml x-reasons)."""
    for value, status in ADDED.items():
        assert Reason(value).http_status == status, value
        assert not Reason(value).retryable


def test_every_old_code_is_a_reason():
    for value in {*STATUSES, *HELD, *CHECKPOINT, "hop_limit", "internal"}:
        assert Reason(value) == value


def test_the_engine_rules_are_reasons():
    """The policy engine names its own rules with ``Reason`` values (one vocabulary)."""
    for value in ("partner_unknown", "topic_not_shared", "nothing_left", "too_complex"):
        assert Reason(value).http_status is None
        assert not Reason(value).retryable


def test_retryable_is_what_a_sender_may_try_again():
    assert {r for r in HTTP_REASONS if r.retryable} == {
        Reason.TIMEOUT,
        Reason.RATE_LIMITED,
        Reason.QUOTA_EXCEEDED,  # the partner's files here are settled and swept: it goes
        Reason.INTERNAL,
        Reason.UNAVAILABLE,
        Reason.TOPIC_NOT_MAPPED,  # the receiving agency's relay.yaml is put right: it goes
    }
    assert Reason.UNREACHABLE.retryable
    assert Reason.AUDIT_WRITE_FAILED.retryable


def test_parse_trusts_nothing_else():
    assert Reason.parse("malformed") is Reason.MALFORMED
    assert Reason.parse("Malformed") is None
    assert Reason.parse(7) is None


def test_errors_carry_a_reason_and_their_status_from_the_table():
    exc = VerificationError("x", code="too_large")
    assert exc.code is Reason.TOO_LARGE
    assert exc.http_status == 413
    assert VerificationError("x", code=Reason.REPLAYED, http_status=409).http_status == 409
    with pytest.raises(ValueError, match="not_a_reason"):
        VerificationError("x", code="not_a_reason")
    checkpoint = CheckpointError("x", code="wrong_type")
    assert isinstance(checkpoint, VerificationError)
    assert checkpoint.code is Reason.WRONG_TYPE
    assert AuditWriteError().code == "audit_write_failed"
    assert isinstance(AuditWriteError(), DeliveryError)
    assert AuditWriteError().retryable
    assert AuditUnavailable("x").code == "audit_unavailable"


def test_one_exit_code_mapping():
    load = ConfigLoadError("relay.yaml", [(3, "b"), (1, "a")])
    assert load.lines() == ["relay.yaml:1: a", "relay.yaml:3: b"]
    assert not isinstance(load, PolicyError)
    errors: list[RelayError] = [InputError("x"), ConfigError("x"), PolicyError("x"), load]
    for error in errors:
        assert exit_code(error) == 2
    for error in (RelayError("x"), VerificationError("x", code="malformed"), AuditWriteError()):
        assert exit_code(error) == 1
    assert exit_code(ValueError("x")) == 1
    assert exit_code(CommandError("x", 2)) == CommandError("x", 2).exit_code == 2
    assert exit_code(CommandError("x", 1)) == exit_code(CommandError("x")) == 1
    with pytest.raises(ValueError, match="exit 1 or 2"):
        CommandError("x", 0)
