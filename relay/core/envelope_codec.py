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
- Disclosures in bulk: :func:`make_line_disclosures`, :func:`disclosure_digests` and
  :func:`read_disclosures` do one base64 call for a whole envelope's Disclosures instead of one
  each; the reader gives up (None) on anything unusual and the caller goes one by one.

``tests/core/test_envelope_codec.py`` checks both against the reference functions.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Final

from relay.core.allowlist import malformed
from relay.core.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalizationError,
    JSONValue,
    canonicalize,
    parse_json,
)
from relay.core.reasons import Reason
from relay.core.sdjwt import Disclosure
from relay.errors import VerificationError

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "canonical_bytes",
    "checked_json_bytes",
    "decode_disclosure",
    "disclosure_digest",
    "disclosure_digests",
    "make_disclosure",
    "make_line_disclosures",
    "parse_canonical",
    "read_disclosure",
    "read_disclosures",
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
_SALT_LIST: Final = re.compile(r"[A-Za-z0-9_-]{16,64}(?:,[A-Za-z0-9_-]{16,64})*")  # no commas
_RESERVED_NAMES: Final = frozenset({"_sd", "...", "_sd_alg"})
# By len(text) % 4: the last characters with no stray bits (only "" for the impossible 1).
_CANONICAL_LAST: Final = ("", "", _ALPHABET[::16], _ALPHABET[::4])


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
_SHA256: Final = hashlib.sha256()
# (value, end) or StopIteration; the C scanner (typeshed does not declare the attribute)
_scan_once: Final[Callable[[str, int], tuple[JSONValue, int]]] = _strict_decoder.scan_once  # type: ignore[attr-defined]


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


def disclosure_digests(disclosures: Sequence[str]) -> list[str]:
    """``[disclosure_digest(d) for d in disclosures]`` with one base64 call for all of them.

    A 32-byte digest followed by a zero byte is 33 bytes, 44 base64 characters, whose first 43
    are the digest's unpadded base64url (the 43rd holds the last 4 bits and 2 zero bits either
    way). So the digests, each with a zero byte, are encoded together and cut every 44.
    """
    digests = []
    for disclosure in disclosures:
        sha = _SHA256.copy()  # cheaper than a new OpenSSL context per Disclosure
        sha.update(disclosure.encode("ascii"))
        digests.append(sha.digest())
    joined = b"\0".join(digests)
    text = binascii.b2a_base64(joined + b"\0", newline=False).translate(_TO_URL).decode()
    return [text[i : i + 43] for i in range(0, 44 * len(disclosures), 44)]


def make_line_disclosures(salts: Sequence[str], lines: Sequence[str]) -> list[str]:
    """``[make_disclosure(salt, f"line.{i}", text) ...]`` with one base64 encoding for all.

    Each Disclosure's bytes are padded with zero bytes to whole 3-byte groups, so the first
    ``ceil(4 * len / 3)`` characters of the shared encoding are its own unpadded base64url.
    Anything unusual (a bad salt, a non-string, a lone surrogate) goes one by one through
    ``make_disclosure``, which raises what it raises.
    """
    try:
        if len(salts) != len(lines) or (salts and not _SALT_LIST.fullmatch(",".join(salts))):
            raise TypeError
        raws = [
            f'["{salt}","line.{i}",{_quote(text)}]'.encode()  # salts need no escaping
            for i, (salt, text) in enumerate(zip(salts, lines, strict=True))
        ]
    except (TypeError, UnicodeEncodeError):
        pairs = enumerate(zip(salts, lines, strict=True))
        return [make_disclosure(salt, f"line.{i}", text) for i, (salt, text) in pairs]
    text = binascii.b2a_base64(
        b"".join([raw + b"\0\0"[: -len(raw) % 3] for raw in raws]), newline=False
    )
    whole = text.translate(_TO_URL).decode()
    out = []
    start = 0
    for raw in raws:
        out.append(whole[start : start + (len(raw) * 4 + 2) // 3])
        start += (len(raw) + 2) // 3 * 4
    return out


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


def read_disclosures(disclosures: Sequence[str]) -> list[tuple[str, str, JSONValue]] | None:
    """``(digest, name, value)`` of each well-formed object-property Disclosure, or None.

    The batch form of :func:`read_disclosure` for the verifier's hot path, with one base64
    decoding and one UTF-8 decoding for all of them. It returns None whenever any Disclosure is
    not one that ``read_disclosure`` accepts with a claim name, or is merely unusual (non-ASCII
    text, whitespace around the JSON): the caller then takes the exact path, one Disclosure at
    a time, which raises the refusal it would have raised.

    Each text is padded with ``A`` (six zero bits) to whole quanta, so the texts decode together;
    its bytes are the first ``3 * len // 4``, and it is canonical when its last character has no
    stray bits. Each array is scanned in place in the decoded whole: it must end exactly where
    its text ends, and as a JSON array ends at its own ``]``, it read nothing of its neighbours.
    """
    try:
        quanta = "".join([text + "AAA"[: -len(text) % 4] for text in disclosures])
        data = binascii.a2b_base64(quanta.encode("ascii").translate(_FROM_URL), strict_mode=True)
        if not data.isascii():
            return None
        whole = data.decode("ascii")
        digests = disclosure_digests(disclosures)
        out = []
        start = 0
        for text, digest in zip(disclosures, digests, strict=True):
            n = len(text)
            if n % 4 and text[-1] not in _CANONICAL_LAST[n % 4]:
                return None  # stray bits, or len % 4 == 1 (no canonical last character)
            value, end = _scan_once(whole, start)
            if (
                end != start + n * 3 // 4
                or type(value) is not list
                or len(value) != 3
                or type(value[0]) is not str
                or type(value[1]) is not str
                or value[1] in _RESERVED_NAMES
            ):
                return None
            out.append((digest, value[1], value[2]))
            start += (n + 3) // 4 * 3
    except (ValueError, RecursionError, StopIteration, TypeError):
        return None  # TypeError: not a str (a SignedEnvelope built by hand); exact path says
    return out


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
            "disclosure is not base64url JSON", code=Reason.MALFORMED
        ) from None
    if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[0], str):
        raise VerificationError("disclosure is not [salt, (name,) value]", code=Reason.MALFORMED)
    name = value[1] if len(value) == 3 else None
    if len(value) == 3 and (not isinstance(name, str) or name in _RESERVED_NAMES):
        raise VerificationError("disclosure claim name is not usable", code=Reason.MALFORMED)
    return (
        disclosure_digest(disclosure),
        value[0],
        name if isinstance(name, str) else None,
        value[-1],
    )
