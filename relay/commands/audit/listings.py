"""``relay audit disseminations`` and ``relay audit checkpoints``: what a partner received, when
and under which policy; and the checkpoints kept of an agency, to hand over for verification."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Final

from relay.commands.audit.inputs import window
from relay.commands.audit.ledger import read_audited, records
from relay.config import RelayConfig
from relay.core.audit import AuditEvent
from relay.store.contract import Store

__all__ = ["run_checkpoints", "run_disseminations"]

_TABLE: Final = ("TIME", "ENVELOPE", "TOPIC", "DIGEST", "POLICY", "OUTCOME")


def run_disseminations(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    since, until = window(args)
    found = [
        item
        for item in records(store, since=since, until=until)
        if item.record.event is AuditEvent.FORWARD and item.record.destination == args.partner
    ]
    read_audited(store, config, "disseminations", len(found))  # before any output
    out = sys.stdout
    if args.format == "jsonl":
        for item in found:
            r = item.record
            wire = {
                "seq": item.seq,
                "at": r.at,
                "partner": r.destination,
                "envelope_id": r.envelope_id,
                "topic": r.topic,
                "digest": r.digest,
                "policy": r.policy,
                "outcome": r.outcome,
            }
            out.write(json.dumps(wire) + "\n")
    else:
        rows: list[list[str]] = [list(_TABLE)]
        for item in found:
            r = item.record
            values = (r.at, r.envelope_id, r.topic, r.digest, r.policy, r.outcome)
            rows.append([v or "-" for v in values])
        widths = [max(len(row[i]) for row in rows) for i in range(len(_TABLE) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
            out.write("  ".join([*cells, row[-1]]) + "\n")
    out.flush()
    return 0


def run_checkpoints(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    kept = store.checkpoints(args.issuer)
    read_audited(store, config, "checkpoints", len(kept))  # before any output
    for c in kept:
        wire = {
            "issuer": c.issuer,
            "seq": c.seq,
            "head": c.head,
            "at": c.at,
            "received_at": c.received_at,
            "token": c.token,
        }
        sys.stdout.write(json.dumps(wire) + "\n")
    sys.stdout.flush()
    return 0
