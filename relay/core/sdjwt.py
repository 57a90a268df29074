"""SD-JWT (RFC 9901) Disclosures: create, digest, decode, match against ``_sd``.

A Disclosure is base64url of the JSON array ``[salt, claim_name, value]`` (object property) or
``[salt, value]`` (array element). Its digest is base64url(SHA-256) over the *base64url text*,
so the JSON inside needs no canonical form for the digest to be stable; we still write it as
JCS so that building the same envelope twice gives the same bytes. (RFC 9901's own examples use
``", "`` separators; those strings are equivalent encodings with other digests.)

The salt is passed in: the core has no randomness. Callers draw at least 128 bits
(``secrets.token_urlsafe(16)``), as RFC 9901 section 9.3 recommends.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from relay.core.canonical import JSONValue, canonicalize, parse_json
from relay.core.reasons import Reason
from relay.core.signing import b64url_decode, b64url_encode
from relay.errors import VerificationError

__all__ = [
    "SD_ALG",
    "Disclosure",
    "check_disclosures",
    "decode_disclosure",
    "disclosure_digest",
    "make_array_disclosure",
    "make_disclosure",
]

SD_ALG: Final = "sha-256"
_SALT: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
_RESERVED_NAMES: Final = frozenset({"_sd", "...", "_sd_alg"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Disclosure:
    """A decoded Disclosure; ``name`` is None for an array element."""

    encoded: str
    digest: str
    salt: str
    name: str | None
    value: JSONValue


def make_disclosure(salt: str, name: str, value: JSONValue) -> str:
    """An object-property Disclosure ``[salt, name, value]`` written as JCS."""
    _check_salt(salt)
    if name in _RESERVED_NAMES:
        raise ValueError("claim name is reserved by SD-JWT")
    return b64url_encode(canonicalize([salt, name, value]))


def make_array_disclosure(salt: str, value: JSONValue) -> str:
    """An array-element Disclosure ``[salt, value]`` written as JCS."""
    _check_salt(salt)
    return b64url_encode(canonicalize([salt, value]))


def disclosure_digest(disclosure: str) -> str:
    """base64url(SHA-256(ASCII(disclosure))), the value listed in ``_sd``."""
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def decode_disclosure(disclosure: str) -> Disclosure:
    """Decode a Disclosure; ``malformed`` unless it is a well-formed 2- or 3-element array."""
    try:
        value = parse_json(b64url_decode(disclosure))
    except (ValueError, RecursionError):
        raise VerificationError(
            "disclosure is not base64url JSON", code=Reason.MALFORMED
        ) from None
    if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[0], str):
        raise VerificationError("disclosure is not [salt, (name,) value]", code=Reason.MALFORMED)
    name = value[1] if len(value) == 3 else None
    if len(value) == 3 and (not isinstance(name, str) or name in _RESERVED_NAMES):
        raise VerificationError("disclosure claim name is not usable", code=Reason.MALFORMED)
    return Disclosure(
        encoded=disclosure,
        digest=disclosure_digest(disclosure),
        salt=value[0],
        name=name if isinstance(name, str) else None,
        value=value[-1],
    )


def check_disclosures(disclosures: Iterable[str], sd: Iterable[str]) -> tuple[Disclosure, ...]:
    """Decode each Disclosure and require its digest in ``sd``, at most once (RFC 9901 7.1)."""
    listed = frozenset(sd)
    seen: set[str] = set()
    out = []
    for encoded in disclosures:
        if not isinstance(encoded, str):
            raise VerificationError("disclosure is not a string", code=Reason.MALFORMED)
        found = decode_disclosure(encoded)
        if found.digest not in listed:
            raise VerificationError("disclosure digest not in _sd", code=Reason.DISCLOSURE_INVALID)
        if found.digest in seen:
            raise VerificationError("disclosure given twice", code=Reason.DISCLOSURE_DUPLICATE)
        seen.add(found.digest)
        out.append(found)
    return tuple(out)


def _check_salt(salt: str) -> None:
    if not _SALT.fullmatch(salt):
        raise ValueError("salt must be 16-64 base64url characters")
