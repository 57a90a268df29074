"""The envelope on the wire: JWS General JSON Serialization, read through allowlists.

::

    {"payload": "<b64url JCS payload>",
     "signatures": [
       {"protected": "<b64url JCS {alg, kid, typ}>",            the origin agency
        "header": {"disclosures": ["<Disclosure>", ...]},
        "signature": "<b64url 64 bytes>"},
       {"protected": "<b64url JCS {alg, kid, relay: {...}}>",   hop 1, hop 2, ...
        "signature": "<b64url 64 bytes>"}]}

Only the first signature carries an unprotected ``header`` (RFC 9901 section 8.1); anything
else anywhere is ``unknown_field``. Protected headers must be exactly their own JCS bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from re import Pattern
from typing import Final

from relay.core.allowlist import Fields, malformed
from relay.core.canonical import CanonicalizationError, JSONValue, canonicalize
from relay.core.envelope_codec import b64url_decode, parse_canonical
from relay.core.ids import KID_PATTERN, ORI_PATTERN, KeyId
from relay.core.model import AgencyId

__all__ = [
    "ALG",
    "DIGEST_PATTERN",
    "ENVELOPE_TYP",
    "MAX_DISCLOSURES",
    "HopRecord",
    "SignedEnvelope",
    "WireSignature",
    "boolean",
    "decode_header",
    "hop_header",
    "origin_header",
    "parse_hop_header",
    "parse_origin_header",
    "require_jcs",
    "text_member",
]

ALG: Final = "Ed25519"
ENVELOPE_TYP: Final = "relay-envelope+sd-jwt"
MAX_DISCLOSURES: Final = 512
MAX_SIGNATURES: Final = 64  # far above any hop limit; bounds work before hop_limit is checked
DIGEST_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_B64: Final = re.compile(r"[A-Za-z0-9_-]+")
_POLICY: Final = re.compile(r"[A-Za-z0-9._/-]{1,100}@[A-Za-z0-9._-]{1,32}")
_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_TOP_FIELDS: Final = frozenset({"payload", "signatures"})
_FIRST_FIELDS: Final = frozenset({"protected", "header", "signature"})
_HOP_FIELDS: Final = frozenset({"protected", "signature"})
_HEADER_FIELDS: Final = frozenset({"disclosures"})


@dataclass(frozen=True, slots=True, kw_only=True)
class WireSignature:
    protected: str
    signature: str

    @property
    def signature_bytes(self) -> bytes:
        return b64url_decode(self.signature)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedEnvelope:
    """An envelope as sent: base64url parts, checked for shape only (not yet verified)."""

    payload: str
    signatures: tuple[WireSignature, ...]
    disclosures: tuple[str, ...]

    @classmethod
    def from_wire(cls, data: JSONValue) -> SignedEnvelope:
        top = Fields(data, where="envelope", allowed=_TOP_FIELDS)
        payload = _b64_member(top, "payload", where="envelope", max_len=1 << 20)
        members = top.raw("signatures")
        if not isinstance(members, list) or not 0 < len(members) <= MAX_SIGNATURES:
            raise malformed(f"envelope.signatures is not a list of 1-{MAX_SIGNATURES}")
        signatures = []
        disclosures: tuple[str, ...] = ()
        for i, member in enumerate(members):
            where = f"signatures[{i}]"
            fields = Fields(member, where=where, allowed=_FIRST_FIELDS if i == 0 else _HOP_FIELDS)
            if i == 0:
                header = Fields(fields.raw("header"), where="header", allowed=_HEADER_FIELDS)
                disclosures = _disclosure_list(header)
            signatures.append(
                WireSignature(
                    protected=_b64_member(fields, "protected", where=where, max_len=8192),
                    signature=_b64_member(fields, "signature", where=where, max_len=86),
                )
            )
        return cls(payload=payload, signatures=tuple(signatures), disclosures=disclosures)

    def to_wire(self) -> dict[str, JSONValue]:
        members: list[JSONValue] = []
        for i, sig in enumerate(self.signatures):
            member: dict[str, JSONValue] = {"protected": sig.protected}
            if i == 0:
                member["header"] = {"disclosures": list(self.disclosures)}
            member["signature"] = sig.signature
            members.append(member)
        return {"payload": self.payload, "signatures": members}


@dataclass(frozen=True, slots=True, kw_only=True)
class HopRecord:
    """What one relay did: received from ``from_agency``, forwarded to ``to_agency``."""

    number: int
    at: int
    from_agency: AgencyId
    to_agency: AgencyId
    policy: str  # "<policy id>@<version>"
    disclosed: tuple[str, ...]  # sorted digests of the Disclosures forwarded
    prev_sig_sha256: str
    onward: bool  # may ``to_agency`` pass the envelope on to its own partners

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "at": self.at,
            "disclosed": list(self.disclosed),
            "from": self.from_agency,
            "hop": self.number,
            "onward": self.onward,
            "policy": self.policy,
            "prev_sig_sha256": self.prev_sig_sha256,
            "to": self.to_agency,
        }


def origin_header(kid: str) -> dict[str, JSONValue]:
    return {"alg": ALG, "kid": kid, "typ": ENVELOPE_TYP}


def hop_header(kid: str, record: HopRecord) -> dict[str, JSONValue]:
    return {"alg": ALG, "kid": kid, "relay": record.to_json()}


def require_jcs(raw: bytes, value: JSONValue, where: str) -> None:
    try:
        canonical = canonicalize(value)
    except (CanonicalizationError, RecursionError):  # e.g. a lone surrogate from a \u escape
        raise malformed(f"{where} has no canonical (JCS) form") from None
    if canonical != raw:
        raise malformed(f"{where} is not in canonical (JCS) form")


def decode_header(protected: str, where: str) -> dict[str, JSONValue]:
    """A protected header: base64url of a JSON object that is its own JCS form."""
    try:
        raw = b64url_decode(protected)
    except ValueError:
        raise malformed(f"{where} is not base64url") from None
    value = parse_canonical(raw, where=where)
    if not isinstance(value, dict):
        raise malformed(f"{where} is not a JSON object")
    return value


def text_member(
    fields: Fields,
    key: str,
    *,
    where: str,
    pattern: Pattern[str] | None = None,
    max_len: int = 256,
) -> str:
    """``Fields.text`` with the control-character scan done by a regex (the hot path)."""
    value = fields.raw(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise malformed(f"{where}.{key} is not a string of 1-{max_len} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise malformed(f"{where}.{key} has the wrong form")
    if _CONTROL.search(value):
        raise malformed(f"{where}.{key} holds control characters")
    return value


def _disclosure_list(header: Fields) -> tuple[str, ...]:
    """``header.text_list("disclosures", pattern=_B64, ...)``, one regex over them all.

    The alphabet has no comma, so when the comma-joined texts hold nothing but the alphabet and
    one comma between each two, each (non-empty) text matches ``_B64``.
    """
    value = header.raw("disclosures")
    if isinstance(value, list) and len(value) <= MAX_DISCLOSURES:
        texts = tuple(value)
        if all(type(text) is str and text for text in texts):
            joined: str = ",".join(texts)
            if joined.isascii() and joined.encode().translate(None, _ALPHABET) == b"," * (
                len(texts) - 1
            ):
                return texts
    return header.text_list("disclosures", pattern=_B64, max_items=MAX_DISCLOSURES)


def _b64_member(fields: Fields, key: str, *, where: str, max_len: int) -> str:
    """A base64url text member (the pattern already rules out control characters)."""
    value = fields.raw(key)
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_len
        or not value.isascii()
        or value.encode().translate(None, _ALPHABET)  # _B64.fullmatch, three times faster
    ):
        raise malformed(f"{where}.{key} is not base64url of 1-{max_len} characters")
    return value


def boolean(fields: Fields, key: str, *, where: str) -> bool:
    """A required JSON ``true``/``false`` member (``malformed`` for anything else, even 0/1)."""
    value = fields.raw(key)
    if not isinstance(value, bool):
        raise malformed(f"{where}.{key} is not a boolean")
    return value


@lru_cache(maxsize=256)  # an origin sends the same header every time; errors are not cached
def parse_origin_header(protected: str) -> KeyId:
    """The kid of the origin signature's protected header."""
    value = decode_header(protected, "origin header")
    fields = Fields(value, where="origin header", allowed=("alg", "kid", "typ"))
    if fields.raw("alg") != ALG or fields.raw("typ") != ENVELOPE_TYP:
        raise malformed("origin header alg/typ is not the relay's")
    return KeyId(text_member(fields, "kid", where="origin header", pattern=KID_PATTERN))


