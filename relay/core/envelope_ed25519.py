"""Strict Ed25519 verification for envelopes, with the public-key check done once per key.

Exactly :func:`relay.core.signing.verify`: the public key must pass
:func:`~relay.core.signing.check_public_key` (canonical, not of small order), the signature must
be 64 bytes with ``S < L``, then OpenSSL verifies. The key check decodes the point and doubles
it three times in Python (about 1.4 ms, ten times an OpenSSL verify), so its *success* is
memoised per 32-byte key, together with the parsed OpenSSL key object. A key that fails the
check is never cached and fails every time.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from relay.core.reasons import Reason
from relay.core.signing import GROUP_ORDER, check_public_key
from relay.errors import VerificationError

__all__ = ["verify_strict"]


@lru_cache(maxsize=1024)
def _checked_key(public_key: bytes) -> Ed25519PublicKey:
    check_public_key(public_key)  # raises key_invalid: lru_cache keeps only successes
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify_strict(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify strictly; ``key_invalid`` or ``signature_invalid`` as ``signing.verify`` does."""
    key = _checked_key(bytes(public_key))
    if len(signature) != 64:
        raise VerificationError("signature is not 64 bytes", code=Reason.SIGNATURE_INVALID)
    if int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        raise VerificationError("signature scalar S >= L", code=Reason.SIGNATURE_INVALID)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        raise VerificationError(
            "signature does not verify", code=Reason.SIGNATURE_INVALID
        ) from None
