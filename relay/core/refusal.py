"""Stable reasons for refusing an envelope or a key, used as ``VerificationError.code``.

The values are snake_case and never change: HTTP bodies, metrics labels, the audit trail and
the CLI all carry them. ``VerificationError`` carries HTTP 403 for each of them: the envelope is
refused as it stands, and sending it again will not help.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Refusal"]


class Refusal(StrEnum):
    SIGNATURE_INVALID = "signature_invalid"  # a signature fails, or is not strict Ed25519
    KEY_INVALID = "key_invalid"  # a public key that must not be pinned (small order, ...)
    KEY_NOT_PINNED = "key_not_pinned"  # no pinned key has this kid
    KEY_REVOKED = "key_revoked"
    NOT_YET_VALID = "not_yet_valid"  # key window not started, or iat/hop time in the future
    EXPIRED = "expired"  # key window over, or envelope past exp
    ISSUER_MISMATCH = "issuer_mismatch"  # origin kid is pinned to another agency than iss
    UNKNOWN_FIELD = "unknown_field"  # a field outside the allowlist, anywhere
    MALFORMED = "malformed"  # wrong type, bad encoding, not canonical JSON, missing field
    DISCLOSURE_INVALID = "disclosure_invalid"  # digest not in _sd, or not what a hop forwarded
    DISCLOSURE_DUPLICATE = "disclosure_duplicate"
    HOP_INVALID = "hop_invalid"  # hop record does not chain (prev sig, from/to, number)
    HOP_LIMIT = "hop_limit"
    LOOP = "loop"  # an agency appears twice on the path
    NOT_ADDRESSED = "not_addressed"  # a direct envelope whose signed aud is another agency
    ONWARD_FORBIDDEN = "onward_forbidden"  # a hop where the previous signer said "no onward"
