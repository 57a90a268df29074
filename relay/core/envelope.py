"""Signed relay envelopes: build, sign at the origin, append hops, verify.

The format is an SD-JWT (RFC 9901) in JWS General JSON Serialization (RFC 7515 section 7.2.1)
with JCS (RFC 8785) payload and headers and alg ``Ed25519`` (RFC 9864), as in the worked example
``relay-envelope-example.json``. The origin agency signs the payload once. Each relay on the
path may withhold Disclosures (lines, files) and appends its own signature over the same
payload; its protected header holds a hop record chained to the previous signature. See
``docs/envelope.md`` for the full format and refusal reasons.

Where this differs from the example, and why:

- ``iss`` and ``from``/``to`` are agency ORIs and kids are ``<ORI>#<suffix>``, not DNS names.
- ``typ`` is ``relay-envelope+sd-jwt``; ``kind`` is ``post|edit|delete|cancel``.
- Message content lives only in Disclosures (``line.N``, ``file.N``); the example's always-visible
  ``text``/``priority``/``channel`` claims do not exist, so a relay can withhold any line. The
  index in the claim name signs the order of lines; a withheld one leaves a visible gap.
- Disclosures are written as JCS (the example uses ``", "`` separators); digests are over the
  base64url text either way, JCS just makes building twice give identical bytes.
- ``_sd`` must be sorted and unique, so its order says nothing about the order of lines.
- Every hop's ``disclosed`` must be a subset of the previous hop's, and the Disclosures that
  arrive must be exactly the last hop's ``disclosed``: a Disclosure withheld upstream cannot be
  put back downstream.
- The origin signs the partner it addressed (``aud``) and whether that partner may pass the
  envelope on (``onward``); each hop signs the same permission for its own recipient. The first
  hop must be signed by ``aud``, and a hop exists only where the previous signer allowed it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.canonical import JSONValue
from relay.core.envelope_claims import (
    MAX_LINE_CHARS,
    Author,
    DisclosedFile,
    DisclosedLine,
    EnvelopeKind,
    FileRef,
    Payload,
    check_line,
    file_claim,
    parse_claim,
    payload_from_jcs,
    payload_from_json,
    payload_jcs_text,
)
from relay.core.envelope_codec import (
    b64url_encode,
    canonical_bytes,
    checked_json_bytes,
    disclosure_digest,
    disclosure_digests,
    make_disclosure,
    make_line_disclosures,
    read_disclosure,
)
from relay.core.envelope_verify import Hop, VerifiedEnvelope, verify_envelope
from relay.core.envelope_wire import (
    HopRecord,
    SignedEnvelope,
    WireSignature,
    hop_header,
    origin_header,
    parse_hop_header,
    parse_origin_header,
)
from relay.core.ids import EnvelopeId
from relay.core.jws import signing_input
from relay.core.model import AgencyId
from relay.core.signing import sign
from relay.errors import VerificationError

__all__ = [
    "Author",
    "DisclosedFile",
    "DisclosedLine",
    "EnvelopeId",
    "EnvelopeKind",
    "FileRef",
    "Hop",
    "SignedEnvelope",
    "UnsignedEnvelope",
    "VerifiedEnvelope",
    "add_hop",
    "build_envelope",
    "from_wire",
    "sign_origin",
    "to_wire",
    "verify_envelope",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsignedEnvelope:
    """JCS payload bytes and every Disclosure, before the origin signs."""

    payload: bytes
    disclosures: tuple[str, ...]


def build_envelope(
    *,
    issuer: AgencyId,
    audience: AgencyId | None,
    onward: bool,
    envelope_id: EnvelopeId,
    issued_at: datetime,
    expires_at: datetime,
    kind: EnvelopeKind,
    topic: str,
    marking: str | None,
    author: Author,
    lines: Sequence[str],
    files: Sequence[FileRef] = (),
    salts: Sequence[str],
    thread: EnvelopeId | None = None,
    target: EnvelopeId | None = None,
    broadcast: bool = False,
) -> UnsignedEnvelope:
    """Build the payload and Disclosures; ``salts`` gives one salt per line, then per file.

    ``audience`` is the partner this copy is sent to; ``onward`` whether it may pass it on
    (see ``relay.core.routing.onward_allowed``). One envelope per partner: each names its own.
    ``audience=None`` leaves ``aud`` out: the envelope is addressed to no one in particular
    (``relay envelope sign`` without ``--peer``), and ``onward`` must then be false, as no
    agency could sign hop 1 of it. ``marking`` is the highest portion mark the lines carry
    (``relay.core.policy.marking.portion_text``), None for an unmarked message.
    """
    if audience == issuer:
        raise ValueError("audience must be another agency than the issuer")
    if audience is None and onward:
        raise ValueError("onward needs an audience: hop 1 must be signed by aud")
    if len(salts) != len(lines) + len(files):
        raise ValueError(f"need {len(lines) + len(files)} salts, got {len(salts)}")
    if len(set(salts)) != len(salts):
        raise ValueError("salts must be distinct")
    file_claims = [file_claim(i, file) for i, file in enumerate(files)]
    disclosures = (
        *make_line_disclosures(salts[: len(lines)], lines),
        *(
            make_disclosure(salt, name, value)
            for salt, (name, value) in zip(salts[len(lines) :], file_claims, strict=True)
        ),
    )
    payload = Payload(
        iss=issuer,
        aud=audience,
        onward=onward,
        jti=envelope_id,
        iat=_seconds(issued_at),
        exp=_seconds(expires_at),
        kind=kind,
        topic=topic,
        marking=marking,
        author=author,
        thread=thread,
        target=target,
        sd=tuple(sorted(disclosure_digests(disclosures))),
        broadcast=broadcast,
    )
    # The parser is the one definition of a valid envelope: run its checks on what we built.
    raw = _fast_payload_bytes(payload)
    try:
        if raw is None:  # the exact path: the checks on the JSON values (see below)
            payload_from_json(payload.to_json())
        if not all(type(text) is str and len(text) <= MAX_LINE_CHARS for text in lines):
            for index, text in enumerate(lines):  # check_line's refusal for the first bad one
                check_line(index, text)
        for name, value in file_claims:
            parse_claim(name, value)
    except VerificationError as exc:
        raise ValueError(exc.message) from None
    # Once the payload's checks pass, every member is a string, a safe integer or a boolean
    # under a fixed ASCII name, so json's encoder writes exactly its JCS bytes
    # (relay.core.envelope_codec).
    return UnsignedEnvelope(
        payload=checked_json_bytes(payload.to_json()) if raw is None else raw,
        disclosures=disclosures,
    )


def _fast_payload_bytes(payload: Payload) -> bytes | None:
    """The payload's bytes if parsing them gives ``payload`` back by the fast path, else None.

    ``payload_jcs_text`` writes only members of their exact types, and ``payload_from_jcs``
    accepts only JCS text whose members pass the parser's checks. So whenever this accepts,
    the exact path (``payload_from_json``, then ``checked_json_bytes``) would accept the same
    values and write the same bytes.
    """
    text = payload_jcs_text(payload)
    if text is None or payload_from_jcs(text) != payload:
        return None
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: the exact path refuses it in its turn
        return None


def sign_origin(unsigned: UnsignedEnvelope, *, key: Ed25519PrivateKey, kid: str) -> SignedEnvelope:
    """The origin agency's signature over the payload, with every Disclosure attached."""
    protected = _origin_protected(kid)
    payload = b64url_encode(unsigned.payload)
    signature = b64url_encode(sign(key, signing_input(protected, payload)))
    return SignedEnvelope(
        payload=payload,
        signatures=(WireSignature(protected=protected, signature=signature),),
        disclosures=unsigned.disclosures,
    )


