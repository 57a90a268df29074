"""The pure ledger (relay/core/audit.py): records refuse free text, the chain detects every
edit, deletion, reordering, truncation and fork, checkpoints sign and verify."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.audit import (
    GENESIS,
    AuditEvent,
    AuditRecord,
    ChainedRecord,
    Checkpoint,
    CheckpointError,
    RawRow,
    chain,
    checkpoint_claims,
    link,
    parse_rfc3339,
    rfc3339,
    sign_checkpoint,
    verify_chain,
    verify_checkpoint,
)
from relay.core.canonical import canonicalize
from relay.core.jws import sign_compact
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.reasons import Reason
from relay.errors import VerificationError

CT, MA = "CT9990100", "MA9990200"
NOW = dt.datetime(2026, 11, 29, 18, 15, 46, 123456, tzinfo=dt.UTC)
AT = rfc3339(NOW)
DIGEST = "ab" * 32
FREE_TEXT = "suspect John Smith DOB 1980-01-01"


def rec(event: AuditEvent = AuditEvent.FORWARD, **kw: object) -> AuditRecord:
    fields: dict[str, object] = {
        "at": AT,
        "relay": CT,
        "outcome": "accepted",
        "source": CT,
        "destination": MA,
        "envelope_id": "3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "digest": DIGEST,
        "policy": "CT9990100@0123456789ab",
        "topic": "bolo",
        "rules": ("informant.identity",),
    }
    fields.update(kw)
    return AuditRecord(event=event, **fields)  # type: ignore[arg-type]


def rows_of(records: list[AuditRecord]) -> list[RawRow]:
    return [
        RawRow(c.seq, c.prev, c.hash, c.record.canonical().decode())
        for c in chain(0, GENESIS, records)
    ]


def five() -> list[RawRow]:
    return rows_of([rec(envelope_id=f"env-{i}", count=i) for i in range(5)])


# -- records ---------------------------------------------------------------------------------
def test_rfc3339_is_utc_with_microseconds() -> None:
    assert AT == "2026-11-29T18:15:46.123456Z"
    other = NOW.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert rfc3339(other) == AT
    assert rfc3339(NOW.replace(microsecond=0)) == "2026-11-29T18:15:46.000000Z"
    assert parse_rfc3339(AT) == NOW
    with pytest.raises(ValueError, match="aware"):
        rfc3339(NOW.replace(tzinfo=None))


def test_record_round_trips_and_omits_unset_fields() -> None:
    r = rec(actor_user="U024BE7LH", actor_agency=CT, kid="CT9990100#2026-k1", count=3)
    wire = r.to_json()
    assert AuditRecord.from_json(wire) == r
    assert wire["event"] == "forward"
    assert wire["rules"] == ["informant.identity"]
    bare = AuditRecord(event=AuditEvent.AUDIT_READ, at=AT, relay=CT, outcome="export")
    assert bare.to_json() == {
        "event": "audit_read",
        "at": AT,
        "relay": CT,
        "outcome": "export",
        "v": 2,
    }
    assert AuditRecord(event="post", at=AT, relay=CT, outcome="ok").event is AuditEvent.POST  # type: ignore[arg-type]


def test_event_set_is_closed() -> None:
    assert {e.value for e in AuditEvent} == {
        "decision", "sign", "forward", "receive", "refusal", "post", "edit", "cancel",
        "delete", "key_change", "policy_change", "audit_read", "audit_recovered",
        "checkpoint", "checkpoint_received", "checkpoint_conflict", "retention",
        "channel_change", "receipt", "review",
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"^event$"):
        AuditRecord(event="chat", at=AT, relay=CT, outcome="ok")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("relay", "ct9990100"),
        ("relay", "CT9990100\n"),
        ("outcome", FREE_TEXT),
        ("outcome", "Accepted"),
        ("source", FREE_TEXT),
        ("destination", "MA99902"),
        ("actor_user", "john.smith"),
        ("actor_user", "U024BE7LH john"),
        ("actor_agency", FREE_TEXT),
        ("envelope_id", "env 1"),
        ("envelope_id", "x" * 129),
        ("digest", "AB" * 32),
        ("digest", "ab" * 31),
        ("policy", "CT9990100@0123"),
        ("policy", FREE_TEXT),
        ("topic", "BOLO alert"),
        ("kid", "MA9990200 key"),
        ("channel", "#bolo"),
        ("old_channel", FREE_TEXT),
        ("at", "2026-11-29T18:15:46Z"),
        ("at", "2026-11-29 18:15:46.123456Z"),
        ("at", "2026-13-29T18:15:46.123456Z"),
        ("rules", (FREE_TEXT,)),
        ("rules", "informant.identity"),
        ("rules", ("ok", 7)),
        ("count", -1),
        ("count", True),
        ("count", 2**53),
        ("count", "3"),
    ],
)
def test_free_text_is_refused_naming_the_field_only(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{field}$") as info:
        rec(**{field: value})  # type: ignore[arg-type]
    assert str(value) not in str(info.value) or str(value) == field


@pytest.mark.parametrize(
    "wire",
    [
        {"event": "post", "at": AT, "relay": CT, "outcome": "ok", "text": FREE_TEXT},
        {"event": "post", "at": AT, "relay": CT},
        {"event": "post", "at": AT, "relay": CT, "outcome": "ok", "rules": "a"},
        {"event": "post", "at": AT, "relay": CT, "outcome": "ok", "count": 1.5},
        {"event": "post", "at": AT, "relay": CT, "outcome": 1},
        ["post"],
    ],
)
def test_from_json_is_strict(wire: object) -> None:
    with pytest.raises(ValueError, match=r"^[a-z_ ]+$") as info:
        AuditRecord.from_json(wire)
    assert FREE_TEXT not in str(info.value)


# -- the chain -------------------------------------------------------------------------------
def test_chain_links_records() -> None:
    records = [rec(count=i) for i in range(3)]
    chained = chain(0, GENESIS, records)
    assert [c.seq for c in chained] == [1, 2, 3]
    assert chained[0].prev == GENESIS
    assert chained[1].prev == chained[0].hash
    assert chained[2].hash == link(3, chained[1].hash, records[2])
    # Extending from a head gives the same links as chaining all at once.
    assert chain(2, chained[1].hash, records[2:]) == chained[2:]
    assert chain(7, DIGEST, []) == []


def test_intact_chain_verifies() -> None:
    rows = five()
    verdict = verify_chain(rows, [], None)
    assert verdict.ok
    assert verdict.records == 5
    assert verdict.head == (5, rows[-1].hash)
    assert verify_chain([], [], None).ok
    chained = [
        ChainedRecord(r.seq, r.prev, r.hash, AuditRecord.from_json(json.loads(r.record_json)))
        for r in rows
    ]
    assert verify_chain(chained, [], None).ok


def _edit(row: RawRow, **changes: object) -> RawRow:
    record = json.loads(row.record_json)
    record.update(changes)
    return row._replace(record_json=json.dumps(record))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event", "receive"),
        ("at", "2026-11-29T18:15:47.123456Z"),
        ("relay", MA),
        ("outcome", "refused"),
        ("source", MA),
        ("destination", CT),
        ("actor_user", "U0000000"),
        ("actor_agency", MA),
        ("envelope_id", "env-x"),
        ("digest", "cd" * 32),
        ("rules", []),
        ("rules", ["other.rule"]),
        ("policy", "CT9990100@ffffffffffff"),
        ("topic", "intel"),
        ("kid", "CT9990100#k2"),
        ("count", 99),
    ],
)
def test_an_edit_of_any_field_is_edited_at_that_record(field: str, value: object) -> None:
    rows = five()
    rows[2] = _edit(rows[2], **{field: value})
    verdict = verify_chain(rows, [], None)
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 3, "edited")
    assert verdict.records == 2


@pytest.mark.parametrize("column", ["prev", "hash"])
def test_an_edited_link_column_is_edited(column: str) -> None:
    rows = five()
    rows[1] = rows[1]._replace(**{column: "f" * 64})  # type: ignore[arg-type]
    verdict = verify_chain(rows, [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (2, "edited")


def test_an_edit_rehashed_is_found_at_the_rewritten_record() -> None:
    rows = five()
    forged = _edit(rows[1], outcome="refused")
    record = AuditRecord.from_json(json.loads(forged.record_json))
    rows[1] = forged._replace(hash=link(2, forged.prev, record))
    verdict = verify_chain(rows, [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (2, "edited")


def test_a_deleted_record_is_the_first_missing_seq() -> None:
    rows = five()
    del rows[1:3]
    verdict = verify_chain(rows, [], None)
    assert (verdict.first_bad_seq, verdict.reason, verdict.records) == (2, "deleted", 1)
    assert verify_chain(five()[1:], [], None).reason == "deleted"


def test_records_out_of_order_are_reordered() -> None:
    rows = five()
    rows[1], rows[2] = rows[2], rows[1]
    verdict = verify_chain(rows, [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (2, "reordered")
    rows = five()
    rows.insert(3, rows[1])  # a record repeated later
    verdict = verify_chain(rows, [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (2, "reordered")


def test_a_record_linked_to_another_record_is_reordered() -> None:
    """Records moved and re-numbered with their hashes recomputed still name the old
    predecessor: that link points elsewhere in the chain."""
    records = [rec(count=i) for i in range(4)]
    chained = chain(0, GENESIS, records)
    moved = chained[3].record
    # seq 4 re-linked onto record 2 (skipping 3), self-consistent
    forged = ChainedRecord(4, chained[1].hash, link(4, chained[1].hash, moved), moved)
    verdict = verify_chain([*chained[:3], forged], [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (4, "reordered")


def test_unreadable_record_is_bad_record() -> None:
    rows = five()
    rows[3] = rows[3]._replace(record_json="{not json")
    assert verify_chain(rows, [], None).reason == "bad_record"
    rows = five()
    rows[3] = _edit(rows[3], outcome=FREE_TEXT)
    verdict = verify_chain(rows, [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (4, "bad_record")
    rows = five()
    rows[0] = rows[0]._replace(record_json='{"event":"post","event":"post"}')
    assert verify_chain(rows, [], None).reason == "bad_record"


def cp(seq: int, head: str) -> Checkpoint:
    return Checkpoint(agency=CT, seq=seq, head=head, at=AT, kid="CT9990100#k1")


def test_truncation_against_a_checkpoint() -> None:
    rows = five()
    checkpoint = cp(5, rows[4].hash)
    assert verify_chain(rows, [checkpoint], None).ok
    verdict = verify_chain(rows[:3], [checkpoint], None)
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 4, "truncated")
    # the store's own head counts too
    verdict = verify_chain(rows[:3], [], None, head=(5, rows[4].hash))
    assert (verdict.first_bad_seq, verdict.reason) == (4, "truncated")


def test_fork_against_a_checkpoint() -> None:
    rows = five()
    # A history rewritten from record 3 on, re-hashed throughout: the chain is consistent...
    rewritten = rows_of(
        [rec(envelope_id=f"env-{i}", count=i if i < 2 else 50 + i) for i in range(5)]
    )
    assert verify_chain(rewritten, [], None).ok
    # ...but a partner's checkpoint of the old head at 4 (or 5) tells.
    verdict = verify_chain(rewritten, [cp(4, rows[3].hash), cp(5, rows[4].hash)], None)
    assert (verdict.first_bad_seq, verdict.reason) == (4, "forked")
    assert verify_chain(rewritten, [cp(2, rows[1].hash)], None).ok
    assert verify_chain(rows, [cp(0, GENESIS)], None).ok
    assert verify_chain(rows, [cp(0, DIGEST)], None).reason == "forked"


def test_first_broken_record_wins() -> None:
    rows = five()
    rows[3] = _edit(rows[3], outcome="refused")
    verdict = verify_chain(rows, [cp(2, DIGEST)], None)
    assert (verdict.first_bad_seq, verdict.reason) == (2, "forked")
    verdict = verify_chain(rows, [cp(9, DIGEST)], None)
    assert (verdict.first_bad_seq, verdict.reason) == (4, "edited")


def test_verification_starts_from_the_anchor() -> None:
    rows = five()
    anchor = (2, rows[1].hash)
    assert verify_chain(rows[2:], [], anchor).ok
    assert verify_chain(rows[2:], [cp(1, DIGEST)], anchor).ok  # pruned: nothing to compare
    assert verify_chain(rows[2:], [cp(2, DIGEST)], anchor).reason == "forked"
    assert verify_chain([], [], anchor).ok
    assert verify_chain([], [cp(3, rows[2].hash)], anchor).reason == "truncated"
    verdict = verify_chain(rows[2:], [], (2, DIGEST))
    assert (verdict.first_bad_seq, verdict.reason) == (3, "edited")
    verdict = verify_chain(rows[3:], [], anchor)
    assert (verdict.first_bad_seq, verdict.reason) == (3, "deleted")


MUTATIONS = ("record", "prev", "hash", "delete", "swap", "seq")


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=8),
    data=st.data(),
    kind=st.sampled_from(MUTATIONS),
)
def test_any_single_record_mutation_is_detected(n: int, data: st.DataObject, kind: str) -> None:
    """Against the store's head (as ``relay audit verify`` uses it), every mutation of one
    stored record is found, and never after that record."""
    rows = rows_of([rec(envelope_id=f"env-{i}", count=i) for i in range(n)])
    head = (n, rows[-1].hash)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    row = rows[i]
    if kind == "record":
        field = data.draw(st.sampled_from(["outcome", "topic", "envelope_id", "count", "at"]))
        value = {
            "outcome": "changed",
            "topic": "other",
            "envelope_id": "env-z",
            "count": 999,
            "at": "2027-01-01T00:00:00.000000Z",
        }[field]
        rows[i] = _edit(row, **{field: value})
    elif kind in ("prev", "hash"):
        old = getattr(row, kind)
        new = data.draw(
            st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda h: h != old)
        )
        rows[i] = row._replace(**{kind: new})  # type: ignore[arg-type]
    elif kind == "delete":
        del rows[i]
    elif kind == "swap":
        j = (
            data.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda j: j != i))
            if n > 1
            else i
        )
        rows[i], rows[j] = rows[j], rows[i]
        if i == j:
            return
    else:
        rows[i] = row._replace(seq=row.seq + data.draw(st.sampled_from([-1, 1, 5])))
    verdict = verify_chain(rows, [], None, head=head)
    assert not verdict.ok
    assert verdict.first_bad_seq is not None
    assert verdict.first_bad_seq <= i + 2


# -- checkpoints -----------------------------------------------------------------------------
KEY = Ed25519PrivateKey.generate()
KID = "CT9990100#2026-k1"


def keyring(**kw: object) -> Keyring:
    return Keyring.of(
        [
            PinnedKey(
                kid=KeyId(KID),
                agency=AgencyId(kw.get("agency", CT)),  # type: ignore[arg-type]
                public_key=KEY.public_key().public_bytes_raw(),
                not_before=NOW - dt.timedelta(days=30),
                not_after=kw.get("not_after", NOW + dt.timedelta(days=365)),  # type: ignore[arg-type]
                revoked=bool(kw.get("revoked", False)),
            )
        ]
    )


def test_checkpoint_signs_and_verifies() -> None:
    token = sign_checkpoint(KEY, KID, agency=CT, seq=42, head=DIGEST, at=AT)
    checkpoint = verify_checkpoint(token, keyring(), NOW)
    assert checkpoint == Checkpoint(agency=CT, seq=42, head=DIGEST, at=AT, kid=KID)
    header = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": KID, "typ": "relay-audit-checkpoint+jws"}
    # a key since expired still verifies what it signed while valid
    later = NOW + dt.timedelta(days=400)
    assert verify_checkpoint(token, keyring(not_after=NOW + dt.timedelta(days=1)), later).seq == 42


def _code(token: str, ring: Keyring | None = None, now: dt.datetime = NOW) -> str:
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(token, ring or keyring(), now)
    assert isinstance(info.value, VerificationError)  # the one error tree, with a Reason
    assert isinstance(info.value.code, Reason)
    return info.value.code


def test_checkpoint_refusals_have_stable_codes() -> None:
    token = sign_checkpoint(KEY, KID, agency=CT, seq=42, head=DIGEST, at=AT)
    protected, payload, signature = token.split(".")
    assert _code("not a token") == "malformed"
    assert _code(f"{protected}.{payload}.{'A' * 86}") == "signature_invalid"
    other = sign_checkpoint(KEY, KID, agency=CT, seq=43, head=DIGEST, at=AT)
    assert _code(f"{protected}.{other.split('.')[1]}.{signature}") == "signature_invalid"
    assert _code(token, keyring(revoked=True)) == "key_revoked"
    assert _code(token, Keyring.of([])) == "key_not_pinned"
    assert _code(token, keyring(agency=MA)) == "issuer_mismatch"
    assert _code(token, now=NOW - dt.timedelta(hours=1)) == "not_yet_valid"
    wrong_typ = sign_compact(
        KEY,
        {"alg": "EdDSA", "kid": KID, "typ": "JWT"},
        canonicalize(checkpoint_claims(CT, 1, DIGEST, AT)),
    )
    assert _code(wrong_typ) == "wrong_type"
    extra = sign_compact(
        KEY,
        {"alg": "EdDSA", "kid": KID, "typ": "relay-audit-checkpoint+jws"},
        canonicalize({**checkpoint_claims(CT, 1, DIGEST, AT), "note": FREE_TEXT}),
    )
    assert _code(extra) == "malformed"


def test_checkpoint_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="kid"):
        sign_checkpoint(KEY, "MA9990200#k1", agency=CT, seq=1, head=DIGEST, at=AT)
    with pytest.raises(ValueError, match="seq"):
        checkpoint_claims(CT, -1, DIGEST, AT)
    with pytest.raises(ValueError, match="head"):
        checkpoint_claims(CT, 1, "x", AT)
    with pytest.raises(ValueError, match="agency"):
        checkpoint_claims("ct", 1, DIGEST, AT)


def test_records_are_frozen() -> None:
    r = rec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.outcome = "x"  # type: ignore[misc]


@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    rules=st.lists(st.from_regex(r"[a-z0-9_.:-]{1,64}", fullmatch=True), max_size=5),
    count=st.none() | st.integers(min_value=0, max_value=2**53 - 1),
    envelope=st.from_regex(r"[A-Za-z0-9._:#/-]{1,128}", fullmatch=True),
)
def test_the_fast_canonical_form_is_jcs(seq, prev, rules, count, envelope):
    """canonical() and link() take a shortcut past the general canonicalizer: it must give
    the same bytes for every record the patterns admit."""
    from relay.core.audit import AuditEvent, AuditRecord, link
    from relay.core.canonical import canonicalize

    record = AuditRecord(
        event=AuditEvent.FORWARD,
        at="2026-11-29T18:15:46.123456Z",
        relay="CT9990100",
        outcome="accepted",
        destination="MA9990200",
        envelope_id=envelope,
        rules=tuple(rules),
        count=count,
        kid="CT9990100#2026-k1",
    )
    assert record.canonical() == canonicalize(record.to_json())
    jcs = canonicalize(
        {"seq": seq, "prev": prev, "record": record.to_json(), "at": record.at, "v": 2}
    )
    assert link(seq, prev, record) == hashlib.sha256(jcs).hexdigest()
    old = dataclasses.replace(record, v=1)  # version 1: the row's time is not linked
    assert old.canonical() == canonicalize(old.to_json())
    jcs = canonicalize({"seq": seq, "prev": prev, "record": old.to_json()})
    assert link(seq, prev, old) == hashlib.sha256(jcs).hexdigest()


def test_a_swap_far_apart_is_reordered_and_time_coverage_is_named() -> None:
    from relay.core.audit import GENESIS, AuditEvent, AuditRecord, RawRow, chain, verify_chain

    def r(n: int, v: int = 2) -> AuditRecord:
        return AuditRecord(event=AuditEvent.DECISION, at=AT, relay=CT, outcome="ok", count=n, v=v)

    chained = chain(0, GENESIS, [r(1, 1), r(2, 1), r(3), r(4), r(5)])
    rows = [
        RawRow(c.seq, c.prev, c.hash, c.record.canonical().decode(), c.record.at) for c in chained
    ]
    assert verify_chain(rows, [], None).time_from == 3
    a, b = rows[1], rows[4]
    swapped = [*rows]
    swapped[1], swapped[4] = b._replace(seq=2), a._replace(seq=5)
    verdict = verify_chain(swapped, [], None)
    assert (verdict.ok, verdict.first_bad_seq, verdict.reason) == (False, 2, "reordered")
    moved = [*rows]
    moved[3] = rows[3]._replace(at="2026-01-01T00:00:00.000000Z")
    verdict = verify_chain(moved, [], None)
    assert (verdict.first_bad_seq, verdict.reason) == (4, "edited")
