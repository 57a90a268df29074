"""Signed audit checkpoints: a relay signs ``(seq, head)`` of its chain with its agency key
and its partners keep the tokens (see :mod:`relay.core.audit`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.audit_record import HEX64, is_count, parse_rfc3339
from relay.core.canonical import JSONValue, canonicalize, parse_json
from relay.core.defaults import CHECKPOINT_SKEW
from relay.core.ids import is_kid, is_ori
from relay.core.jws import decode_json_part, sign_compact, verify_compact
from relay.core.keys import Keyring
from relay.core.reasons import Reason
from relay.errors import CheckpointError, VerificationError

__all__ = [
    "CHECKPOINT_TYP",
    "Checkpoint",
    "CheckpointError",
    "checkpoint_claims",
    "sign_checkpoint",
    "verify_checkpoint",
]

CHECKPOINT_TYP: Final = "relay-audit-checkpoint+jws"
_CLAIMS: Final = frozenset({"iss", "seq", "head", "at"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A verified checkpoint: ``agency`` signed that its chain head at ``seq`` was ``head``."""

    agency: str
    seq: int
    head: str
    at: str
    kid: str


def checkpoint_claims(agency: str, seq: int, head: str, at: str) -> dict[str, JSONValue]:
    if not is_ori(agency):
        raise ValueError("agency")
    if not is_count(seq):
        raise ValueError("seq")
    if not HEX64.fullmatch(head):
        raise ValueError("head")
    parse_rfc3339(at)
    return {"iss": agency, "seq": seq, "head": head, "at": at}


def sign_checkpoint(
    key: Ed25519PrivateKey, kid: str, *, agency: str, seq: int, head: str, at: str
) -> str:
    """A compact JWS (EdDSA, ``typ`` :data:`CHECKPOINT_TYP`) over the JCS of the claims."""
    if not is_kid(kid) or not kid.startswith(f"{agency}#"):
        raise ValueError("kid")
    claims = checkpoint_claims(agency, seq, head, at)
    header: dict[str, JSONValue] = {"alg": "EdDSA", "kid": kid, "typ": CHECKPOINT_TYP}
    return sign_compact(key, header, canonicalize(claims))


def verify_checkpoint(token: str, keyring: Keyring, now: dt.datetime) -> Checkpoint:
    """Verify a checkpoint token against pinned keys; ``CheckpointError`` with a code.

    The key must be pinned to the issuing agency and usable at the checkpoint's own time
    (an old checkpoint stays verifiable after a rotation; a revoked key verifies nothing);
    a checkpoint dated ahead of ``now`` (beyond a small skew) is refused."""
    given: object = token
    if not isinstance(given, str) or len(token) > 4096 or token.count(".") != 2:
        raise CheckpointError("checkpoint is not a compact JWS", code=Reason.MALFORMED)
    try:
        _, header = decode_json_part(token.partition(".")[0])
        _, claims = decode_json_part(token.split(".")[1])
    except VerificationError:
        raise CheckpointError("checkpoint is not a compact JWS", code=Reason.MALFORMED) from None
    if header.get("typ") != CHECKPOINT_TYP:
        raise CheckpointError("checkpoint typ", code=Reason.WRONG_TYPE)
    kid = header.get("kid")
    if set(claims) != _CLAIMS or not isinstance(kid, str):
        raise CheckpointError("checkpoint claims", code=Reason.MALFORMED)
    iss, seq, head, at = claims["iss"], claims["seq"], claims["head"], claims["at"]
    try:
        if not isinstance(iss, str) or not isinstance(head, str) or not isinstance(at, str):
            raise ValueError("claims")
        if not isinstance(seq, int):
            raise ValueError("seq")
        checkpoint_claims(iss, seq, head, at)
        signed_at = parse_rfc3339(at)
    except ValueError:
        raise CheckpointError("checkpoint claims", code=Reason.MALFORMED) from None
    if signed_at > now + CHECKPOINT_SKEW:
        raise CheckpointError("checkpoint dated in the future", code=Reason.NOT_YET_VALID)
    try:
        pinned = keyring.lookup(kid, now=signed_at)
        if pinned.agency != iss:
            raise CheckpointError(
                "checkpoint key is not the issuer's", code=Reason.ISSUER_MISMATCH
            )
        _, payload = verify_compact(token, pinned.public_key)
    except VerificationError as exc:
        raise CheckpointError("checkpoint refused", code=exc.code) from None
    if parse_json(payload) != claims:  # pragma: no cover - the same bytes, decoded twice
        raise CheckpointError("checkpoint claims", code=Reason.MALFORMED)
    return Checkpoint(agency=iss, seq=seq, head=head, at=at, kid=kid)
