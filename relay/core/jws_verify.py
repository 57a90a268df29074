"""Schema-free verification of a signed SD-JWT envelope against a JWKS (``relay envelope verify``).

:func:`relay.core.envelope_verify.verify_envelope` reads the relay's own payload through its
allowlist and checks provenance against pinned keys bound to agencies. This module checks only
what the envelope *layout* promises, so it also verifies the worked example
``relay-envelope-example.json``, whose issuer, kids, ``typ`` and claims are not the relay's:

1. shape (``unknown_field`` / ``malformed``): ``{"payload", "signatures"}``; ``signatures[0]``
   may carry ``header.disclosures``, later entries only ``protected`` and ``signature``; at most
   ``max_hops`` hops (``hop_limit``);
2. the payload and every protected header are JSON objects written in their own JCS form
   (``malformed``); ``alg`` is ``Ed25519`` (or ``EdDSA``) and there is no ``crit``
   (``signature_invalid``); the origin header has no ``relay`` member and every later header
   has one (``hop_invalid``);
3. every signature: its ``kid`` is in the key set (``key_not_pinned``), strict Ed25519 over
   ``protected.payload`` (``key_invalid``, ``signature_invalid``);
4. validity (``expired``, ``not_yet_valid``, ``malformed`` when missing): ``exp`` and ``iat``
   are required numbers, ``now - skew < exp``, ``iat <= now + skew``, and ``nbf`` if present
   ``nbf <= now + skew``;
5. hop records (``relay`` in hop *n*'s protected header: ``hop``, ``at``, ``from``, ``to``,
   ``policy``, ``disclosed``, ``prev_sig_sha256``, optional ``onward``): ``hop == n``,
   ``prev_sig_sha256`` is base64url SHA-256 of the previous raw signature, ``disclosed`` is a
   subset of the previous hop's (hop 1: of ``_sd``), ``at`` not before the previous hop's (or
   ``iat``) minus ``skew`` (``hop_invalid``) nor after ``now + skew`` (``not_yet_valid``); a hop
   after a payload or hop record saying ``"onward": false`` is ``onward_forbidden``;
6. Disclosures: object-property Disclosures whose digest is in the payload's top-level ``_sd``
   (``disclosure_invalid``), none twice (``disclosure_duplicate``), none naming a claim the
   payload already has (``disclosure_invalid``); with hops, exactly the last hop's
   ``disclosed`` (``disclosure_invalid``). ``_sd_alg``, if present, is ``sha-256``. Nested
   ``_sd`` / ``...`` below the top level is not supported and is ``malformed``.

What it cannot check: a JWKS binds a kid to a key, not to an agency, so ``iss``, ``from`` and
``to`` are not tied to the signers. Use the relay's pinned keyring (``verify_envelope``) for
provenance and addressing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from relay.core.allowlist import Fields, malformed
from relay.core.canonical import JSONValue
from relay.core.envelope_codec import (
    b64url_decode,
    b64url_encode,
    parse_canonical,
    read_disclosure,
)
from relay.core.envelope_ed25519 import verify_strict
from relay.core.envelope_verify import DEFAULT_MAX_HOPS, DEFAULT_SKEW
from relay.core.envelope_wire import MAX_DISCLOSURES, MAX_SIGNATURES
from relay.core.jws import ED25519_ALGORITHMS, signing_input
from relay.core.keys import public_key_from_jwk
from relay.core.reasons import Reason
from relay.errors import VerificationError

__all__ = ["JwsHop", "VerifiedJws", "parse_jwks", "verify_jws_envelope"]

_PUBLIC_MEMBERS: Final = ("kty", "crv", "x", "kid", "alg", "use")
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_HOP_MEMBERS: Final = (
    "at", "disclosed", "from", "hop", "onward", "policy", "prev_sig_sha256", "to",
)  # fmt: skip
_SD_KEYS: Final = frozenset({"_sd", "..."})


@dataclass(frozen=True, slots=True, kw_only=True)
class JwsHop:
    number: int
    kid: str
    at: int | float
    from_agency: str
    to_agency: str
    policy: str
    disclosed: frozenset[str]
    onward: bool | None  # None when the hop record does not say


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedJws:
    """A verified envelope: its claims with the presented Disclosures resolved."""

    claims: Mapping[str, JSONValue]  # payload minus _sd/_sd_alg, plus each disclosed claim
    kids: tuple[str, ...]  # the signers' kids, origin first
    hops: tuple[JwsHop, ...]
    withheld: int  # digests in _sd with no Disclosure here


def parse_jwks(value: JSONValue) -> dict[str, bytes]:
    """``{"keys": [JWK, ...]}`` or one bare JWK -> ``{kid: raw Ed25519 public key}``.

    Every key must be an OKP/Ed25519 public key with a ``kid`` that passes the strict checks
    (canonical, not of small order); private key members are refused, other members ignored.
    Raises ``ValueError`` naming the key's position and kid: the key set is configuration.
    """
    if isinstance(value, dict) and "keys" in value:
        entries = value["keys"]
        if not isinstance(entries, list):
            raise ValueError("JWKS keys is not a list")
    elif isinstance(value, dict):
        entries = [value]
    else:
        raise ValueError("not a JWKS or a JWK object")
    if not entries:
        raise ValueError("JWKS holds no keys")
    keys: dict[str, bytes] = {}
    for i, jwk in enumerate(entries):
        if not isinstance(jwk, dict):
            raise ValueError(f"key {i} is not an object")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError(f"key {i} has no kid")
        if _PRIVATE_MEMBERS & set(jwk):
            raise ValueError(f"key {i} ({kid}) holds private key members")
        try:
            public = public_key_from_jwk({k: v for k, v in jwk.items() if k in _PUBLIC_MEMBERS})
        except VerificationError as exc:
            raise ValueError(f"key {i} ({kid}): {exc.code}: {exc.message}") from None
        except ValueError as exc:
            raise ValueError(f"key {i} ({kid}): {exc}") from None
        if kid in keys:
            raise ValueError(f"key {i} ({kid}): kid given twice")
        keys[kid] = public
    return keys


def verify_jws_envelope(
    data: JSONValue,
    keys: Mapping[str, bytes],
    *,
    now: datetime,
    skew: timedelta = DEFAULT_SKEW,
    max_hops: int = DEFAULT_MAX_HOPS,
) -> VerifiedJws:
    """Verify everything listed in the module doc or raise ``VerificationError``."""
    payload_b64, members, disclosures = _shape(data, max_hops)
    payload = _object(payload_b64, "payload")
    headers = [
        _object(member[0], f"signatures[{i}].protected") for i, member in enumerate(members)
    ]
    kids = []
    for i, (header, (protected, signature)) in enumerate(zip(headers, members, strict=True)):
        kid = _header_kid(header, i)
        public_key = keys.get(kid)
        if public_key is None:
            raise _refuse(f"signatures[{i}] kid is not in the key set", Reason.KEY_NOT_PINNED)
        try:
            verify_strict(public_key, _decode(signature), signing_input(protected, payload_b64))
        except VerificationError as exc:
            raise _refuse(f"signature by {kid}: {exc.message}", exc.code) from None
        kids.append(kid)

    now_s, skew_s = now.timestamp(), skew.total_seconds()
    exp, iat = _number(payload, "exp"), _number(payload, "iat")
    if now_s - skew_s >= exp:
        raise _refuse("envelope expired", Reason.EXPIRED)
    if iat > now_s + skew_s:
        raise _refuse("envelope iat in the future", Reason.NOT_YET_VALID)
    if "nbf" in payload and _number(payload, "nbf") > now_s + skew_s:
        raise _refuse("envelope nbf in the future", Reason.NOT_YET_VALID)

    sd = _sd(payload)
    hops = []
    prev_disclosed, prev_at = frozenset(sd), iat
    prev_onward = payload.get("onward") is not False
    for number, header in enumerate(headers[1:], start=1):
        hop = _hop(header["relay"], number, kids[number])
        digest = b64url_encode(hashlib.sha256(_decode(members[number - 1][1])).digest())
        if hop.number != number or _text(header["relay"], "prev_sig_sha256") != digest:
            raise _refuse(f"hop {number} does not chain to its predecessor", Reason.HOP_INVALID)
        if not prev_onward:
            raise _refuse(
                f"hop {number} passed on what it was not allowed to", Reason.ONWARD_FORBIDDEN
            )
        if hop.at > now_s + skew_s:
            raise _refuse(f"hop {number} time in the future", Reason.NOT_YET_VALID)
        if hop.at < prev_at - skew_s:
            raise _refuse(f"hop {number} time before its predecessor", Reason.HOP_INVALID)
        if not prev_disclosed.issuperset(hop.disclosed):
            raise _refuse(f"hop {number} disclosed more than it got", Reason.HOP_INVALID)
        hops.append(hop)
        prev_disclosed, prev_at, prev_onward = hop.disclosed, hop.at, hop.onward is not False

    claims = {k: v for k, v in payload.items() if k not in ("_sd", "_sd_alg")}
    _no_nested_sd(claims)
    seen: set[str] = set()
    listed = frozenset(sd)
    for encoded in disclosures:
        digest, _, name, value = read_disclosure(encoded)
        if digest not in listed:
            raise _refuse("disclosure digest not in _sd", Reason.DISCLOSURE_INVALID)
        if digest in seen:
            raise _refuse("disclosure given twice", Reason.DISCLOSURE_DUPLICATE)
        if name is None:
            raise _refuse("disclosure is an array element", Reason.DISCLOSURE_INVALID)
        if name in claims:
            raise _refuse("disclosure names a claim that exists", Reason.DISCLOSURE_INVALID)
        _no_nested_sd(value)
        seen.add(digest)
        claims[name] = value
    if hops and seen != prev_disclosed:
        raise _refuse("disclosures differ from the last hop's list", Reason.DISCLOSURE_INVALID)
    return VerifiedJws(
        claims=MappingProxyType(claims),
        kids=tuple(kids),
        hops=tuple(hops),
        withheld=len(listed) - len(seen),
    )


def _shape(data: JSONValue, max_hops: int) -> tuple[str, list[tuple[str, str]], tuple[str, ...]]:
    top = Fields(data, where="envelope", allowed=("payload", "signatures"))
    payload = _b64_text(top.raw("payload"), "envelope.payload")
    entries = top.raw("signatures")
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_SIGNATURES:
        raise malformed(f"envelope.signatures is not a list of 1-{MAX_SIGNATURES}")
    if len(entries) - 1 > max_hops:
        raise _refuse(f"{len(entries) - 1} hops > {max_hops}", Reason.HOP_LIMIT)
    members = []
    disclosures: tuple[str, ...] = ()
    for i, entry in enumerate(entries):
        where = f"signatures[{i}]"
        allowed = ("protected", "header", "signature") if i == 0 else ("protected", "signature")
        fields = Fields(entry, where=where, allowed=allowed)
        if i == 0 and fields.has("header"):
            header = Fields(
                fields.raw("header"), where=f"{where}.header", allowed=("disclosures",)
            )
            if header.has("disclosures"):
                found = header.raw("disclosures")
                if not isinstance(found, list) or len(found) > MAX_DISCLOSURES:
                    raise malformed(f"{where}.header.disclosures is not a list")
                disclosures = tuple(_b64_text(d, f"{where}.header.disclosures") for d in found)
        members.append(
            (
                _b64_text(fields.raw("protected"), f"{where}.protected"),
                _b64_text(fields.raw("signature"), f"{where}.signature"),
            )
        )
    return payload, members, disclosures


def _b64_text(value: JSONValue, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise malformed(f"{where} is not a base64url string")
    return value


def _decode(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise malformed("a part is not canonical base64url") from None


def _object(part: str, where: str) -> dict[str, JSONValue]:
    value = parse_canonical(_decode(part), where=where)
    if not isinstance(value, dict):
        raise malformed(f"{where} is not a JSON object")
    return value


def _header_kid(header: dict[str, JSONValue], i: int) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ED25519_ALGORITHMS or "crit" in header:
        raise _refuse(f"signatures[{i}] alg is not Ed25519", Reason.SIGNATURE_INVALID)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise malformed(f"signatures[{i}] has no kid")
    if (i == 0) == ("relay" in header):
        raise _refuse(
            f"signatures[{i}] " + ("is not a hop" if i else "carries a hop record"),
            Reason.HOP_INVALID,
        )
    return kid


def _number(claims: dict[str, JSONValue], key: str) -> int | float:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(f"payload.{key} is not a number")
    return value


def _text(record: JSONValue, key: str) -> str:
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, str) or not value:
        raise malformed(f"hop record {key} is not a string")
    return value


def _sd(payload: dict[str, JSONValue]) -> tuple[str, ...]:
    if payload.get("_sd_alg", "sha-256") != "sha-256":
        raise malformed("payload._sd_alg is not sha-256")
    sd = payload.get("_sd", [])
    if not isinstance(sd, list) or not all(isinstance(d, str) for d in sd):
        raise malformed("payload._sd is not a list of digests")
    if len(set(sd)) != len(sd):
        raise malformed("payload._sd lists a digest twice")
    return tuple(str(d) for d in sd)


def _hop(record: JSONValue, number: int, kid: str) -> JwsHop:
    where = f"hop {number} record"
    fields = Fields(record, where=where, allowed=_HOP_MEMBERS)
    hop_number = fields.raw("hop")
    if isinstance(hop_number, bool) or not isinstance(hop_number, int):
        raise malformed(f"{where} hop is not an integer")
    disclosed = fields.raw("disclosed")
    if not isinstance(disclosed, list) or not all(isinstance(d, str) for d in disclosed):
        raise malformed(f"{where} disclosed is not a list of digests")
    if len(set(disclosed)) != len(disclosed):
        raise malformed(f"{where} disclosed lists a digest twice")
    onward = fields.raw("onward") if fields.has("onward") else None
    if onward is not None and not isinstance(onward, bool):
        raise malformed(f"{where} onward is not a boolean")
    at = fields.raw("at")
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise malformed(f"{where} at is not a number")
    return JwsHop(
        number=hop_number,
        kid=kid,
        at=at,
        from_agency=_text(record, "from"),
        to_agency=_text(record, "to"),
        policy=_text(record, "policy"),
        disclosed=frozenset(str(d) for d in disclosed),
        onward=onward,
    )


def _no_nested_sd(value: JSONValue) -> None:
    """Refuse ``_sd`` / ``...`` below the top level: recursive disclosure is not supported."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if _SD_KEYS & set(item):
                raise malformed("nested selective disclosure is not supported")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refuse(message: str, code: str) -> VerificationError:
    return VerificationError(message, code=code)