def add_hop(
    envelope: SignedEnvelope,
    *,
    key: Ed25519PrivateKey,
    kid: str,
    from_agency: AgencyId,
    to_agency: AgencyId,
    at: datetime,
    policy: str,
    onward: bool,
    withhold_lines: Collection[int] = (),
    withhold_files: Collection[int] = (),
) -> SignedEnvelope:
    """Withhold some lines/files and append this relay's hop signature.

    ``from_agency`` is the agency that sent the envelope here (the last signer), ``policy``
    is ``<policy id>@<version>``, ``onward`` whether ``to_agency`` may pass it on. The origin
    signature and payload are left untouched. Whether this relay may forward at all is the
    verifier's and ``relay.core.routing``'s business, not checked here.
    """
    kept = []
    for encoded in envelope.disclosures:
        _, _, name, value = read_disclosure(encoded)
        part = parse_claim(name, value)
        withheld = withhold_lines if isinstance(part, DisclosedLine) else withhold_files
        if part.index not in withheld:
            kept.append(encoded)
    record = HopRecord(
        number=len(envelope.signatures),
        at=_seconds(at),
        from_agency=from_agency,
        to_agency=to_agency,
        policy=policy,
        disclosed=tuple(sorted(disclosure_digest(d) for d in kept)),
        prev_sig_sha256=b64url_encode(
            hashlib.sha256(envelope.signatures[-1].signature_bytes).digest()
        ),
        onward=onward,
    )
    protected = b64url_encode(canonical_bytes(hop_header(kid, record)))
    try:
        parse_hop_header(protected)
    except VerificationError as exc:
        raise ValueError(exc.message) from None
    signature = b64url_encode(sign(key, signing_input(protected, envelope.payload)))
    return SignedEnvelope(
        payload=envelope.payload,
        signatures=(*envelope.signatures, WireSignature(protected=protected, signature=signature)),
        disclosures=tuple(kept),
    )


def to_wire(envelope: SignedEnvelope) -> dict[str, JSONValue]:
    return envelope.to_wire()


def from_wire(data: JSONValue) -> SignedEnvelope:
    return SignedEnvelope.from_wire(data)


@lru_cache(maxsize=64)  # one kid per agency key: build and check its header once
def _origin_protected(kid: str) -> str:
    protected = b64url_encode(canonical_bytes(origin_header(kid)))
    try:
        parse_origin_header(protected)
    except VerificationError as exc:
        raise ValueError(exc.message) from None
    return protected


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND: Final = timedelta(seconds=1)


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return (moment - _EPOCH) // _SECOND
