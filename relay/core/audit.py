"""The dissemination ledger, pure part: records, the hash chain, signed checkpoints, verify.

A record (:class:`AuditRecord`) says what happened (``event``), when (RFC 3339 UTC with
microseconds), where (``relay``), between whom (``source``/``destination`` ORIs), by whom
(Slack user id and agency), with what outcome, to which object (envelope id, content digest)
and under which rules and policy version. Every value is an identifier, a code, a digest or a
count: a field that looks like free text is refused (``ValueError`` naming the field, never
the value), so no message text can reach the trail.

Records form a hash chain: record ``n`` stores ``prev`` (the hash of record ``n - 1``, or
:data:`GENESIS`) and ``hash = sha256(JCS({"seq": n, "prev": prev, "record": record}))``; from
record version 2 on also the row's time: ``JCS({"at", "prev", "record", "seq", "v": 2})``.
Editing, deleting or reordering a stored record breaks the chain. Truncating the end, or
rewriting the history and re-hashing it, does not; that is what signed checkpoints are for: the
relay signs ``(seq, head)`` with its agency key and its partners keep the tokens, so a later
chain that lacks ``seq`` or has another hash there is detected (:func:`verify_chain`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from relay.core.audit_checkpoint import (
    CHECKPOINT_TYP,
    Checkpoint,
    checkpoint_claims,
    sign_checkpoint,
    verify_checkpoint,
)
from relay.core.audit_record import (
    AT_PATTERN,
    GENESIS,
    HEX64,
    RECORD_VERSION,
    AuditEvent,
    AuditRecord,
    parse_rfc3339,
    rfc3339,
)
from relay.core.canonical import JSONValue, canonicalize, parse_json
from relay.errors import CheckpointError

__all__ = [
    "CHECKPOINT_TYP",
    "GENESIS",
    "RECORD_VERSION",
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
    "prunable",
    "rfc3339",
    "sign_checkpoint",
    "verify_chain",
    "verify_checkpoint",
]


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    """A record in the chain: its sequence number, the previous hash and its own."""

    seq: int
    prev: str
    hash: str
    record: AuditRecord


class RawRow(NamedTuple):
    """A chain row as stored, the record still JSON text (it may have been tampered with), and
    the row's time column (``None``: not read; the record's own ``at`` stands for it)."""

    seq: int
    prev: str
    hash: str
    record_json: str
    at: str | None = None


def link(seq: int, prev: str, record: AuditRecord, *, at: str | None = None) -> str:
    """The hash of record ``seq``. Version 1: sha256 hex of ``JCS({"seq", "prev",
    "record"})``; version 2: of ``JCS({"at", "prev", "record", "seq", "v"})``, ``at`` the
    row's time (the store's column; by default the record's own), so the time the store
    windows and prunes on is under the hash. Keys in JCS order."""
    when = record.at if at is None else at
    v2 = record.v >= RECORD_VERSION
    if (
        not HEX64.fullmatch(prev)
        or type(seq) is not int
        or (v2 and not AT_PATTERN.fullmatch(when))
    ):
        # a tampered row: the general canonicalizer takes any value
        linked: dict[str, JSONValue] = {"seq": seq, "prev": prev, "record": record.to_json()}
        if v2:
            linked.update(at=when, v=record.v)
        general = canonicalize(linked)
        return hashlib.sha256(general).hexdigest()
    if v2:
        body = b'{"at":"%s","prev":"%s","record":%s,"seq":%d,"v":%d}' % (
            when.encode(),
            prev.encode(),
            record.canonical(),
            seq,
            record.v,
        )
    else:
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


# -- verification ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of :func:`verify_chain`. ``reason`` codes: ``edited`` (a hash does not
    match its record), ``deleted`` (a sequence gap: ``first_bad_seq`` is the first missing),
    ``reordered`` (records out of sequence, or one linked to another record than its
    predecessor), ``truncated`` (a checkpoint or the head names a record past the last),
    ``forked`` (a checkpoint's head differs from the recorded hash at its seq),
    ``bad_record`` (a record that does not parse or validate). ``time_from``: the first seq
    from which every record walked is version 2, its row time under its hash (the seq after
    the last version 1 record walked; the head's seq + 1 when all are version 1)."""

    ok: bool
    records: int  # rows checked before the first break (all of them when ok)
    first_bad_seq: int | None = None
    reason: str | None = None
    head: tuple[int, str] = field(default=(0, GENESIS))  # the last good (seq, hash)
    time_from: int = 1


def _row_at(row: RawRow | ChainedRecord) -> str | None:
    return row.at if isinstance(row, RawRow) else None


def _moved(
    row: RawRow | ChainedRecord, record: AuditRecord, rest: Iterable[RawRow | ChainedRecord]
) -> bool:
    """Whether ``row``, whose hash does not match at its own seq, is intact at the seq of a
    later row: a record moved there (two records swapped), not edited."""
    for later in rest:
        for at in {_row_at(row), None}:
            if type(later.seq) is int and link(later.seq, row.prev, record, at=at) == row.hash:
                return True
    return False


def _intact(row: RawRow | ChainedRecord, record: AuditRecord) -> bool:
    """The row's hash matches its seq, prev, record and (version 2) row time, and the row's
    time is the one in its hashed record (for version 1 the body is all the hash covers)."""
    at = _row_at(row)
    return link(row.seq, row.prev, record, at=at) == row.hash and at in (None, record.at)


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
    last_v1 = start_seq
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
        if not _intact(row, record):
            breaks.append((seq, "reordered" if _moved(row, record, walk) else "edited"))
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
        if record.v < RECORD_VERSION:
            last_v1 = seq
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
        return Verdict(ok=True, records=checked, head=(last_seq, prev), time_from=last_v1 + 1)
    order = {"deleted": 0, "reordered": 1, "bad_record": 2, "edited": 3, "forked": 4}
    seq, reason = min(breaks, key=lambda b: (b[0], order.get(b[1], 5)))
    return Verdict(
        ok=False,
        records=checked,
        first_bad_seq=seq,
        reason=reason,
        head=(last_seq, prev),
        time_from=last_v1 + 1,
    )


def prunable(
    rows: Iterable[RawRow], anchor: tuple[int, str] | None, before: str
) -> tuple[int, str] | None:
    """The last ``(seq, hash)`` of the prefix retention may delete: the records from the
    anchor on, in order, whose *hashed* time is before ``before`` (RFC 3339 text), up to the
    first that is not. The row's time column is not trusted (it must equal the hashed time),
    and a record that does not verify stops the prefix before it: a break is evidence, never
    pruned away. ``None``: nothing to prune."""
    expected, prev = anchor if anchor is not None else (0, GENESIS)
    end: tuple[int, str] | None = None
    for row in rows:
        if row.seq != expected + 1 or row.prev != prev:
            break
        try:
            record = _parse_row(row)
        except ValueError:
            break
        if not _intact(row, record) or record.at >= before:
            break
        end = (row.seq, row.hash)
        expected, prev = row.seq, row.hash
    return end
