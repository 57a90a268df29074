"""`relay audit verify|export|disseminations|checkpoints`: the dissemination ledger (a contract).

* ``relay audit verify --config FILE [--checkpoints FILE.jsonl ...]``: walk the hash chain from
  the retention anchor and hold it against this relay's own checkpoints, the store's head and
  the checkpoints partners kept of us (``--checkpoints``: what a partner exported with
  ``relay audit checkpoints --issuer <our ORI>``, one ``{"token": ...}`` per line, verified
  against our signing key and, each in its window, the keys it replaced:
  ``audit.previous_keys``). Prints ``ok: N records, head SEQ HASH12, K checkpoints`` (exit 0)
  or ``broken: record SEQ: REASON`` (exit 1; REASON is ``edited``, ``deleted``, ``reordered``,
  ``truncated``, ``forked`` or ``bad_record``) or ``broken: checkpoint SEQ: CODE`` (one of our
  own kept checkpoints does not verify). After ``ok`` a second line, ``time: covered from
  record SEQ``: from that record on every record is version 2, its time under its hash
  (earlier records are version 1). ``--fetch`` also asks every partner in relay.yaml,
  over the federation link (mutual TLS), for the checkpoints it keeps of us
  (``GET /v1/audit/checkpoints``: the newest 1000); a partner that cannot be reached, or a
  token that does not verify against our keys, is named on stderr (``relay audit: verify:
  MA9990200: unreachable``) and left out, and verification goes on with the rest.
* ``relay audit export --config FILE [--since T] [--until T] [--format jsonl|csv]
  [--output FILE]``: records with ``since <= at < until`` (T a date, ``2026-11-01`` =
  midnight UTC, or an RFC 3339 time). JSON Lines: ``seq``, the record's fields, ``prev``,
  ``hash``, ``v`` (the record version). CSV: the header ``seq,at,event,relay,outcome,source,
  destination,actor_user,actor_agency,envelope_id,digest,rules,policy,topic,kid,count,prev,
  hash,v``, rules joined by ``;``, unset fields empty. The window goes by each record's
  hashed time.
* ``relay audit disseminations --config FILE --partner ORI [--since T] [--until T]
  [--format table|jsonl]``: the ``forward`` records to that partner: who received what, when,
  under which policy version. Table columns ``TIME ENVELOPE TOPIC DIGEST POLICY OUTCOME``;
  JSON Lines keys ``seq, at, partner, envelope_id, topic, digest, policy, outcome``.
* ``relay audit checkpoints --config FILE --issuer ORI``: the checkpoints kept of ``ORI`` as
  JSON Lines (``issuer, seq, head, at, received_at, token``): what a partner hands over for
  ``verify --checkpoints``.

Every subcommand appends an ``audit_read`` record (``outcome`` the subcommand, ``count`` what
it read): reading the audit trail is itself audited. ``export``, ``disseminations`` and
``checkpoints`` append it *before* they output anything (``count``: the rows about to be
output), so a reader that stops early (``| head``) was still recorded; if it cannot be
appended they output nothing and exit 1 (``relay audit: export: cannot record the read
(OperationalError)``). ``verify`` appends it after its verdict. Exit codes: 0 ok, 1 a
broken chain or a store that cannot be opened, read or written, 2 bad input. Errors are one
line on stderr, never a traceback, never the store URL.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay.commands.audit.export import CSV_HEADER, run_export
from relay.commands.audit.inputs import check_args, fail
from relay.commands.audit.listings import run_checkpoints, run_disseminations
from relay.commands.audit.verify import run_verify
from relay.commands.common import load_config, one_line_errors, using_store
from relay.config import RelayConfig
from relay.store.contract import Store

__all__ = ["CSV_HEADER", "add_parser"]

_Action = Callable[[argparse.Namespace, RelayConfig, Store], int]


def _command(action: _Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        check_args(args)
        config = load_config(args.config)
        command = args.audit_command
        with using_store(
            config.store,
            Path(config.source).parent,
            prog="relay audit",
            error_prog=f"relay audit {command}",
        ) as store:
            try:
                return action(args, config, store)
            except ValueError as exc:  # a stored record that no longer parses (names a field)
                raise fail(
                    command, f"a stored record does not read ({exc}); run relay audit verify", 1
                ) from None

    return one_line_errors(run)


def _window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="T", default=None, help="a date or RFC 3339 time")
    p.add_argument("--until", metavar="T", default=None, help="exclusive")


def add_parser(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="verify, export and review the audit ledger")
    sub = audit.add_subparsers(dest="audit_command", required=True)

    verify = sub.add_parser("verify", help="check the hash chain and the checkpoints")
    verify.add_argument("--config", metavar="FILE", required=True)
    verify.add_argument(
        "--checkpoints",
        metavar="FILE",
        action="extend",
        nargs="+",
        default=[],
        help="JSON Lines of our checkpoints a partner kept",
    )
    verify.add_argument(
        "--fetch",
        action="store_true",
        help="also ask every partner (mutual TLS) for the checkpoints it keeps of us",
    )
    verify.set_defaults(func=_command(run_verify))

    export = sub.add_parser("export", help="records in a time window (the weekly review)")
    export.add_argument("--config", metavar="FILE", required=True)
    _window_args(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", metavar="FILE", default=None)
    export.set_defaults(func=_command(run_export))

    dissem = sub.add_parser(
        "disseminations", help="what a partner received, when, under which policy"
    )
    dissem.add_argument("--config", metavar="FILE", required=True)
    dissem.add_argument("--partner", metavar="ORI", required=True)
    _window_args(dissem)
    dissem.add_argument("--format", choices=("table", "jsonl"), default="table")
    dissem.set_defaults(func=_command(run_disseminations))

    kept = sub.add_parser("checkpoints", help="the checkpoints kept of an agency (JSON Lines)")
    kept.add_argument("--config", metavar="FILE", required=True)
    kept.add_argument("--issuer", metavar="ORI", required=True)
    kept.set_defaults(func=_command(run_checkpoints))
