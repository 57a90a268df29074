"""Verify a relay envelope against pinned keys at a given time; see ``docs/envelope.md``.

Order of checks (the first failure is the refusal reason):

1. shape: only allowlisted fields (``unknown_field``), types and encodings (``malformed``);
2. hop count (``hop_limit``), before any signature work;
3. payload and headers are their own JCS bytes, payload claims are valid (``malformed``);
4. every signature, origin first: kid pinned and usable now (``key_not_pinned``,
   ``key_revoked``, ``not_yet_valid``, ``expired``), origin key pinned to ``iss``
   (``issuer_mismatch``), strict Ed25519 (``signature_invalid``);
5. times: ``iat`` not before the origin key's ``not_before`` minus ``skew`` (nor a hop's ``at``
   before its key's: ``issued_before_key``), ``exp - iat`` at most ``max_lifetime``
   (``lifetime_too_long``), ``iat``/``exp`` against ``now`` with ``skew`` (``not_yet_valid``,
   ``expired``), the newest signature (``iat``, or the last hop's ``at``) at most ``max_age``
   old (``too_old``);
6. the path of agencies holds no agency twice (``loop``);
7. addressing: a direct envelope's ``aud`` is the ``receiver`` (``not_addressed``); hop 1 is
   signed by ``aud``, and hop records chain: number, previous-signature digest, from/to, times,
   disclosed subsets (``hop_invalid``); each hop was allowed by the previous signer's ``onward``
   (``onward_forbidden``);
8. Disclosures: each digest in ``_sd`` and, after a hop, exactly the last hop's ``disclosed``
   (``disclosure_invalid``); none twice (``disclosure_duplicate``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Final

from relay.core.canonical import JSONValue
from relay.core.defaults import (
    ENVELOPE_MAX_AGE,
    ENVELOPE_MAX_LIFETIME,
    HOP_LIMIT,
    VERIFY_SKEW,
)
from relay.core.envelope_claims import (
    Author,
    DisclosedFile,
    DisclosedLine,
    EnvelopeId,
    EnvelopeKind,
    parse_claims,
    parse_payload,
)
from relay.core.envelope_codec import (
    b64url_decode,
    b64url_encode,
    read_disclosure,
    read_disclosures,
)
from relay.core.envelope_ed25519 import verify_strict
from relay.core.envelope_wire import (
    HopRecord,
    SignedEnvelope,
    WireSignature,
    parse_hop_header,
    parse_origin_header,
)
from relay.core.jws import signing_input
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.reasons import Reason
from relay.errors import VerificationError

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_HOPS",
    "DEFAULT_MAX_LIFETIME",
    "DEFAULT_SKEW",
    "Hop",
    "VerifiedEnvelope",
    "verify_envelope",
]

DEFAULT_MAX_HOPS: Final = HOP_LIMIT
DEFAULT_SKEW: Final = VERIFY_SKEW
DEFAULT_MAX_AGE: Final = ENVELOPE_MAX_AGE
DEFAULT_MAX_LIFETIME: Final = ENVELOPE_MAX_LIFETIME
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_INDEX: Final = attrgetter("index")


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    number: int
    signer: AgencyId  # the agency the hop's key is pinned to
    kid: KeyId
    from_agency: AgencyId
    to_agency: AgencyId
    at: datetime
    policy_id: str
    policy_version: str
    disclosed: tuple[str, ...]
    onward: bool  # may ``to_agency`` pass it on


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEnvelope:
    """What a verified envelope says; lines and files in index order, gaps where withheld."""

    envelope_id: EnvelopeId
    issuer: AgencyId
    audience: AgencyId | None  # the partner the origin addressed (``aud``), None if absent
    onward: bool  # may the receiver pass it on: the origin's ``onward``, or the last hop's
    origin_kid: KeyId
    issued_at: datetime
    expires_at: datetime
    kind: EnvelopeKind
    topic: str
    marking: str | None  # the highest portion mark the message carries, None: unmarked
    author: Author
    thread: EnvelopeId | None
    target: EnvelopeId | None
    broadcast: bool  # a thread reply the origin also sent to the channel
    lines: tuple[DisclosedLine, ...]
    files: tuple[DisclosedFile, ...]
    withheld: int  # digests in _sd with no Disclosure here
    hops: tuple[Hop, ...]
    path: tuple[AgencyId, ...]  # issuer, aud and each later hop signer, then the receiver
    envelope: SignedEnvelope  # as received, for add_hop

    @property
    def last_signer(self) -> AgencyId:
        return self.hops[-1].signer if self.hops else self.issuer


def verify_envelope(
    data: JSONValue | SignedEnvelope,
    keyring: Keyring,
    *,
    now: datetime,
    max_hops: int = DEFAULT_MAX_HOPS,
    skew: timedelta = DEFAULT_SKEW,
    receiver: AgencyId | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> VerifiedEnvelope:
    """Verify everything or raise ``VerificationError`` with a :class:`Reason` code.

    ``receiver``, if given, must be ``aud`` when there are no hops (``not_addressed``, also
    when the payload has no ``aud``) and the last hop's ``to`` otherwise (``hop_invalid``).
    Relays should always pass it: without it a direct envelope is not checked against its
    addressee. An envelope without ``aud`` can have no hops (hop 1 must be signed by ``aud``).

    ``max_age`` bounds the age of the newest signature: ``iat`` for a direct envelope, the
    last hop's ``at`` for a relayed one (each relay's outbox holds it up to its own
    ``delivery.max_age_hours``); ``max_lifetime`` bounds ``exp - iat``, and so how long after
    ``iat`` anything can still verify.
    """
    env = data if isinstance(data, SignedEnvelope) else SignedEnvelope.from_wire(data)
    if len(env.signatures) - 1 > max_hops:
        raise _refuse(f"{len(env.signatures) - 1} hops > {max_hops}", Reason.HOP_LIMIT)
    payload = parse_payload(_decode(env.payload))
    origin_kid = parse_origin_header(env.signatures[0].protected)
    origin = keyring.lookup(origin_kid, now=now)
    if origin.agency != payload.iss:
        raise _refuse(f"origin key {origin.kid} is not pinned to iss", Reason.ISSUER_MISMATCH)
    _verify_member(origin, env.signatures[0], env.payload)
    chain: list[tuple[PinnedKey, HopRecord]] = []
    for member in env.signatures[1:]:
        kid, record = parse_hop_header(member.protected)
        key = keyring.lookup(kid, now=now)
        _verify_member(key, member, env.payload)
        chain.append((key, record))

    now_s, skew_s = now.timestamp(), skew.total_seconds()
    if payload.iat < origin.not_before.timestamp() - skew_s:
        raise _refuse(
            f"envelope {payload.jti} iat before key {origin.kid} was valid",
            Reason.ISSUED_BEFORE_KEY,
        )
    for number, (key, record) in enumerate(chain, start=1):
        if record.at < key.not_before.timestamp() - skew_s:
            raise _refuse(
                f"hop {number} at before key {key.kid} was valid", Reason.ISSUED_BEFORE_KEY
            )
    if payload.exp - payload.iat > max_lifetime.total_seconds():
        raise _refuse(f"envelope {payload.jti} lifetime too long", Reason.LIFETIME_TOO_LONG)
    if payload.iat > now_s + skew_s:
        raise _refuse(f"envelope {payload.jti} iat in the future", Reason.NOT_YET_VALID)
    if now_s - skew_s >= payload.exp:
        raise _refuse(f"envelope {payload.jti} expired", Reason.EXPIRED)
    signed_at = chain[-1][1].at if chain else payload.iat
    if now_s - signed_at > max_age.total_seconds():
        raise _refuse(f"envelope {payload.jti} too old", Reason.TOO_OLD)

    # A direct envelope goes to receiver, which must be aud (not_addressed below; an issuer
    # receiving its own envelope is a loop first). With hops, hop 1 must be signed by aud.
    addressee = payload.aud if receiver is None else receiver
    path = [payload.iss] if addressee is None else [payload.iss, addressee]
    if chain:
        path[1:] = [*(key.agency for key, _ in chain), chain[-1][1].to_agency]
    if len(set(path)) != len(path):
        raise _refuse(f"envelope {payload.jti} path visits an agency twice", Reason.LOOP)
    if receiver is not None and not chain and payload.aud != receiver:
        raise _refuse(
            f"envelope {payload.jti} is addressed to another agency", Reason.NOT_ADDRESSED
        )

    prev_signer, prev_sig, prev_at = origin.agency, env.signatures[0], payload.iat
    prev_disclosed, prev_onward = frozenset(payload.sd), payload.onward
    hops = []
    for number, ((key, record), member) in enumerate(
        zip(chain, env.signatures[1:], strict=True), start=1
    ):
        digest = b64url_encode(hashlib.sha256(_decode(prev_sig.signature)).digest())
        if record.number != number or record.prev_sig_sha256 != digest:
            raise _refuse(f"hop {number} does not chain to its predecessor", Reason.HOP_INVALID)
        if record.from_agency != prev_signer:
            raise _refuse(f"hop {number} from is not the previous signer", Reason.HOP_INVALID)
        if number == 1 and key.agency != payload.aud:
            raise _refuse(
                "hop 1 is not signed by the agency the origin addressed", Reason.HOP_INVALID
            )
        if number < len(chain) and chain[number][0].agency != record.to_agency:
            raise _refuse(f"hop {number} to is not the next signer", Reason.HOP_INVALID)
        if record.at > now_s + skew_s:
            raise _refuse(f"hop {number} time in the future", Reason.NOT_YET_VALID)
        if record.at < prev_at - skew_s:
            raise _refuse(f"hop {number} time before its predecessor", Reason.HOP_INVALID)
        if not prev_disclosed.issuperset(record.disclosed):
            raise _refuse(f"hop {number} disclosed more than it got", Reason.HOP_INVALID)
        if not prev_onward:
            raise _refuse(
                f"hop {number} passed on what it was not allowed to", Reason.ONWARD_FORBIDDEN
            )
        hops.append(_hop(number, key, record))
        prev_signer, prev_sig, prev_at = key.agency, member, record.at
        prev_disclosed, prev_onward = frozenset(record.disclosed), record.onward
    if receiver is not None and chain and chain[-1][1].to_agency != receiver:
        raise _refuse("last hop is addressed to another agency", Reason.HOP_INVALID)

    sd = frozenset(payload.sd)
    disclosures = _check_disclosures(env.disclosures, sd)
    if chain and {digest for digest, _, _ in disclosures} != prev_disclosed:
        raise _refuse("disclosures differ from the last hop's list", Reason.DISCLOSURE_INVALID)
    lines, files = parse_claims(disclosures)
    for group in (lines, files):
        if len(group) > 1:
            group.sort(key=_INDEX)
            if len({p.index for p in group}) != len(group):
                raise _refuse("a line or file is disclosed twice", Reason.DISCLOSURE_DUPLICATE)
    return VerifiedEnvelope(
        envelope_id=payload.jti,
        issuer=payload.iss,
        audience=payload.aud,
        onward=prev_onward,
        origin_kid=origin.kid,
        issued_at=_time(payload.iat),
        expires_at=_time(payload.exp),
        kind=payload.kind,
        topic=payload.topic,
        marking=payload.marking,
        author=payload.author,
        thread=payload.thread,
        target=payload.target,
        broadcast=payload.broadcast,
        lines=tuple(lines),
        files=tuple(files),
        withheld=len(payload.sd) - len(disclosures),
        hops=tuple(hops),
        path=tuple(path),
        envelope=env,
    )


def _verify_member(key: PinnedKey, member: WireSignature, payload_b64: str) -> None:
    signature = _decode(member.signature)
    try:
        verify_strict(key.public_key, signature, signing_input(member.protected, payload_b64))
    except VerificationError as exc:  # keep the reason, name the kid
        raise _refuse(f"signature by {key.kid}: {exc.message}", Reason.SIGNATURE_INVALID) from None


def _check_disclosures(
    encoded: tuple[str, ...], sd: frozenset[str]
) -> Sequence[tuple[str, str | None, JSONValue]]:
    """Each Disclosure's (digest, name, value); digest in ``_sd``, given once (RFC 9901 7.1)."""
    found = read_disclosures(encoded)
    if found is not None:  # all well-formed: check them together, else find the first failure
        digests = [digest for digest, _, _ in found]
        if sd.issuperset(digests) and len(set(digests)) == len(digests):
            return found
    seen: set[str] = set()
    out = []
    for text in encoded:
        digest, _, name, value = read_disclosure(text)
        if digest not in sd:
            raise _refuse("disclosure digest not in _sd", Reason.DISCLOSURE_INVALID)
        if digest in seen:
            raise _refuse("disclosure given twice", Reason.DISCLOSURE_DUPLICATE)
        seen.add(digest)
        out.append((digest, name, value))
    return out


def _hop(number: int, key: PinnedKey, record: HopRecord) -> Hop:
    policy_id, _, policy_version = record.policy.rpartition("@")
    return Hop(
        number=number,
        signer=key.agency,
        kid=key.kid,
        from_agency=record.from_agency,
        to_agency=record.to_agency,
        at=_time(record.at),
        policy_id=policy_id,
        policy_version=policy_version,
        disclosed=record.disclosed,
        onward=record.onward,
    )


def _decode(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise _refuse("a part is not canonical base64url", Reason.MALFORMED) from None


def _time(seconds: int) -> datetime:
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:  # past year 9999: not a time this relay can hold
        raise _refuse("a time is out of range", Reason.MALFORMED) from None


def _refuse(message: str, code: Reason) -> VerificationError:
    return VerificationError(message, code=code)
