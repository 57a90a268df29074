"""Refusals counted per peer, reason and window (:mod:`relay.flow.refusal_tally`), and their
windows and last refusals in the store (every backend's SQL, on SQLite here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from relay.flow.refusal_tally import PER_WINDOW, RefusalTally
from relay.store.contract import RefusalRecord
from relay.store.contract_refusals import RefusalWindow
from relay.store.sqlite import SqliteStore

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
MA = "MA9990200"
MINUTE = dt.timedelta(seconds=60)


def _refusal(
    peer: str = "unknown", reason: str = "peer_unknown", at: dt.datetime = T0
) -> RefusalRecord:
    return RefusalRecord(at=at, peer=peer, reason=reason, http_status=403)


def test_first_refusal_opens_a_window_and_the_rest_are_counted():
    tally = RefusalTally(window=MINUTE, keep=1000)
    assert tally.note(_refusal(), T0) is True
    assert [tally.note(_refusal(), T0 + dt.timedelta(seconds=i)) for i in range(1, 5)] == [
        False
    ] * 4
    taken = tally.take(T0 + dt.timedelta(seconds=5))
    assert [r.peer for r in taken.opened] == ["unknown"]
    assert taken.closed == ()
    assert [(w.count, w.closed) for w in taken.windows] == [(5, False)]
    assert taken.windows[0].ended == T0 + MINUTE  # the planned end while open
    again = tally.take(T0 + dt.timedelta(seconds=6))
    assert not again, "nothing new: nothing to write"


def test_window_boundary_closes_with_its_count_and_opens_the_next():
    tally = RefusalTally(window=MINUTE, keep=1000)
    tally.note(_refusal(peer=MA, reason="rate_limited"), T0)
    tally.note(
        _refusal(peer=MA, reason="rate_limited"), T0 + MINUTE - dt.timedelta(microseconds=1)
    )
    assert tally.note(_refusal(peer=MA, reason="rate_limited"), T0 + MINUTE) is True
    taken = tally.take(T0 + MINUTE + dt.timedelta(seconds=1))
    assert [(w.started, w.ended, w.count) for w in taken.closed] == [(T0, T0 + MINUTE, 2)]
    # both windows' first refusals get their opening record, in order
    assert [r.at for r in taken.opened] == [T0, T0]
    assert [(w.started, w.count, w.closed) for w in taken.windows] == [
        (T0, 2, True),
        (T0 + MINUTE, 1, False),
    ]


def test_a_window_ends_at_a_take_after_its_time_without_new_refusals():
    tally = RefusalTally(window=MINUTE, keep=1000)
    tally.note(_refusal(), T0)
    tally.take(T0)
    taken = tally.take(T0 + MINUTE)
    assert [(w.count, w.ended, w.closed) for w in taken.closed] == [(1, T0 + MINUTE, True)]
    assert tally.open_windows == 0


def test_closing_record_on_stop_carries_the_count_of_every_open_window():
    tally = RefusalTally(window=MINUTE, keep=1000)
    for i in range(7):
        tally.note(_refusal(), T0 + dt.timedelta(seconds=i))
    for _ in range(3):
        tally.note(_refusal(peer=MA, reason="rate_limited"), T0)
    tally.take(T0 + dt.timedelta(seconds=10))
    stopping = T0 + dt.timedelta(seconds=20)
    taken = tally.take(stopping, closing=True)
    assert sorted((w.peer, w.reason, w.count, w.ended) for w in taken.closed) == [
        (MA, "rate_limited", 3, stopping),
        ("unknown", "peer_unknown", 7, stopping),
    ]
    assert all(w.closed for w in taken.windows)
    assert tally.open_windows == 0


def test_last_refusals_kept_are_bounded_overall_and_per_window():
    tally = RefusalTally(window=MINUTE, keep=50, per_window=20)
    for i in range(1000):
        tally.note(_refusal(at=T0 + dt.timedelta(milliseconds=i)), T0)
    for _ in range(10):
        tally.note(_refusal(peer=MA, reason="signature_invalid"), T0)
    taken = tally.take(T0)
    assert len(taken.records) == 30  # 20 of the flood's window, all 10 of the partner's
    assert sum(r.peer == MA for r in taken.records) == 10
    assert taken.windows[0].count == 1000
    tally = RefusalTally(window=MINUTE, keep=5)
    for i in range(PER_WINDOW):
        tally.note(_refusal(at=T0 + dt.timedelta(seconds=i)), T0)
    assert [r.at for r in tally.take(T0).records] == [
        T0 + dt.timedelta(seconds=i) for i in range(PER_WINDOW - 5, PER_WINDOW)
    ]


def test_tally_refuses_nonsense_settings():
    with pytest.raises(ValueError, match="window"):
        RefusalTally(window=dt.timedelta(0), keep=1)
    with pytest.raises(ValueError, match="keep"):
        RefusalTally(window=MINUTE, keep=-1)


def test_store_keeps_the_last_n_refusals_and_every_window(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "relay.db")
    try:
        records = [_refusal(at=T0 + dt.timedelta(seconds=i)) for i in range(30)]
        window = RefusalWindow(
            peer="unknown",
            reason="peer_unknown",
            started=T0,
            ended=T0 + MINUTE,
            count=10,
            closed=False,
        )
        store.record_refusals(records[:10], [window], keep=25)
        store.record_refusals(records[10:], [], keep=25)
        assert store.refusals() == records[5:]
        closed = RefusalWindow(
            peer="unknown",
            reason="peer_unknown",
            started=T0,
            ended=T0 + dt.timedelta(seconds=42),
            count=2000,
            closed=True,
        )
        store.record_refusals([], [closed], keep=25)
        assert store.refusal_windows(limit=10) == [closed]  # updated in place
        later = RefusalWindow(
            peer=MA, reason="rate_limited", started=T0 + MINUTE, ended=T0, count=1, closed=False
        )
        store.record_refusals([], [later], keep=25)
        assert store.refusal_windows(limit=10) == [later, closed]  # newest first
        assert store.refusal_windows(limit=1) == [later]
        store.record_refusals(records[:3], [], keep=0)
        assert store.refusals() == []
        with pytest.raises(ValueError, match="keep"):
            store.record_refusals([], [], keep=-1)
    finally:
        store.close()
