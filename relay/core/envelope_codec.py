"""The envelope's hot-path codecs: JCS bytes, strict JSON, Disclosures, at C speed.

Byte for byte the same results as :mod:`relay.core.canonical` and :mod:`relay.core.sdjwt`,
which write and read JSON one character at a time in Python. Building or verifying one envelope
canonicalizes a payload, a header and one Disclosure per line, so that cost dominated the
Ed25519 work itself (``relay bench envelope``). Here the ``json`` module's C encoder and scanner
do the work wherever they provably agree with RFC 8785, and the exact Python path runs
everywhere else:

- Writing: :func:`canonical_bytes` uses ``json`` (sorted keys, no spaces, no ASCII escaping)
  for values made only of strings, booleans, ``None``, integers within +-(2**53 - 1), lists and
  dicts with ASCII member names. Its string escaping is JCS's (``\\"``, ``\\\\``, ``\\b \\f \\n
  \\r \\t``, other controls as lowercase ``\\u00xx``), and for ASCII names code point order is
  UTF-16 order. Anything else (floats, big integers, other names) goes to ``canonicalize``.
- Reading: :func:`parse_canonical` parses with the C scanner and accepts the bytes when writing
  the value back gives the same text and the text holds no float, no integer of more than 15
  digits (possibly unsafe) and no character outside the BMP (where UTF-16 and code point order
  differ).
  Equal text also rules out duplicate member names, whitespace and ``-0``. Every other input
  takes the exact path: ``parse_json`` then a ``canonicalize`` comparison.

``tests/core/test_envelope_codec.py`` checks both against the reference functions.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from typing import Final

from relay.core.allowlist import malformed
from relay.core.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalizationError,
    JSONValue,
    canonicalize,
    parse_json,
)
from relay.core.refusal import Refusal
from relay.core.sdjwt import Disclosure
from relay.errors import VerificationError

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "canonical_bytes",
    "checked_json_bytes",
    "decode_disclosure",
    "disclosure_digest",
    "make_disclosure",
    "parse_canonical",
    "read_disclosure",
]

_encode: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# base64url to standard base64; "+", "/" and "=" are not base64url and become "!", which
# binascii's strict mode refuses like any other character outside the alphabet.
_FROM_URL: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_TO_URL: Final = bytes.maketrans(b"+/", b"-_")
_quote: Final = json.encoder.encode_basestring  # C version when available; no ASCII escaping
_SALT: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")  # relay.core.sdjwt's rule
_RESERVED_NAMES: Final = frozenset({"_sd", "...", "_sd_alg"})


class _Unsure(Exception):
    """Raised by the fast scanner on a float or a long integer: take the exact path."""


def _no_float(_: str) -> float:
    raise _Unsure


def _short_int(token: str) -> int:
    if len(token) > 15:  # at most 15 digits is always within +-(2**53 - 1)
        raise _Unsure
    return int(token)


def _no_duplicates(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise CanonicalizationError("duplicate member name")
    return out


def _no_constant(name: str) -> JSONValue:
    raise CanonicalizationError(f"{name} is not JSON")


_scan_fast: Final = json.JSONDecoder(parse_float=_no_float, parse_int=_short_int).decode
_strict_decoder: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant
)
_scan_strict: Final = _strict_decoder.decode
_raw_strict: Final = _strict_decoder.raw_decode


def b64url_encode(data: bytes) -> str:
    """``relay.core.signing.b64url_encode``: base64url without padding."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """``relay.core.signing.b64url_decode``: canonical unpadded base64url, else ``ValueError``.

    Canonical means no padding, no character outside the alphabet and no stray bits in the last
    character, so one byte string has one spelling.
    """
    if len(text) % 4 == 1 or not text.isascii():
        raise ValueError("not unpadded base64url")
    padded = text.encode("ascii").translate(_FROM_URL) + b"=" * (-len(text) % 4)
    try:
        data = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    if len(text) % 4 and _ALPHABET.index(text[-1]) & (0x0F if len(text) % 4 == 2 else 0x03):
        raise ValueError("not canonical base64url")  # stray bits in the last character
    return data


def _plain(value: object) -> bool:
    """True if ``json`` writes ``value`` exactly as JCS does."""
    if isinstance(value, str | bool) or value is None:
        return True
    if isinstance(value, int):  # not an IntEnum: json and canonicalize may spell it apart
        return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and key.isascii() and _plain(item) for key, item in value.items()
        )
    return False


def canonical_bytes(value: JSONValue) -> bytes:
    """``canonicalize(value)``, fast for the plain values an envelope is made of."""
    if not _plain(value):
        return canonicalize(value)
    try:
        return _encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string holds a lone surrogate") from None


def checked_json_bytes(value: JSONValue) -> bytes:
    """The JCS bytes of a value already checked to be plain (see the module doc), unguarded.

    For the payload, whose parser has just checked every member's type: strings, integers
    within +-(2**53 - 1), booleans, the fixed ASCII member names.
    """
    try:
        return _encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string holds a lone surrogate") from None


def parse_canonical(raw: bytes, *, where: str) -> JSONValue:
    """Parse ``raw`` strictly and require it to be its own JCS form; ``malformed`` otherwise."""
    try:
        text = raw.decode("utf-8")
        value: JSONValue = _scan_fast(text)
        if _encode(value) == text and (text.isascii() or max(text) <= "\uffff"):
            return value
    except (ValueError, RecursionError, _Unsure):
        pass  # the exact path below says what is wrong, if anything
    try:
        value = parse_json(raw)
    except (ValueError, RecursionError):
        raise malformed(f"{where} is not JSON") from None
    try:
        canonical = canonicalize(value)
    except (CanonicalizationError, RecursionError):
        raise malformed(f"{where} has no canonical (JCS) form") from None
    if canonical != raw:
        raise malformed(f"{where} is not in canonical (JCS) form")
    return value


def disclosure_digest(disclosure: str) -> str:
    """base64url(SHA-256(ASCII(disclosure))), as ``relay.core.sdjwt.disclosure_digest``."""
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(salt: str, name: str, value: JSONValue) -> str:
    """``relay.core.sdjwt.make_disclosure``: ``[salt, name, value]`` as base64url JCS."""
    if not _SALT.fullmatch(salt):
        raise ValueError("salt must be 16-64 base64url characters")
    if name in _RESERVED_NAMES:
        raise ValueError("claim name is reserved by SD-JWT")
    if not isinstance(value, str):
        return b64url_encode(canonical_bytes([salt, name, value]))
    try:  # a line: three JSON strings, JCS-escaped by json's C encoder (see the module doc)
        raw = f"[{_quote(salt)},{_quote(name)},{_quote(value)}]".encode()
    except UnicodeEncodeError:
        raise CanonicalizationError("string holds a lone surrogate") from None
    return b64url_encode(raw)


def decode_disclosure(disclosure: str) -> Disclosure:
    """``relay.core.sdjwt.decode_disclosure``: the same checks and the same refusals."""
    digest, salt, name, value = read_disclosure(disclosure)
    return Disclosure(encoded=disclosure, digest=digest, salt=salt, name=name, value=value)


def read_disclosure(disclosure: str) -> tuple[str, str, str | None, JSONValue]:
    """``decode_disclosure`` as a tuple ``(digest, salt, name, value)``, for the hot path."""
    try:
        text = b64url_decode(disclosure).decode("utf-8")
        try:
            value: JSONValue
            value, end = _raw_strict(text)
            if end != len(text):
                raise ValueError("trailing text")
        except ValueError:  # leading/trailing whitespace is allowed, as json.loads allows it
            value = _scan_strict(text)
    except (ValueError, RecursionError):
        raise VerificationError(
            "disclosure is not base64url JSON", code=Refusal.MALFORMED
        ) from None
    if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[0], str):
        raise VerificationError("disclosure is not [salt, (name,) value]", code=Refusal.MALFORMED)
    name = value[1] if len(value) == 3 else None
    if len(value) == 3 and (not isinstance(name, str) or name in _RESERVED_NAMES):
        raise VerificationError("disclosure claim name is not usable", code=Refusal.MALFORMED)
    return (
        disclosure_digest(disclosure),
        value[0],
        name if isinstance(name, str) else None,
        value[-1],
    )
