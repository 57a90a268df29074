"""Ed25519 (RFC 8032) with strict verification, and unpadded base64url.

``cryptography`` (OpenSSL) verifies the cofactorless equation and does not look at the public
key beyond its length. So a small-order public key such as the identity point, paired with an
all-zero ``S``, "verifies" any message. This module closes that gap before OpenSSL runs:

- :func:`check_public_key` decodes the point (RFC 8032 section 5.1.3) and refuses a
  non-canonical encoding (``y >= p``, or ``x == 0`` with the sign bit set), a point not on the
  curve, and any point of small order (``8 * A`` is the identity), which covers the eight
  small-order points and all their non-canonical spellings.
- :func:`verify` refuses a signature whose scalar ``S`` is not below the group order ``L``
  (RFC 8032 section 5.1.7, step 1), which also removes signature malleability.

:func:`b64url_decode` accepts only the canonical unpadded encoding, so two different strings
can never stand for the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from relay.core.reasons import Reason
from relay.errors import VerificationError

__all__ = [
    "GROUP_ORDER",
    "b64url_decode",
    "b64url_encode",
    "check_public_key",
    "public_key_bytes",
    "sign",
    "verify",
]

_P: Final = 2**255 - 19
_D: Final = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)
GROUP_ORDER: Final = 2**252 + 27742317777372353535851937790883648493
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; anything else raises ``ValueError``."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    if b64url_encode(data) != text:  # stray bits in the last character
        raise ValueError("not canonical base64url")
    return data


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte public key of a private key."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """A 64-byte Ed25519 signature (deterministic)."""
    return key.sign(message)


def check_public_key(public_key: bytes) -> None:
    """Refuse a public key that is malformed, non-canonical or of small order."""
    if len(public_key) != 32:
        raise _weak("public key is not 32 bytes")
    point = _decode_point(public_key)
    if point is None:
        raise _weak("public key is not a canonical curve point")
    for _ in range(3):
        point = _double(point)
    if point == (0, 1):
        raise _weak("public key is a small-order point")


@functools.lru_cache(maxsize=1024)
def _public(public_key: bytes) -> Ed25519PublicKey:
    """A checked public key, kept: pinned keys are few, and the small-order check is Python
    arithmetic (a key that fails is checked again each time: exceptions are not kept)."""
    check_public_key(public_key)
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify strictly; raise ``VerificationError`` (``signature_invalid``) on any failure."""
    key = _public(bytes(public_key))
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


def _weak(message: str) -> VerificationError:
    return VerificationError(message, code=Reason.KEY_INVALID)


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 section 5.1.3, refusing non-canonical encodings."""
    number = int.from_bytes(encoded, "little")
    sign_bit = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if x * x % _P != x2:
        x = x * _SQRT_M1 % _P
    if x * x % _P != x2:
        return None  # not on the curve
    if x == 0 and sign_bit:
        return None  # "-0": a second spelling of the same point
    if x & 1 != sign_bit:
        x = _P - x
    return (x, y)


def _double(point: tuple[int, int]) -> tuple[int, int]:
    """Affine doubling on -x^2 + y^2 = 1 + d x^2 y^2 (complete: no exceptional points)."""
    x, y = point
    dxy = _D * x * x * y * y % _P
    x3 = 2 * x * y * pow(1 + dxy, _P - 2, _P) % _P
    y3 = (y * y + x * x) * pow(1 - dxy, _P - 2, _P) % _P
    return (x3, y3)
