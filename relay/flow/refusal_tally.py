"""Refusals counted in memory, per peer and reason and window of time: what a flood of refused
requests costs is a counter, and what is written for it is bounded (see
:mod:`relay.flow.refusals`, which writes what this takes out).

A window opens with the first refusal of a peer for a reason and lasts ``window`` seconds; its
first refusal is kept for an opening ledger record, its count for the closing one. The last
refusals one by one are kept too, at most ``keep`` between two takes and at most
``per_window`` of any one window, so a flood from one peer cannot push the others' out.
Nothing here does I/O or reads a clock: the caller passes the time.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from relay.store.contract import RefusalRecord
from relay.store.contract_refusals import RefusalWindow

__all__ = ["MAX_WINDOWS", "PER_WINDOW", "RefusalTally", "Taken"]

MAX_WINDOWS: Final = 1024  # open windows at once (peers x reasons are closed sets: defensive)
PER_WINDOW: Final = 100  # refusals kept one by one from one window, at most
UNKNOWN: Final = "unknown"


@dataclass(slots=True)
class _Open:
    peer: str
    reason: str
    started: dt.datetime
    count: int = 0
    kept: int = 0  # refusals of this window kept one by one
    first: RefusalRecord | None = None  # not yet in an opening record
    changed: bool = True  # counted since the last take

    def window(self, ended: dt.datetime, *, closed: bool) -> RefusalWindow:
        return RefusalWindow(
            peer=self.peer,
            reason=self.reason,
            started=self.started,
            ended=ended,
            count=self.count,
            closed=closed,
        )


@dataclass(frozen=True, slots=True)
class Taken:
    """What to write: opening records (each window's first refusal), the windows that closed
    (with their counts, for the closing records), every window to store (open ones with their
    count so far), and the refusals kept one by one."""

    opened: tuple[RefusalRecord, ...] = ()
    closed: tuple[RefusalWindow, ...] = ()
    windows: tuple[RefusalWindow, ...] = ()
    records: tuple[RefusalRecord, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.opened or self.windows or self.records)


@dataclass(slots=True)
class RefusalTally:
    window: dt.timedelta
    keep: int
    per_window: int = PER_WINDOW
    _open: dict[tuple[str, str], _Open] = field(default_factory=dict)
    _ended: list[RefusalWindow] = field(default_factory=list)
    _unopened: list[RefusalRecord] = field(default_factory=list)  # of windows ended since
    _records: deque[RefusalRecord] = field(init=False)

    def __post_init__(self) -> None:
        if self.window <= dt.timedelta(0) or self.keep < 0 or self.per_window < 0:
            raise ValueError("window must be positive, keep and per_window not negative")
        self._records = deque(maxlen=self.keep)

    def note(self, record: RefusalRecord, now: dt.datetime) -> bool:
        """Count ``record`` (refused at ``now``); True when it opened a window."""
        key = (record.peer, str(record.reason))
        w = self._open.get(key)
        if w is not None and now >= w.started + self.window:
            self._ended.append(w.window(w.started + self.window, closed=True))
            if w.first is not None:
                self._unopened.append(w.first)
            del self._open[key]
            w = None
        opened = w is None
        if w is None:
            if len(self._open) >= MAX_WINDOWS:  # never with real peers and reasons
                key = (UNKNOWN, key[1])
                w = self._open.get(key)
            if w is None:
                w = self._open[key] = _Open(peer=key[0], reason=key[1], started=now, first=record)
        w.count += 1
        w.changed = True
        if w.kept < self.per_window and self.keep:
            w.kept += 1
            self._records.append(record)
        return opened

    def take(self, now: dt.datetime, *, closing: bool = False) -> Taken:
        """What to write since the last take; windows that ended by ``now`` (all of them when
        ``closing``: the relay stops) are closed and forgotten."""
        opened, self._unopened = self._unopened, []
        closed, self._ended = self._ended, []
        windows = list(closed)
        for key, w in list(self._open.items()):
            if w.first is not None:
                opened.append(w.first)
                w.first = None
            end = w.started + self.window
            if closing or now >= end:
                done = w.window(min(now, end), closed=True)
                closed.append(done)
                windows.append(done)
                del self._open[key]
            elif w.changed:
                windows.append(w.window(end, closed=False))
            w.changed = False
        records = tuple(self._records)
        self._records.clear()
        return Taken(
            opened=tuple(opened), closed=tuple(closed), windows=tuple(windows), records=records
        )

    @property
    def open_windows(self) -> int:
        return len(self._open)
