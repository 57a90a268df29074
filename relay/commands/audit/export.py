"""``relay audit export``: the records of a time window, with their chain hashes, as JSON Lines
or CSV, to stdout or a file (the weekly review)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import sys
from collections.abc import Iterator
from typing import IO, Any, Final

from relay.commands.audit.inputs import fail, window
from relay.commands.audit.ledger import read_audited, records
from relay.config import RelayConfig
from relay.core.audit import ChainedRecord
from relay.store.contract import Store

__all__ = ["CSV_HEADER", "run_export"]

CSV_HEADER: Final = (
    "seq",
    "at",
    "event",
    "relay",
    "outcome",
    "source",
    "destination",
    "actor_user",
    "actor_agency",
    "envelope_id",
    "digest",
    "rules",
    "policy",
    "topic",
    "kid",
    "count",
    "prev",
    "hash",
    "v",  # the record version, last: added after the others (tools read them by position)
)


def _flat(item: ChainedRecord) -> dict[str, Any]:
    fields = {k: v for k, v in item.record.to_json().items() if k != "v"}
    return {"seq": item.seq, **fields, "prev": item.prev, "hash": item.hash, "v": item.record.v}


@contextlib.contextmanager
def _output(path: str | None, command: str) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - yielded
    except OSError as exc:
        raise fail(command, f"cannot write {path} ({type(exc).__name__})", 2) from None
    with handle:
        yield handle


def run_export(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    since, until = window(args)
    # The read covers the records up to today's head (not its own audit_read record), counted
    # first so that the record of the read is written before any of them is output.
    upto, _ = store.audit_head()
    count = sum(1 for _ in records(store, since=since, until=until, upto=upto))
    read_audited(store, config, "export", count)
    rows = itertools.islice(records(store, since=since, until=until, upto=upto), count)
    with _output(args.output, "export") as out:
        if args.format == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            for item in rows:
                flat = _flat(item)
                flat["rules"] = ";".join(item.record.rules)
                writer.writerow(["" if flat.get(k) is None else flat[k] for k in CSV_HEADER])
        else:
            for item in rows:
                out.write(json.dumps(_flat(item)) + "\n")
    sys.stdout.flush()
    return 0
