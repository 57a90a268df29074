"""The receipts role, against every backend (``store`` fixture: SQLite and PostgreSQL, direct
and through the async facade)."""

from __future__ import annotations

import datetime as dt

from relay.store.contract import OutboxItem, OwedReceipt, ReceiptRow, Store

AT = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _owed(rid: str, peer: str = "MA9990200") -> OwedReceipt:
    return OwedReceipt(id=rid, peer=peer, token=f"token-{rid}")


def test_owed_receipts_are_queued_once_claimed_by_lease_and_forgotten_when_sent(
    store: Store,
) -> None:
    store.queue_receipts([_owed("r1"), _owed("r2", "NY9990300")], now=100.0)
    store.queue_receipts([_owed("r1")], now=101.0)  # the same receipt again: nothing
    assert store.next_receipt_due() == 100.0
    claimed = store.claim_receipts(now=100.0, lease=30.0, limit=10)
    assert [(r.id, r.peer, r.token, r.attempts) for r in claimed] == [
        ("r1", "MA9990200", "token-r1", 1),
        ("r2", "NY9990300", "token-r2", 1),
    ]
    # leased: nobody else gets them until the lease runs out
    assert store.claim_receipts(now=110.0, lease=30.0, limit=10) == []
    store.settle_receipts(done=["r1"], retry=[("r2", 120.0)])
    assert store.next_receipt_due() == 120.0
    assert store.claim_receipts(now=119.0, lease=30.0, limit=10) == []
    again = store.claim_receipts(now=120.0, lease=30.0, limit=10)
    assert [(r.id, r.attempts) for r in again] == [("r2", 2)]
    store.settle_receipts(done=["r2"], retry=[])
    assert store.next_receipt_due() is None


def test_claims_are_bounded_and_oldest_first(store: Store) -> None:
    for i in range(5):
        store.queue_receipts([_owed(f"r{i}")], now=float(100 + i))
    first = store.claim_receipts(now=200.0, lease=30.0, limit=2)
    assert [r.id for r in first] == ["r0", "r1"]


def test_a_receipt_is_kept_once_and_found_with_its_message(store: Store) -> None:
    post = "CT9990100.C0HAVE00.1700000000.000100"
    rows = [
        ReceiptRow(
            id="a",
            envelope_id=post,
            reporter="MA9990200",
            status="posted",
            reason=None,
            at="2026-11-26T12:00:01.000000Z",
        ),
        ReceiptRow(
            id="b",
            envelope_id=f"{post}.e1700000100.000200",
            reporter="NY9990300",
            status="refused",
            reason="informant_reference",
            at="2026-11-26T12:00:02.000000Z",
        ),
        ReceiptRow(
            id="c",
            envelope_id="CT9990100.C0HAVE00.1700000000.0001000",
            reporter="MA9990200",
            status="posted",
            reason=None,
            at="2026-11-26T12:00:03.000000Z",
        ),
    ]
    assert all(store.record_receipt(r, received_at=AT.isoformat()) for r in rows)
    assert store.record_receipt(rows[0], received_at=AT.isoformat()) is False
    found = store.message_receipts(post)
    assert [(r.envelope_id, r.reporter, r.status, r.reason) for r in found] == [
        (post, "MA9990200", "posted", None),
        (f"{post}.e1700000100.000200", "NY9990300", "refused", "informant_reference"),
    ]


def test_message_shared_lists_the_outbox_rows_of_a_post_and_its_edits(store: Store) -> None:
    post = "CT9990100.C0HAVE00.1700000000.000100"
    items = [
        OutboxItem(partner=p, envelope_id=e, order_key=post, body=b"{}", expires_at=9e9)
        for p, e in (("MA9990200", post), ("NY9990300", post), ("MA9990200", f"{post}.e2.0"))
    ]
    store.enqueue(items, now=1.0)
    assert [(p, e, s) for p, e, s, _ in store.message_shared(post)] == [
        ("MA9990200", post, "pending"),
        ("NY9990300", post, "pending"),
        ("MA9990200", f"{post}.e2.0", "pending"),
    ]


def test_sender_of_names_the_relay_that_sent_an_envelope(store: Store) -> None:
    store.record_received(
        issuer="CT9990100",
        envelope_id="CT9990100.C1.1.0",
        digest="d",
        sender="CT9990400",
        body=b"{}",
        at=AT,
    )
    assert store.sender_of("CT9990100", "CT9990100.C1.1.0") == "CT9990400"
    assert store.sender_of("CT9990100", "CT9990100.C1.2.0") is None
