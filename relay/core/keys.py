"""Pinned partner keys: JWK (RFC 8037) import/export, RFC 7638 thumbprints, the kid convention.

A kid names an agency's key as ``<ORI>#<suffix>``, e.g. ``CT9990100#2026-k1``. The ORI in a
kid is only a label: the agency a key speaks for is the one it was *pinned* to.

:class:`Keyring` answers "which pinned key is this kid, and may it be used at ``now``?". An
agency rotates by pinning its next key while the old one is still inside its window: both
verify until the old window closes or it is revoked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.canonical import canonicalize
from relay.core.ids import (
    KID_SUFFIX_PATTERN,
    NEW_KID_SUFFIX_MAX,
    ORI_PATTERN,
    AgencyId,
    KeyId,
    parse_ori,
)
from relay.core.reasons import Reason
from relay.core.signing import b64url_decode, b64url_encode, check_public_key, public_key_bytes
from relay.errors import VerificationError

__all__ = [
    "ORI_PATTERN",
    "KeyId",
    "Keyring",
    "PinnedKey",
    "jwk_thumbprint",
    "make_kid",
    "parse_ori",
    "private_key_from_jwk",
    "public_jwk",
    "public_key_from_jwk",
]

_PUBLIC_JWK_FIELDS: Final = frozenset({"kty", "crv", "x", "kid", "alg", "use"})


def make_kid(agency: str, suffix: str) -> KeyId:
    """``CT9990100#2026-k1`` from an ORI and a suffix of letters, digits, ``._-``."""
    if len(suffix) > NEW_KID_SUFFIX_MAX or not KID_SUFFIX_PATTERN.fullmatch(suffix):
        raise ValueError("kid suffix must be 1-32 of A-Z a-z 0-9 . _ -")
    return KeyId(f"{parse_ori(agency)}#{suffix}")


def public_jwk(public_key: bytes, *, kid: str | None = None) -> dict[str, str]:
    """The OKP/Ed25519 JWK of a raw public key (with ``kid``, ``alg`` and ``use`` if kid given)."""
    check_public_key(public_key)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(public_key)}
    if kid is not None:
        jwk |= {"kid": kid, "alg": "Ed25519", "use": "sig"}
    return jwk


def public_key_from_jwk(jwk: Mapping[str, object]) -> bytes:
    """The raw public key of an OKP/Ed25519 JWK; private or unknown members are refused."""
    extra = set(jwk) - _PUBLIC_JWK_FIELDS
    if extra:
        raise ValueError(f"JWK has members outside the public allowlist: {sorted(extra)}")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("JWK is not OKP/Ed25519")
    if jwk.get("alg", "Ed25519") not in ("Ed25519", "EdDSA") or jwk.get("use", "sig") != "sig":
        raise ValueError("JWK alg/use is not for Ed25519 signatures")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise ValueError("JWK x is missing")
    public_key = b64url_decode(x)
    check_public_key(public_key)
    return public_key


def private_key_from_jwk(jwk: Mapping[str, object]) -> Ed25519PrivateKey:
    """A private key from an OKP/Ed25519 JWK with ``d``; ``x`` must match it."""
    d = jwk.get("d")
    if not isinstance(d, str):
        raise ValueError("JWK d is missing")
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(d))
    public = {k: v for k, v in jwk.items() if k != "d"}
    if public_key_from_jwk(public) != public_key_bytes(key):
        raise ValueError("JWK x does not match d")
    return key


def jwk_thumbprint(public_key: bytes) -> str:
    """RFC 7638 thumbprint: base64url SHA-256 of the JCS of ``{crv, kty, x}``."""
    required = public_jwk(public_key)
    return b64url_encode(hashlib.sha256(canonicalize(required)).digest())


@dataclass(frozen=True, slots=True, kw_only=True)
class PinnedKey:
    """A partner's public key, usable from ``not_before`` until (excluding) ``not_after``."""

    kid: KeyId
    agency: AgencyId
    public_key: bytes
    not_before: datetime
    not_after: datetime | None = None
    revoked: bool = False

    def __post_init__(self) -> None:
        check_public_key(self.public_key)
        parse_ori(self.agency)
        if self.not_before.tzinfo is None or (
            self.not_after is not None and self.not_after.tzinfo is None
        ):
            raise ValueError("key window times must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyring:
    keys: tuple[PinnedKey, ...]

    def __post_init__(self) -> None:
        kids = [key.kid for key in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("a kid is pinned twice")

    @classmethod
    def of(cls, keys: Iterable[PinnedKey]) -> Keyring:
        return cls(keys=tuple(keys))

    def lookup(self, kid: str, *, now: datetime) -> PinnedKey:
        """The pinned key for ``kid`` if usable at ``now``; else ``VerificationError``."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        key = next((k for k in self.keys if k.kid == kid), None)
        if key is None:
            raise VerificationError("kid is not pinned", code=Reason.KEY_NOT_PINNED)
        if key.revoked:
            raise VerificationError(f"key {key.kid} is revoked", code=Reason.KEY_REVOKED)
        if now < key.not_before:
            raise VerificationError(f"key {key.kid} not yet valid", code=Reason.NOT_YET_VALID)
        if key.not_after is not None and now >= key.not_after:
            raise VerificationError(f"key {key.kid} expired", code=Reason.EXPIRED)
        return key

    def for_agency(self, agency: str) -> tuple[PinnedKey, ...]:
        return tuple(k for k in self.keys if k.agency == agency)