def parse_hop_header(protected: str) -> tuple[KeyId, HopRecord]:
    """The kid and hop record of a relay signature's protected header."""
    value = decode_header(protected, "hop header")
    fields = Fields(value, where="hop header", allowed=("alg", "kid", "relay"))
    if fields.raw("alg") != ALG:
        raise malformed("hop header alg is not the relay's")
    where = "hop header.relay"
    relay = Fields(
        fields.raw("relay"),
        where=where,
        allowed=("at", "disclosed", "from", "hop", "onward", "policy", "prev_sig_sha256", "to"),
    )
    disclosed = relay.text_list("disclosed", pattern=DIGEST_PATTERN, max_items=MAX_DISCLOSURES)
    if list(disclosed) != sorted(set(disclosed)):
        raise malformed("hop header.relay.disclosed is not sorted and unique")
    record = HopRecord(
        number=relay.integer("hop", low=1, high=MAX_SIGNATURES),
        at=relay.integer("at"),
        from_agency=AgencyId(text_member(relay, "from", where=where, pattern=ORI_PATTERN)),
        to_agency=AgencyId(text_member(relay, "to", where=where, pattern=ORI_PATTERN)),
        policy=text_member(relay, "policy", where=where, pattern=_POLICY),
        disclosed=disclosed,
        prev_sig_sha256=text_member(relay, "prev_sig_sha256", where=where, pattern=DIGEST_PATTERN),
        onward=boolean(relay, "onward", where="hop header.relay"),
    )
    return KeyId(text_member(fields, "kid", where="hop header", pattern=KID_PATTERN)), record
