"""The dissemination ledger, pure part: records, the hash chain, signed checkpoints, verify.

A record (:class:`AuditRecord`) says what happened (``event``), when (RFC 3339 UTC with
microseconds), where (``relay``), between whom (``source``/``destination`` ORIs), by whom
(Slack user id and agency), with what outcome, to which object (envelope id, content digest)
and under which rules and policy version. Every value is an identifier, a code, a digest or a
count: a field that looks like free text is refused (``ValueError`` naming the field, never
the value), so no message text can reach the trail.

Records form a hash chain: record ``n`` stores ``prev`` (the hash of record ``n - 1``, or
:data:`GENESIS`) and ``hash = sha256(JCS({"seq": n, "prev": prev, "record": record}))``.
Editing, deleting or reordering a stored record breaks the chain. Truncating the end, or
rewriting the history and re-hashing it, does not; that is what signed checkpoints are for: the
relay signs ``(seq, head)`` with its agency key and its partners keep the tokens, so a later
chain that lacks ``seq`` or has another hash there is detected (:func:`verify_chain`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.canonical import JSONValue, canonicalize, parse_json
from relay.core.jws import decode_json_part, sign_compact, verify_compact
from relay.core.keys import Keyring
from relay.core.reasons import Reason
from relay.errors import CheckpointError, VerificationError

__all__ = [
    "CHECKPOINT_TYP",
    "GENESIS",
    "AuditEvent",
    "AuditRecord",
    "ChainedRecord",
    "Checkpoint",
    "CheckpointError",
    "RawRow",
    "Verdict",
    "chain",
    "checkpoint_claims",
    "link",
    "parse_rfc3339",
    "rfc3339",
    "sign_checkpoint",
    "verify_chain",
    "verify_checkpoint",
]

GENESIS: Final = "0" * 64
CHECKPOINT_TYP: Final = "relay-audit-checkpoint+jws"
# How far a checkpoint's time may run ahead of the verifier's clock.
CHECKPOINT_SKEW: Final = dt.timedelta(minutes=5)
_MAX_COUNT: Final = 2**53 - 1

_ORI: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{7}", re.ASCII)
_USER: Final = re.compile(r"[UW][A-Z0-9]{2,20}", re.ASCII)
_ENVELOPE_ID: Final = re.compile(r"[A-Za-z0-9._:#/-]{1,128}", re.ASCII)
_HEX64: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
_RULE: Final = re.compile(r"[a-z0-9_.:-]{1,64}", re.ASCII)
_CODE: Final = re.compile(r"[a-z0-9_.-]{1,64}", re.ASCII)
_POLICY: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{7}@[0-9a-f]{12}", re.ASCII)
_KID: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{7}#[A-Za-z0-9._-]{1,64}", re.ASCII)  # config._KID
_AT: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)


class AuditEvent(StrEnum):
    """The closed set of events the ledger records."""

    DECISION = "decision"  # the sharing policy judged a message (outbound or inbound)
    SIGN = "sign"  # an envelope was signed
    FORWARD = "forward"  # an envelope was delivered to a partner (a dissemination)
    RECEIVE = "receive"  # a partner's envelope was accepted
    REFUSAL = "refusal"  # a partner's envelope (or request) was refused
    POST = "post"  # posted in the agency's Slack
    EDIT = "edit"
    CANCEL = "cancel"
    DELETE = "delete"
    KEY_CHANGE = "key_change"
    POLICY_CHANGE = "policy_change"
    AUDIT_READ = "audit_read"  # the trail was read (verify, export, disseminations)
    AUDIT_RECOVERED = "audit_recovered"  # the first write after failed audit writes
    CHECKPOINT = "checkpoint"  # this relay signed its chain head
    CHECKPOINT_RECEIVED = "checkpoint_received"  # a partner's checkpoint kept
    CHECKPOINT_CONFLICT = "checkpoint_conflict"  # a partner's checkpoint contradicts one kept
    RETENTION = "retention"  # records older than the retention period were pruned


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-29T18:15:46.123456Z``: UTC, microseconds, ``Z`` (fixed width, so the text
    sorts in time order). A naive datetime is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> dt.datetime:
    """The inverse of :func:`rfc3339` (that exact form only)."""
    value: object = text
    if not isinstance(value, str) or not _AT.fullmatch(value):
        raise ValueError("at")
    try:
        # the pattern fixed the form; fromisoformat (C) checks the calendar, unlike a regex
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError("at") from None


def _is_count(value: object) -> bool:
    """A non-negative int that JSON keeps exact (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT


# field name -> the pattern every value must match (``at`` and ``count`` are checked apart)
_PATTERNS: Final[Mapping[str, re.Pattern[str]]] = {
    "relay": _ORI,
    "outcome": _CODE,
    "source": _ORI,
    "destination": _ORI,
    "actor_user": _USER,
    "actor_agency": _ORI,
    "envelope_id": _ENVELOPE_ID,
    "digest": _HEX64,
    "policy": _POLICY,
    "topic": _CODE,
    "kid": _KID,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One audit record: identifiers, codes, digests and counts, never message text."""

    event: AuditEvent
    at: str  # RFC 3339 UTC, microseconds (rfc3339())
    relay: str  # the ORI of the relay that wrote it
    outcome: str  # a code: "ok", "blocked", "delivered", a refusal reason, ...
    source: str | None = None  # ORI
    destination: str | None = None  # ORI
    actor_user: str | None = None  # Slack user id
    actor_agency: str | None = None  # ORI
    envelope_id: str | None = None
    digest: str | None = None  # sha256 hex of the content (never the content)
    rules: tuple[str, ...] = ()  # rule ids that fired
    policy: str | None = None  # policy version: ORI@first 12 hex of the policy file's sha256
    topic: str | None = None
    kid: str | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        try:
            event = AuditEvent(self.event)
        except ValueError:
            raise ValueError("event") from None
        object.__setattr__(self, "event", event)
        parse_rfc3339(self.at)
        for name, pattern in _PATTERNS.items():
            value = getattr(self, name)
            if value is None and name not in ("relay", "outcome"):
                continue
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ValueError(name)
        given: object = self.rules
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise ValueError("rules")
        rules = tuple(given)
        if len(rules) > 64 or any(not isinstance(r, str) or not _RULE.fullmatch(r) for r in rules):
            raise ValueError("rules")
        object.__setattr__(self, "rules", rules)
        if self.count is not None and not _is_count(self.count):
            raise ValueError("count")

    def to_json(self) -> dict[str, JSONValue]:
        """The record as a JSON object: unset fields (None, no rules) are left out."""
        out: dict[str, JSONValue] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name == "event":
                out["event"] = str(value)
            elif f.name == "rules":
                out["rules"] = list(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, value: object) -> AuditRecord:
        """Strict reader: an object with known fields of the right types (``ValueError``
        names the first bad field)."""
        if not isinstance(value, Mapping):
            raise ValueError("record")
        known = _FIELDS
        for name in value:
            if name not in known:
                raise ValueError("unknown field")
        for name in ("event", "at", "relay", "outcome"):
            if name not in value:
                raise ValueError(name)
        kwargs: dict[str, Any] = {}
        for name, item in value.items():
            if name == "rules":
                if not isinstance(item, list):
                    raise ValueError("rules")
                kwargs["rules"] = tuple(item)
            elif name == "count":
                if isinstance(item, bool) or not isinstance(item, int):
                    raise ValueError("count")
                kwargs["count"] = item
            else:
                if not isinstance(item, str):
                    raise ValueError(name)
                kwargs[name] = item
        return cls(**kwargs)

    def canonical(self) -> bytes:
        """The record's RFC 8785 (JCS) bytes. Every string field is held to an ASCII pattern
        with no quote, backslash or control character, and ``count`` is an integer, so JSON
        with sorted keys and no whitespace *is* JCS here (a property test holds the two
        equal); it is several times faster than the general canonicalizer."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()


_FIELDS: Final = frozenset(f.name for f in fields(AuditRecord))


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    """A record in the chain: its sequence number, the previous hash and its own."""

    seq: int
    prev: str
    hash: str
    record: AuditRecord


class RawRow(NamedTuple):
    """A chain row as stored, the record still JSON text (it may have been tampered with)."""

    seq: int
    prev: str
    hash: str
    record_json: str


def link(seq: int, prev: str, record: AuditRecord) -> str:
    """The hash of record ``seq``: sha256 hex of ``JCS({"seq", "prev", "record"})``, its keys
    in JCS order (``prev`` < ``record`` < ``seq``)."""
    if not _HEX64.fullmatch(prev) or type(seq) is not int:
        # a tampered row: the general canonicalizer takes any value
        general = canonicalize({"seq": seq, "prev": prev, "record": record.to_json()})
        return hashlib.sha256(general).hexdigest()
    body = b'{"prev":"%s","record":%s,"seq":%d}' % (prev.encode(), record.canonical(), seq)
    return hashlib.sha256(body).hexdigest()


def chain(head_seq: int, head_hash: str, records: Iterable[AuditRecord]) -> list[ChainedRecord]:
    """Extend the chain whose head is ``(head_seq, head_hash)`` by ``records``."""
    out: list[ChainedRecord] = []
    seq, prev = head_seq, head_hash
    for record in records:
        seq += 1
        digest = link(seq, prev, record)
        out.append(ChainedRecord(seq=seq, prev=prev, hash=digest, record=record))
        prev = digest
    return out


# -- checkpoints -----------------------------------------------------------------------------
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
    if not _ORI.fullmatch(agency):
        raise ValueError("agency")
    if not _is_count(seq):
        raise ValueError("seq")
    if not _HEX64.fullmatch(head):
        raise ValueError("head")
    parse_rfc3339(at)
    return {"iss": agency, "seq": seq, "head": head, "at": at}


def sign_checkpoint(
    key: Ed25519PrivateKey, kid: str, *, agency: str, seq: int, head: str, at: str
) -> str:
    """A compact JWS (EdDSA, ``typ`` :data:`CHECKPOINT_TYP`) over the JCS of the claims."""
    if not _KID.fullmatch(kid) or not kid.startswith(f"{agency}#"):
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


# -- verification ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of :func:`verify_chain`. ``reason`` codes: ``edited`` (a hash does not
    match its record), ``deleted`` (a sequence gap: ``first_bad_seq`` is the first missing),
    ``reordered`` (records out of sequence, or one linked to another record than its
    predecessor), ``truncated`` (a checkpoint or the head names a record past the last),
    ``forked`` (a checkpoint's head differs from the recorded hash at its seq),
    ``bad_record`` (a record that does not parse or validate)."""

    ok: bool
    records: int  # rows checked before the first break (all of them when ok)
    first_bad_seq: int | None = None
    reason: str | None = None
    head: tuple[int, str] = field(default=(0, GENESIS))  # the last good (seq, hash)


def _parse_row(row: RawRow | ChainedRecord) -> AuditRecord:
    if isinstance(row, ChainedRecord):
        return row.record
    text = row.record_json
    if not isinstance(text, str):
        raise ValueError("record")
    try:
        value = parse_json(text)
    except (ValueError, RecursionError):
        raise ValueError("record") from None
    return AuditRecord.from_json(value)


def verify_chain(
    rows: Iterable[RawRow | ChainedRecord],
    checkpoints: Sequence[Checkpoint],
    anchor: tuple[int, str] | None,
    *,
    head: tuple[int, str] | None = None,
) -> Verdict:
    """Walk ``rows`` (in the order given, which must be ascending ``seq``) from ``anchor``
    (the last pruned record, or none: genesis), then hold the verified checkpoints (and the
    store's own ``head``, if given) against what was walked. The first broken record wins."""
    start_seq, start_hash = anchor if anchor is not None else (0, GENESIS)
    wanted = {c.seq for c in checkpoints}
    if head is not None:
        wanted.add(head[0])
    at_seq: dict[int, str] = {start_seq: start_hash}
    seen: set[str] = {start_hash}
    expected, prev = start_seq + 1, start_hash
    checked = 0
    breaks: list[tuple[int, str]] = []
    walk = iter(rows)
    for row in walk:
        seq = row.seq
        if seq < expected:
            breaks.append((seq, "reordered"))
            break
        if seq > expected:
            # A gap: the missing record further on is a move, nowhere is a deletion.
            later = next(walk, None)
            moved = later is not None and later.seq < seq
            breaks.append((expected, "reordered" if moved else "deleted"))
            break
        try:
            record = _parse_row(row)
        except ValueError:
            breaks.append((seq, "bad_record"))
            break
        if link(seq, row.prev, record) != row.hash:
            breaks.append((seq, "edited"))
            break
        if row.prev != prev:
            # Self-consistent but linked elsewhere: to another record of this chain (moved),
            # or to a predecessor that was rewritten and re-hashed (that one is the edit).
            if row.prev in seen:
                breaks.append((seq, "reordered"))
            else:
                breaks.append((seq - 1 if seq - 1 > start_seq else seq, "edited"))
            break
        checked += 1
        seen.add(row.hash)
        if seq in wanted:
            at_seq[seq] = row.hash
        expected, prev = seq + 1, row.hash
    last_seq = expected - 1
    broken_at = breaks[0][0] if breaks else None
    named = [(c.seq, c.head) for c in checkpoints]
    if head is not None:
        named.append(head)
    for seq, digest in named:
        if broken_at is not None and seq >= broken_at:
            continue  # past the break: nothing there is trusted anyway
        if seq > last_seq:
            breaks.append((last_seq + 1, "truncated"))
        elif seq in at_seq and at_seq[seq] != digest:
            breaks.append((seq, "forked"))
        # a seq before the anchor was pruned: nothing left to compare it with
    if not breaks:
        return Verdict(ok=True, records=checked, head=(last_seq, prev))
    order = {"deleted": 0, "reordered": 1, "bad_record": 2, "edited": 3, "forked": 4}
    seq, reason = min(breaks, key=lambda b: (b[0], order.get(b[1], 5)))
    return Verdict(
        ok=False,
        records=checked,
        first_bad_seq=seq,
        reason=reason,
        head=(last_seq, prev),
    )
