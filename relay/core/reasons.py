"""Every stable reason code the relay speaks, and what each one means at its edges.

One vocabulary: HTTP answers (``{"error": reason}``), metric labels, audit outcomes, refusal
rows, queue reasons and CLI output all carry :class:`Reason` values. The values are snake_case
and never change (other tools read them). :data:`TABLE` gives each reason

- ``http_status``: the status the federation API answers it with (``None``: never an HTTP
  answer, e.g. a policy decision or a failure on our side of a call);
- ``retryable``: whether sending the same thing again may succeed;
- ``log_level``: how loud it is when it happens: ``info``, ``warning`` or ``error`` (the
  log method's name; core modules do not import ``logging``).

The policy engine's own rules (``topic_not_shared``, ``nothing_left``, ...) are reasons too; a
policy's detectors add rule ids of their own (``informant.source``), which are not reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["HTTP_REASONS", "TABLE", "LogLevel", "Reason", "ReasonSpec"]


class Reason(StrEnum):
    # -- an envelope or key that does not verify (relay.core.*: VerificationError.code) -------
    SIGNATURE_INVALID = "signature_invalid"  # a signature fails, or is not strict Ed25519
    KEY_INVALID = "key_invalid"  # a public key that must not be pinned (small order, ...)
    KEY_NOT_PINNED = "key_not_pinned"  # no pinned key has this kid
    KEY_REVOKED = "key_revoked"
    NOT_YET_VALID = "not_yet_valid"  # key window not started, or iat/hop time in the future
    EXPIRED = "expired"  # key window over, envelope past exp, queue item past its expiry
    ISSUER_MISMATCH = "issuer_mismatch"  # origin kid is pinned to another agency than iss
    UNKNOWN_FIELD = "unknown_field"  # a field outside the allowlist, anywhere
    MALFORMED = "malformed"  # wrong type, bad encoding, not canonical JSON, missing field
    DISCLOSURE_INVALID = "disclosure_invalid"  # digest not in _sd, or not what a hop forwarded
    DISCLOSURE_DUPLICATE = "disclosure_duplicate"
    HOP_INVALID = "hop_invalid"  # hop record does not chain (prev sig, from/to, number)
    HOP_LIMIT = "hop_limit"  # too many hops, or one more would exceed the limit
    LOOP = "loop"  # an agency appears twice on the path
    NOT_ADDRESSED = "not_addressed"  # a direct envelope whose signed aud is another agency
    ONWARD_FORBIDDEN = "onward_forbidden"  # a hop where the previous signer said "no onward"
    ISSUED_BEFORE_KEY = "issued_before_key"  # iat (a hop's at) before its key's not_before
    TOO_OLD = "too_old"  # the newest signature (iat, or last hop's at) older than the max age
    LIFETIME_TOO_LONG = "lifetime_too_long"  # exp - iat longer than the maximum lifetime
    WRONG_TYPE = "wrong_type"  # an audit checkpoint token of another ``typ``
    # -- decided at the federation listener's HTTP edge ----------------------------------------
    PEER_UNKNOWN = "peer_unknown"  # TLS client certificate not pinned to any partner
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"  # the body did not arrive in time
    RATE_LIMITED = "rate_limited"
    REPLAYED = "replayed"  # a different envelope reusing an envelope id
    BAD_REQUEST = "bad_request"  # not a request this endpoint takes (e.g. not JSON)
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # a file type outside the image allowlist
    TYPE_MISMATCH = "type_mismatch"  # a file's bytes are not of the type it was declared as
    UNDECODABLE = "undecodable"  # a file that does not decode as one whole image
    IMAGE_TOO_LARGE = "image_too_large"  # more pixels than the relay decodes (a bomb)
    QUOTA_EXCEEDED = "quota_exceeded"  # the partner's files held here are at their quota
    UNAVAILABLE = "unavailable"  # this relay cannot take envelopes now (its audit ledger)
    INTERNAL = "internal"  # anything unexpected (never a traceback to a peer)
    # -- decided at the Slack listener's edge (and for stored events): never a federation answer
    TIMESTAMP_INVALID = "timestamp_invalid"  # X-Slack-Request-Timestamp missing, not ASCII digits
    TIMESTAMP_SKEWED = "timestamp_skewed"  # a Slack request timestamp outside the 5-minute window
    ENCODING_INVALID = "encoding_invalid"  # a body that is not strict UTF-8
    JSON_INVALID = "json_invalid"  # not JSON (or NaN, Infinity, a number past the digit limit)
    JSON_TOO_DEEP = "json_too_deep"  # JSON nested deeper than the reader allows
    DUPLICATE_KEY = "duplicate_key"  # a JSON object naming one key twice, at any level
    # -- sharing policy and routing ------------------------------------------------------------
    PARTNER_UNKNOWN = "partner_unknown"  # not a partner in our policy
    TOPIC_NOT_SHARED = "topic_not_shared"  # we do not share the topic with the partner
    TOPIC_NOT_ACCEPTED = "topic_not_accepted"  # we do not accept the topic from the partner
    TOPIC_NOT_MAPPED = "topic_not_mapped"  # accepted, but relay.yaml maps it to no channel
    AGREEMENT_EXPIRED = "agreement_expired"  # our agreement with the partner has expired
    # -- the policy engine's own rules (a detector's id names the others) ----------------------
    NOT_RELAYED = "not_relayed"  # a message kind the relay does not share
    BOT_NOT_FEDERATED = "bot_not_federated"
    FILE_TYPE_NOT_ALLOWED = "file_type_not_allowed"
    FILE_UNVERIFIABLE = "file_unverifiable"
    TEARLINE = "tearline"
    MARKING_UNKNOWN = "marking_unknown"
    MARKING_ABOVE_CEILING = "marking_above_ceiling"
    SHARED_CONTENT_DROPPED = "shared_content_dropped"
    NOTHING_LEFT = "nothing_left"
    LANGUAGE_NOT_COVERED = "language_not_covered"
    TOO_COMPLEX = "too_complex"  # more than the engine will evaluate (fail closed)
    # -- our side of a call, the queues ---------------------------------------------------------
    UNREACHABLE = "unreachable"  # a partner relay that does not answer
    TLS_FAILED = "tls_failed"
    DELIVERY_FAILED = "delivery_failed"
    AUDIT_WRITE_FAILED = "audit_write_failed"  # an audit append failed: nothing goes ahead
    AUDIT_UNAVAILABLE = "audit_unavailable"  # audit writes are failing: nothing is forwarded
    MAX_AGE = "max_age"  # a queue item older than delivery.max_age_hours
    DROPPED_BY_OPERATOR = "dropped_by_operator"  # ``relay queue drop``'s default reason
    # -- input and configuration (exit 2) -------------------------------------------------------
    BAD_INPUT = "bad_input"
    CONFIG_INVALID = "config_invalid"
    POLICY_INVALID = "policy_invalid"
    COMMAND_FAILED = "command_failed"  # a command that could not do its job (exit 1)

    @property
    def http_status(self) -> int | None:
        return TABLE[self].http_status

    @property
    def retryable(self) -> bool:
        return TABLE[self].retryable

    @property
    def log_level(self) -> LogLevel:
        return TABLE[self].log_level

    @classmethod
    def parse(cls, value: object) -> Reason | None:
        """The reason ``value`` names, or None (a partner's or a store's string is not
        trusted to be one)."""
        return cls._value2member_map_.get(value) if isinstance(value, str) else None  # type: ignore[return-value]


class LogLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ReasonSpec:
    http_status: int | None
    retryable: bool
    log_level: LogLevel


_INFO: Final = LogLevel.INFO
_WARN: Final = LogLevel.WARNING
_ERROR: Final = LogLevel.ERROR
R = Reason

TABLE: Final[Mapping[Reason, ReasonSpec]] = {
    R.MALFORMED: ReasonSpec(400, False, _WARN),
    R.UNKNOWN_FIELD: ReasonSpec(400, False, _WARN),
    R.DISCLOSURE_INVALID: ReasonSpec(400, False, _WARN),
    R.DISCLOSURE_DUPLICATE: ReasonSpec(400, False, _WARN),
    R.HOP_INVALID: ReasonSpec(400, False, _WARN),
    R.BAD_REQUEST: ReasonSpec(400, False, _WARN),
    R.WRONG_TYPE: ReasonSpec(400, False, _WARN),
    R.SIGNATURE_INVALID: ReasonSpec(403, False, _WARN),
    R.KEY_NOT_PINNED: ReasonSpec(403, False, _WARN),
    R.KEY_REVOKED: ReasonSpec(403, False, _WARN),
    R.KEY_INVALID: ReasonSpec(403, False, _WARN),
    R.ISSUER_MISMATCH: ReasonSpec(403, False, _WARN),
    R.PEER_UNKNOWN: ReasonSpec(403, False, _WARN),
    R.NOT_ADDRESSED: ReasonSpec(403, False, _WARN),
    R.ONWARD_FORBIDDEN: ReasonSpec(403, False, _INFO),
    R.TOPIC_NOT_ACCEPTED: ReasonSpec(403, False, _INFO),
    R.TIMEOUT: ReasonSpec(408, True, _INFO),
    R.REPLAYED: ReasonSpec(409, False, _WARN),
    R.TOO_LARGE: ReasonSpec(413, False, _WARN),
    R.IMAGE_TOO_LARGE: ReasonSpec(413, False, _WARN),
    R.UNSUPPORTED_MEDIA_TYPE: ReasonSpec(415, False, _WARN),
    R.TYPE_MISMATCH: ReasonSpec(415, False, _WARN),
    R.UNDECODABLE: ReasonSpec(422, False, _WARN),
    R.EXPIRED: ReasonSpec(422, False, _INFO),
    R.NOT_YET_VALID: ReasonSpec(422, False, _WARN),
    R.HOP_LIMIT: ReasonSpec(422, False, _INFO),
    R.ISSUED_BEFORE_KEY: ReasonSpec(422, False, _WARN),
    R.TOO_OLD: ReasonSpec(422, False, _INFO),
    R.LIFETIME_TOO_LONG: ReasonSpec(422, False, _WARN),
    R.LOOP: ReasonSpec(422, False, _INFO),
    # a configuration gap on the receiving side: the sender keeps it queued and retries
    R.TOPIC_NOT_MAPPED: ReasonSpec(422, True, _ERROR),
    R.RATE_LIMITED: ReasonSpec(429, True, _INFO),
    # space comes back as the envelopes naming the partner's files are settled
    R.QUOTA_EXCEEDED: ReasonSpec(429, True, _WARN),
    R.INTERNAL: ReasonSpec(500, True, _ERROR),
    R.UNAVAILABLE: ReasonSpec(503, True, _ERROR),
    R.PARTNER_UNKNOWN: ReasonSpec(None, False, _INFO),
    R.TOPIC_NOT_SHARED: ReasonSpec(None, False, _INFO),
    R.AGREEMENT_EXPIRED: ReasonSpec(None, False, _WARN),
    **{
        r: ReasonSpec(None, False, _INFO)
        for r in (
            R.NOT_RELAYED,
            R.BOT_NOT_FEDERATED,
            R.FILE_TYPE_NOT_ALLOWED,
            R.FILE_UNVERIFIABLE,
            R.TEARLINE,
            R.MARKING_UNKNOWN,
            R.MARKING_ABOVE_CEILING,
            R.SHARED_CONTENT_DROPPED,
            R.NOTHING_LEFT,
            R.LANGUAGE_NOT_COVERED,
            R.TOO_COMPLEX,
        )
    },
    **{
        r: ReasonSpec(None, False, _WARN)
        for r in (
            R.TIMESTAMP_INVALID,
            R.TIMESTAMP_SKEWED,
            R.ENCODING_INVALID,
            R.JSON_INVALID,
            R.JSON_TOO_DEEP,
            R.DUPLICATE_KEY,
        )
    },
    R.UNREACHABLE: ReasonSpec(None, True, _WARN),
    R.TLS_FAILED: ReasonSpec(None, True, _WARN),
    R.DELIVERY_FAILED: ReasonSpec(None, True, _WARN),
    R.AUDIT_WRITE_FAILED: ReasonSpec(None, True, _ERROR),
    R.AUDIT_UNAVAILABLE: ReasonSpec(None, True, _ERROR),
    R.MAX_AGE: ReasonSpec(None, False, _WARN),
    R.DROPPED_BY_OPERATOR: ReasonSpec(None, False, _INFO),
    R.BAD_INPUT: ReasonSpec(None, False, _WARN),
    R.CONFIG_INVALID: ReasonSpec(None, False, _ERROR),
    R.POLICY_INVALID: ReasonSpec(None, False, _ERROR),
    R.COMMAND_FAILED: ReasonSpec(None, False, _ERROR),
}
del R

# The reasons a relay answers over HTTP (``{"error": reason}``): a partner's answer naming
# anything else is not trusted as a code.
HTTP_REASONS: Final = frozenset(r for r, spec in TABLE.items() if spec.http_status is not None)

if set(TABLE) != set(Reason):  # pragma: no cover - an import-time check of the table
    raise RuntimeError("every Reason needs a row in TABLE")
