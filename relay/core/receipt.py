"""Signed receipts: what a receiving relay did with an envelope, told back to the relay that
sent it (and on, hop by hop, to the agency that wrote it).

A receipt is a compact JWS (EdDSA, ``typ`` :data:`RECEIPT_TYP`) over the JCS of its claims::

    {"iss": reporter ORI, "env_iss": origin ORI, "env": envelope id,
     "status": "accepted" | "posted" | "withheld" | "refused" | "retracted" | "relayed"
               | "failed",
     "reason": reason code or policy rule id (refused, withheld, failed), "at": RFC 3339}

Ids, codes and times only: a receipt never carries text. One receipt counts per reporter,
envelope and status (:func:`receipt_id`): a retry, or the same receipt over two paths, is
recorded once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.audit_record import parse_rfc3339, rfc3339
from relay.core.canonical import JSONValue, canonicalize, parse_json
from relay.core.defaults import CHECKPOINT_SKEW
from relay.core.ids import is_envelope_id, is_kid, is_ori
from relay.core.jws import decode_json_part, sign_compact, verify_compact
from relay.core.keys import Keyring
from relay.core.reasons import Reason
from relay.errors import ReceiptError, VerificationError

__all__ = [
    "RECEIPT_TYP",
    "Receipt",
    "ReceiptError",
    "ReceiptStatus",
    "receipt_id",
    "sign_receipt",
    "verify_receipt",
]

RECEIPT_TYP: Final = "relay-receipt+jws"
MAX_RECEIPT_CHARS: Final = 2048
_CLAIMS: Final = frozenset({"iss", "env_iss", "env", "status", "at"})
_REASON: Final = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"  # verified and stored, to be judged (the answer to the envelope)
    POSTED = "posted"  # shown in the receiving agency's workspace
    WITHHELD = "withheld"  # kept back by the receiving agency's choice (e.g. an orphan reply)
    REFUSED = "refused"  # its inbound policy would not show it (reason: the rule)
    RETRACTED = "retracted"  # its copy was taken down (a delete, or an edit it will not show)
    RELAYED = "relayed"  # a relay without a workspace judged it and passed it on
    FAILED = "failed"  # given up after retries (reason: the last failure's code)


# Outcomes the author is told about as a problem.
PROBLEMS: Final = frozenset({ReceiptStatus.REFUSED, ReceiptStatus.FAILED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A verified receipt: ``reporter`` says it did ``status`` with ``envelope_id``."""

    reporter: str
    origin: str
    envelope_id: str
    status: ReceiptStatus
    reason: str | None
    at: str
    kid: str

    @property
    def id(self) -> str:
        return receipt_id(self.reporter, self.origin, self.envelope_id, self.status)


def receipt_id(reporter: str, origin: str, envelope_id: str, status: str) -> str:
    """One receipt per reporter, envelope and status: the dedupe key."""
    return hashlib.sha256(canonicalize([reporter, origin, envelope_id, status])).hexdigest()


def _claims(
    reporter: str, origin: str, envelope_id: str, status: str, reason: str | None, at: str
) -> dict[str, JSONValue]:
    if not is_ori(reporter) or not is_ori(origin):
        raise ValueError("agency")
    if not is_envelope_id(envelope_id):
        raise ValueError("envelope id")
    ReceiptStatus(status)
    if reason is not None and not _REASON.fullmatch(reason):
        raise ValueError("reason")
    parse_rfc3339(at)
    claims: dict[str, JSONValue] = {
        "iss": reporter,
        "env_iss": origin,
        "env": envelope_id,
        "status": status,
        "at": at,
    }
    if reason is not None:
        claims["reason"] = reason
    return claims


def sign_receipt(
    key: Ed25519PrivateKey,
    kid: str,
    *,
    reporter: str,
    origin: str,
    envelope_id: str,
    status: ReceiptStatus,
    reason: str | None,
    at: dt.datetime,
) -> str:
    """The receipt token; ``ValueError`` for claims that are not ids and codes."""
    if not is_kid(kid) or not kid.startswith(f"{reporter}#"):
        raise ValueError("kid")
    claims = _claims(reporter, origin, envelope_id, status, reason, rfc3339(at))
    header: dict[str, JSONValue] = {"alg": "EdDSA", "kid": kid, "typ": RECEIPT_TYP}
    return sign_compact(key, header, canonicalize(claims))


def verify_receipt(token: object, keyring: Keyring, now: dt.datetime) -> Receipt:
    """Verify against pinned keys (the reporter's, usable at the receipt's time);
    ``ReceiptError`` with a reason code otherwise."""
    if not isinstance(token, str) or len(token) > MAX_RECEIPT_CHARS or token.count(".") != 2:
        raise ReceiptError("receipt is not a compact JWS", code=Reason.MALFORMED)
    try:
        _, header = decode_json_part(token.partition(".")[0])
        _, claims = decode_json_part(token.split(".")[1])
    except VerificationError:
        raise ReceiptError("receipt is not a compact JWS", code=Reason.MALFORMED) from None
    if header.get("typ") != RECEIPT_TYP:
        raise ReceiptError("receipt typ", code=Reason.WRONG_TYPE)
    kid = header.get("kid")
    if not isinstance(kid, str) or not (_CLAIMS <= set(claims) <= _CLAIMS | {"reason"}):
        raise ReceiptError("receipt claims", code=Reason.MALFORMED)
    values = [claims.get(k) for k in ("iss", "env_iss", "env", "status", "at")]
    reason = claims.get("reason")
    try:
        if not all(isinstance(v, str) for v in values) or not isinstance(reason, str | None):
            raise ValueError("claims")
        iss, origin, env, status, at = (str(v) for v in values)
        _claims(iss, origin, env, status, reason, at)
        signed_at = parse_rfc3339(at)
    except ValueError:
        raise ReceiptError("receipt claims", code=Reason.MALFORMED) from None
    if signed_at > now + CHECKPOINT_SKEW:
        raise ReceiptError("receipt dated in the future", code=Reason.NOT_YET_VALID)
    try:
        pinned = keyring.lookup(kid, now=signed_at)
        if pinned.agency != iss:
            raise ReceiptError("receipt key is not the reporter's", code=Reason.ISSUER_MISMATCH)
        _, payload = verify_compact(token, pinned.public_key)
    except VerificationError as exc:
        raise ReceiptError("receipt refused", code=exc.code) from None
    if parse_json(payload) != claims:  # pragma: no cover - the same bytes, decoded twice
        raise ReceiptError("receipt claims", code=Reason.MALFORMED)
    return Receipt(
        reporter=iss,
        origin=origin,
        envelope_id=env,
        status=ReceiptStatus(status),
        reason=reason,
        at=at,
        kid=kid,
    )
