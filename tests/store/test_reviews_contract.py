"""The reviews role (issue 16), against every backend (``store`` fixture: SQLite and
PostgreSQL, direct and through the async facade)."""

from __future__ import annotations

from dataclasses import replace

from relay.store.contract import ReviewRow, Store

ROW = ReviewRow(
    id="CT9990100:C0BOLO0001:1764000000.000100",
    channel="C0BOLO0001",
    ts="1764000000.000100",
    digest="ab" * 32,
    author="U0OFFICER1",
    topic="bolo",
    partners='[{"partner":"MA9990200","rules":["caveat.dissemination"],"modes":["as_written"]}]',
    policy="CT9990100@0123456789ab",
    created_at=100.0,
    expires_at=200.0,
)


def test_a_review_is_opened_once_posted_and_decided_once(store: Store) -> None:
    assert store.open_review(ROW)
    assert not store.open_review(replace(ROW, author="U0OTHER01"))  # the same message
    assert store.review_stats() == (1, 100.0)
    assert [r.id for r in store.reviews_to_post(limit=10)] == [ROW.id]
    store.review_posted(ROW.id, channel="G0REVIEW01", ts="1764000001.000200")
    assert store.reviews_to_post(limit=10) == []
    got = store.review(ROW.id)
    assert got is not None
    assert (got.state, got.card_channel, got.card_ts) == (
        "open",
        "G0REVIEW01",
        "1764000001.000200",
    )
    assert got.author == "U0OFFICER1"
    taken = store.decide_review(
        ROW.id,
        outcome="released",
        by="U0SUPER001",
        reason="officer_safety",
        mode="as_written",
        at=150.0,
    )
    assert taken
    # a second click, another reviewer, a retried payload: nothing changes
    assert not store.decide_review(
        ROW.id, outcome="kept", by="U0SUPER002", reason="", mode="", at=151.0
    )
    got = store.review(ROW.id)
    assert got is not None
    assert (got.state, got.decided_by, got.reason, got.mode) == (
        "released",
        "U0SUPER001",
        "officer_safety",
        "as_written",
    )
    assert store.review_stats() == (0, None)
    assert store.review("nope") is None


def test_reviews_expire_once_and_are_not_decided_after(store: Store) -> None:
    store.open_review(ROW)
    other = replace(
        ROW, id="CT9990100:C0BOLO0001:1764000009.000100", created_at=150.0, expires_at=400.0
    )
    store.open_review(other)
    assert store.expire_reviews(now=199.0, limit=10) == []
    expired = store.expire_reviews(now=200.0, limit=10)
    assert [r.id for r in expired] == [ROW.id]
    assert store.expire_reviews(now=300.0, limit=10) == []
    assert not store.decide_review(
        ROW.id, outcome="released", by="U1", reason="other", mode="as_written", at=201.0
    )
    assert store.review_stats() == (1, 150.0)


def test_releases_are_kept_per_partner(store: Store) -> None:
    store.record_release("CT9990100:C0BOLO0001:1764000000.000100", "MA9990200", "as_written")
    store.record_release("CT9990100:C0BOLO0001:1764000000.000100", "MA9990200", "without_flagged")
    assert store.released_mode("CT9990100:C0BOLO0001:1764000000.000100", "MA9990200") == (
        "as_written"
    )
    assert store.released_mode("CT9990100:C0BOLO0001:1764000000.000100", "NY9990300") is None
