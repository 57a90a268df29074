"""`relay queue list|retry|drop`: the durable queues for operators and tools (a contract).

* ``relay queue list (--config FILE | --store URL) [--state pending|dead|done|all]
  [--partner ORI] [--json]``: by default everything not done (pending and dead letters). A
  table, or with ``--json`` one JSON object per line: ``id, queue, peer, envelope_id, state,
  attempts, created_at, next_at, reason`` (times RFC 3339 UTC, whole seconds; ``next_at`` is
  null unless the item is pending). Ids, counts, times and reason codes only: never text.
* ``relay queue retry (--config FILE | --store URL) (ID... | --all-dead [--partner ORI])``:
  dead letters back to pending, due now. ``retried ID`` or ``not dead: ID`` per id; exit 1 if
  any id was not a dead letter.
* ``relay queue drop (--config FILE | --store URL) ID... [--reason CODE]``: pending items to
  the dead letters (reason ``dropped_by_operator`` unless given). ``dropped ID`` or
  ``not pending: ID`` per id; exit 1 if any was not pending.

Exit codes: 0 ok, 1 an id in the wrong state or a store that cannot be opened or read, 2 bad
input (a malformed id or reason, usage, a ``relay.yaml`` that does not load). Errors are one
line on stderr, never a traceback, and never the store URL (it may hold a password).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from relay.commands.common import (
    CommandError,
    duration,
    load_config,
    one_line_errors,
    printable,
    using_store,
)
from relay.core.ids import is_ori
from relay.core.reasons import Reason
from relay.errors import EXIT_FAILURE, EXIT_INPUT, EXIT_OK
from relay.store.contract import QueueEntry, Store

__all__ = ["add_parser"]

_ID: Final = re.compile(r"(out|in)-([0-9]{1,19})", re.ASCII)
_REASON: Final = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_MAX_SEQ: Final = 2**63 - 1
_DEFAULT_REASON: Final = Reason.DROPPED_BY_OPERATOR
# Per queue and state: a bound on memory, far above any backlog a relay builds in a day.
_LIMIT: Final = 100_000
_QUEUE_ORDER: Final = {"outbox": 0, "inbound": 1}
# ``--state``: the store's states to list ("" is the default: everything not done).
_STATES: Final = {
    "": ("pending", "dead"),
    "pending": ("pending",),
    "dead": ("dead",),
    "done": ("done",),
    "all": ("pending", "dead", "done"),
}


_Action = Callable[[argparse.Namespace, Store], int]


# -- input checks ----------------------------------------------------------------------------
def _check_ids(raw: Iterable[str]) -> list[str]:
    """Every id well formed (else exit 2 before anything changes); repeats dropped."""
    out: dict[str, None] = {}
    for value in raw:
        match = _ID.fullmatch(value)
        if match is None or int(match.group(2)) > _MAX_SEQ:
            raise CommandError(
                f"relay queue: bad id {value!r} (expected out-<n> or in-<n>)", EXIT_INPUT
            )
        out[f"{match.group(1)}-{int(match.group(2))}"] = None
    return list(out)


def _check_partner(value: str | None) -> str:
    if value is None:
        return ""
    if not is_ori(value):
        raise CommandError(
            f"relay queue: bad partner {value!r} (expected an ORI such as CT9990100)", EXIT_INPUT
        )
    return value


def _check_reason(value: str) -> str:
    if _REASON.fullmatch(value) is None:
        raise CommandError(
            f"relay queue: bad reason {value!r} (expected a code matching "
            f"^[a-z][a-z0-9_]{{0,63}}$, such as {_DEFAULT_REASON})",
            EXIT_INPUT,
        )
    return value


# -- the store -------------------------------------------------------------------------------
def _store_url(args: argparse.Namespace) -> tuple[str, Path]:
    """The store URL and the directory a relative SQLite path is under."""
    if args.store is not None:
        return str(args.store), Path.cwd()
    config = load_config(args.config)
    return config.store, Path(config.source).parent


def _entries(store: Store, states: Iterable[str], peer: str) -> list[QueueEntry]:
    found: list[QueueEntry] = []
    for state in states:
        batch = store.queue_entries(state=state, peer=peer, limit=_LIMIT)
        for queue in _QUEUE_ORDER:
            if sum(e.queue == queue for e in batch) >= _LIMIT:
                print(
                    f"relay queue: the {queue} holds {_LIMIT} or more {state} items; "
                    f"only the first {_LIMIT} were read",
                    file=sys.stderr,
                )
        found.extend(batch)
    found.sort(key=lambda e: (_QUEUE_ORDER.get(e.queue, 2), int(e.id.partition("-")[2])))
    return found


# -- list --------------------------------------------------------------------------------------
def _rfc3339(seconds: float) -> str:
    return (
        dt.datetime.fromtimestamp(math.floor(seconds), dt.UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
        + "Z"
    )


def _wire(entry: QueueEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "queue": entry.queue,
        "peer": entry.peer,
        "envelope_id": entry.envelope_id,
        "state": entry.state,
        "attempts": entry.attempts,
        "created_at": _rfc3339(entry.created_at),
        "next_at": _rfc3339(entry.next_at) if entry.state == "pending" else None,
        "reason": entry.reason,
    }


def _row(entry: QueueEntry, now: float) -> list[str]:
    if entry.state != "pending":
        due = "-"
    elif entry.next_at <= now:
        due = "now"
    else:
        due = f"in {duration(math.ceil(entry.next_at - now))}"
    return [
        entry.id,
        entry.queue,
        printable(entry.peer),
        entry.state,
        str(entry.attempts),
        duration(now - entry.created_at),
        due,
        printable(entry.reason or "-"),
        printable(entry.envelope_id),
    ]


_HEADER: Final = ["ID", "QUEUE", "PEER", "STATE", "ATTEMPTS", "AGE", "NEXT", "REASON", "ENVELOPE"]


def _list(args: argparse.Namespace, store: Store) -> int:
    peer = _check_partner(args.partner)
    entries = _entries(store, _STATES[args.state], peer)
    out = sys.stdout
    if args.json:
        for entry in entries:
            out.write(json.dumps(_wire(entry)) + "\n")
        return EXIT_OK
    now = time.time()
    rows = [_HEADER, *(_row(e, now) for e in entries)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
        out.write("  ".join([*cells, r[-1]]) + "\n")
    return EXIT_OK


# -- retry and drop ----------------------------------------------------------------------------
def _retry(args: argparse.Namespace, store: Store) -> int:
    if args.ids:
        ids = _check_ids(args.ids)
    else:
        ids = [e.id for e in _entries(store, ("dead",), _check_partner(args.partner))]
        if not ids:
            print("relay queue: no dead letters to retry", file=sys.stderr)
    failed = False
    for entry_id in ids:
        if store.retry_entry(entry_id, now=time.time()):
            print(f"retried {entry_id}")
        else:
            print(f"not dead: {entry_id}")
            failed = True
    return EXIT_FAILURE if failed else EXIT_OK


def _drop(args: argparse.Namespace, store: Store) -> int:
    reason = _check_reason(args.reason)
    ids = _check_ids(args.ids)
    failed = False
    for entry_id in ids:
        # Only a pending item: a dead letter keeps the reason it died with, done stays done.
        if store.drop_entry(entry_id, now=time.time(), reason=reason):
            print(f"dropped {entry_id}")
        else:
            print(f"not pending: {entry_id}")
            failed = True
    return EXIT_FAILURE if failed else EXIT_OK


def _check_args(args: argparse.Namespace) -> None:
    """Bad ids, reasons and partners are exit 2 before the store is opened."""
    if args.queue_command == "retry":
        if args.ids and args.all_dead:
            raise CommandError("relay queue retry: give ids or --all-dead, not both", EXIT_INPUT)
        if not args.ids and not args.all_dead:
            raise CommandError(
                "relay queue retry: give the ids to retry, or --all-dead", EXIT_INPUT
            )
        if args.partner is not None and not args.all_dead:
            raise CommandError("relay queue retry: --partner goes with --all-dead", EXIT_INPUT)
    if args.queue_command == "drop":
        _check_reason(args.reason)
    _check_ids(getattr(args, "ids", None) or [])
    _check_partner(args.partner)


def _command(action: _Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        _check_args(args)
        url, base_dir = _store_url(args)
        with using_store(url, base_dir, prog="relay queue") as store:
            return action(args, store)

    return one_line_errors(run)


def _source(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", metavar="FILE", help="relay.yaml (its store: URL)")
    where.add_argument(
        "--store",
        metavar="URL",
        help="a store URL instead (sqlite:///PATH relative to the current directory)",
    )


def add_parser(subparsers: Any) -> None:
    queue = subparsers.add_parser("queue", help="list, retry and drop queued deliveries")
    sub = queue.add_subparsers(dest="queue_command", required=True)

    ls = sub.add_parser("list", help="queued items (default: pending and dead letters)")
    _source(ls)
    ls.add_argument(
        "--state",
        choices=("pending", "dead", "done", "all"),
        default="",
        help="default: pending and dead",
    )
    ls.add_argument("--partner", metavar="ORI", default=None)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=_command(_list))

    retry = sub.add_parser("retry", help="dead letters back to pending, due now")
    _source(retry)
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all-dead", action="store_true", help="every dead letter")
    retry.add_argument("--partner", metavar="ORI", default=None, help="with --all-dead")
    retry.set_defaults(func=_command(_retry))

    drop = sub.add_parser("drop", help="pending items to the dead letters")
    _source(drop)
    drop.add_argument("ids", nargs="+", metavar="ID")
    drop.add_argument("--reason", metavar="CODE", default=_DEFAULT_REASON)
    drop.set_defaults(func=_command(_drop), partner=None)
