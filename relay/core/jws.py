"""JSON Web Signature (RFC 7515) pieces for Ed25519: signing input, compact form.

Only what the relay needs: the signing input ``ASCII(protected + "." + payload)`` shared by the
compact and the General JSON serializations, and compact sign/verify for the RFC 8037 and SD-JWT
vectors. The envelope (:mod:`relay.core.envelope`) uses the General JSON Serialization and
applies its own, stricter header rules on top.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.canonical import JSONValue, canonicalize, parse_json
from relay.core.reasons import Reason
from relay.core.signing import b64url_decode, b64url_encode, sign, verify
from relay.errors import VerificationError

__all__ = [
    "ED25519_ALGORITHMS",
    "decode_json_part",
    "sign_compact",
    "signing_input",
    "verify_compact",
]

# "Ed25519" is RFC 9864's fully specified name; "EdDSA" is RFC 8037's polymorphic one.
ED25519_ALGORITHMS: Final = frozenset({"Ed25519", "EdDSA"})


def signing_input(protected_b64: str, payload_b64: str) -> bytes:
    return f"{protected_b64}.{payload_b64}".encode("ascii")


def decode_json_part(part_b64: str) -> tuple[bytes, dict[str, JSONValue]]:
    """Decode a base64url JSON object (header or payload); ``malformed`` if it is not one."""
    try:
        raw = b64url_decode(part_b64)
        value = parse_json(raw)
    except (ValueError, RecursionError):
        raise VerificationError("part is not base64url JSON", code=Reason.MALFORMED) from None
    if not isinstance(value, dict):
        raise VerificationError("part is not a JSON object", code=Reason.MALFORMED)
    return raw, value


def sign_compact(key: Ed25519PrivateKey, header: Mapping[str, JSONValue], payload: bytes) -> str:
    """Compact JWS with the JCS form of ``header`` as the protected header."""
    protected = b64url_encode(canonicalize(header))
    body = b64url_encode(payload)
    return f"{protected}.{body}.{b64url_encode(sign(key, signing_input(protected, body)))}"


def verify_compact(
    compact: str, public_key: bytes, *, algorithms: Collection[str] = ED25519_ALGORITHMS
) -> tuple[dict[str, JSONValue], bytes]:
    """Verify a compact JWS strictly; return (protected header, payload bytes)."""
    parts = compact.split(".")
    if len(parts) != 3:
        raise VerificationError("compact JWS needs three parts", code=Reason.MALFORMED)
    protected_b64, payload_b64, signature_b64 = parts
    _, header = decode_json_part(protected_b64)
    alg = header.get("alg")  # a list or object here must be refused, not hashed (TypeError)
    if not isinstance(alg, str) or alg not in algorithms or "crit" in header:
        raise VerificationError("JWS alg is not accepted", code=Reason.SIGNATURE_INVALID)
    try:
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except ValueError:
        raise VerificationError("JWS part is not base64url", code=Reason.MALFORMED) from None
    verify(public_key, signature, signing_input(protected_b64, payload_b64))
    return header, payload
