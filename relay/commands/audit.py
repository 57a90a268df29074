"""`relay audit verify|export|disseminations|checkpoints`: the dissemination ledger (a contract).

* ``relay audit verify --config FILE [--checkpoints FILE.jsonl ...]``: walk the hash chain from
  the retention anchor and hold it against this relay's own checkpoints, the store's head and
  the checkpoints partners kept of us (``--checkpoints``: what a partner exported with
  ``relay audit checkpoints --issuer <our ORI>``, one ``{"token": ...}`` per line, verified
  against our signing key and, each in its window, the keys it replaced:
  ``audit.previous_keys``). Prints ``ok: N records, head SEQ HASH12, K checkpoints`` (exit 0)
  or ``broken: record SEQ: REASON`` (exit 1; REASON is ``edited``, ``deleted``, ``reordered``,
  ``truncated``, ``forked`` or ``bad_record``) or ``broken: checkpoint SEQ: CODE`` (one of our
  own kept checkpoints does not verify). ``--fetch`` also asks every partner in relay.yaml,
  over the federation link (mutual TLS), for the checkpoints it keeps of us
  (``GET /v1/audit/checkpoints``: the newest 1000); a partner that cannot be reached, or a
  token that does not verify against our keys, is named on stderr (``relay audit: verify:
  MA9990200: unreachable``) and left out, and verification goes on with the rest.
* ``relay audit export --config FILE [--since T] [--until T] [--format jsonl|csv]
  [--output FILE]``: records with ``since <= at < until`` (T a date, ``2026-11-01`` =
  midnight UTC, or an RFC 3339 time). JSON Lines: ``seq``, the record's fields, ``prev``,
  ``hash``. CSV: the header ``seq,at,event,relay,outcome,source,destination,actor_user,
  actor_agency,envelope_id,digest,rules,policy,topic,kid,count,prev,hash``, rules joined by
  ``;``, unset fields empty.
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
import contextlib
import csv
import datetime as dt
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

from relay.commands.common import CommandError, load_config, one_line_errors, using_store
from relay.config import ConfigLoadError, RelayConfig
from relay.core.audit import (
    AuditEvent,
    AuditRecord,
    ChainedRecord,
    Checkpoint,
    CheckpointError,
    RawRow,
    rfc3339,
    verify_chain,
    verify_checkpoint,
)
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.signing import b64url_decode, public_key_bytes
from relay.store.contract import Store

__all__ = ["CSV_HEADER", "add_parser"]

_ORI: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{7}", re.ASCII)
_DATE: Final = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)
_PAGE: Final = 10_000
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
)
_TABLE: Final = ("TIME", "ENVELOPE", "TOPIC", "DIGEST", "POLICY", "OUTCOME")

_Action = Callable[[argparse.Namespace, RelayConfig, Store], int]


def _fail(command: str, message: str, code: int) -> CommandError:
    return CommandError(f"relay audit {command}: {message}", code)


# -- input checks ----------------------------------------------------------------------------
def _when(value: str | None, flag: str, command: str) -> float | None:
    """A date (midnight UTC) or an RFC 3339 time with an offset, as POSIX seconds."""
    if value is None:
        return None
    try:
        if _DATE.fullmatch(value):
            moment = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        else:
            if "T" not in value.upper():
                raise ValueError("no time")
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no offset")
    except ValueError:
        raise _fail(
            command,
            f"bad {flag} {value!r} (expected a date such as 2026-11-01 or an RFC 3339 time "
            "such as 2026-11-01T00:00:00Z)",
            2,
        ) from None
    return moment.timestamp()


def _window(args: argparse.Namespace) -> tuple[float | None, float | None]:
    command = args.audit_command
    since = _when(args.since, "--since", command)
    until = _when(args.until, "--until", command)
    if since is not None and until is not None and since >= until:
        raise _fail(command, "--since must be before --until", 2)
    return since, until


def _ori(value: str, flag: str, command: str) -> str:
    if _ORI.fullmatch(value) is None:
        raise _fail(command, f"bad {flag} {value!r} (expected an ORI such as CT9990100)", 2)
    return value


def _check_args(args: argparse.Namespace) -> None:
    """Bad input is exit 2 before anything is opened."""
    command = args.audit_command
    if command in ("export", "disseminations"):
        _window(args)
    if command == "disseminations":
        _ori(args.partner, "--partner", command)
    if command == "checkpoints":
        _ori(args.issuer, "--issuer", command)


# -- the store ---------------------------------------------------------------------------------
def _rows(
    store: Store, *, since: float | None, until: float | None, upto: int | None = None
) -> Iterator[ChainedRecord]:
    """Records in the window, by seq; with ``upto``, none after that seq."""
    after = 0
    while True:
        page = store.audit_rows(after_seq=after, since=since, until=until, limit=_PAGE)
        for item in page:
            if upto is not None and item.seq > upto:
                return
            yield item
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def _raw_rows(store: Store) -> Iterator[RawRow]:
    after = 0
    while True:
        page = store.audit_raw_rows(after_seq=after, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def _read_audited(store: Store, config: RelayConfig, command: str, count: int) -> None:
    """Reading the trail is an audited event. ``export``, ``disseminations`` and
    ``checkpoints`` call this *before* they write anything: if the record cannot be written,
    nothing is output (exit 1), so no data leaves unrecorded."""
    record = AuditRecord(
        event=AuditEvent.AUDIT_READ,
        at=rfc3339(dt.datetime.now(dt.UTC)),
        relay=config.agency,
        outcome=command,
        count=count,
    )
    try:
        store.audit_append([record])
    except Exception as exc:  # noqa: BLE001 - the driver's text may echo the URL or data
        raise CommandError(
            f"relay audit: {command}: cannot record the read ({type(exc).__name__})", 1
        ) from None


# -- verify ------------------------------------------------------------------------------------
def _own_keyring(config: RelayConfig) -> Keyring:
    """Our signing key now (from ``signing_key``), and the keys it replaced
    (``audit.previous_keys``, each usable in its own window): checkpoints signed before a
    rotation still verify."""
    from relay.app import load_signing_key

    try:
        key = load_signing_key(config.signing_key, config.source)
    except ConfigLoadError as exc:
        raise CommandError("\n".join(exc.lines()), 2) from None
    agency = AgencyId(config.agency)
    keys = [
        PinnedKey(
            kid=KeyId(config.signing_kid),
            agency=agency,
            public_key=public_key_bytes(key),
            not_before=dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        )
    ]
    for old in config.audit.previous_keys:
        try:
            keys.append(
                PinnedKey(
                    kid=KeyId(old.kid),
                    agency=agency,
                    public_key=b64url_decode(old.public_key),
                    not_before=old.not_before,
                    not_after=old.not_after,
                    revoked=old.revoked,
                )
            )
        except Exception as exc:  # noqa: BLE001 - ValueError or VerificationError
            message = f"audit.previous_keys: {old.kid} refused ({type(exc).__name__})"
            raise CommandError(f"{config.source}:1: {message}", 2) from None
    try:
        return Keyring.of(keys)
    except ValueError:  # the loader refuses a kid listed twice already
        raise CommandError(f"{config.source}:1: audit.previous_keys: a kid twice", 2) from None


def _file_checkpoints(
    paths: list[str], keyring: Keyring, agency: str, now: dt.datetime
) -> list[Checkpoint]:
    out: list[Checkpoint] = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail("verify", f"cannot read {path} ({type(exc).__name__})", 2) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                value = None
            token = value.get("token") if isinstance(value, dict) else None
            if not isinstance(token, str):
                raise _fail("verify", f'{path}:{number}: expected {{"token": ...}}', 2)
            try:
                checkpoint = verify_checkpoint(token, keyring, now)
            except CheckpointError as exc:
                raise _fail(
                    "verify", f"{path}:{number}: checkpoint refused ({exc.code})", 2
                ) from None
            if checkpoint.agency != agency:
                raise _fail("verify", f"{path}:{number}: checkpoint is not of {agency}", 2)
            out.append(checkpoint)
    return out


def _fetched_checkpoints(
    config: RelayConfig, keyring: Keyring, now: dt.datetime
) -> list[Checkpoint]:
    """What every partner keeps of us, fetched over mutual TLS and verified against our key;
    a partner that fails is named on stderr and skipped."""
    import asyncio

    from relay.errors import DeliveryError
    from relay.federation.client import PeerClient
    from relay.federation.tls import client_context

    fed = config.federation

    async def fetch() -> list[tuple[str, list[str] | str]]:
        try:
            context = client_context(fed.tls_cert, fed.tls_key, fed.tls_ca)
        except (OSError, ValueError) as exc:
            raise _fail("verify", f"cannot load TLS material ({type(exc).__name__})", 2) from None
        client = PeerClient({o: link.url for o, link in config.partners.items()}, context)
        out: list[tuple[str, list[str] | str]] = []
        try:
            for partner in sorted(config.partners):
                try:
                    out.append((partner, await client.fetch_checkpoints(partner)))
                except DeliveryError as exc:
                    out.append((partner, exc.code))
        finally:
            await client.close()
        return out

    checkpoints: list[Checkpoint] = []
    for partner, got in asyncio.run(fetch()):
        if isinstance(got, str):
            print(f"relay audit: verify: {partner}: {got}", file=sys.stderr)
            continue
        for token in got:
            try:
                checkpoint = verify_checkpoint(token, keyring, now)
            except CheckpointError as exc:
                print(
                    f"relay audit: verify: {partner}: token refused ({exc.code})", file=sys.stderr
                )
                continue
            if checkpoint.agency == config.agency:
                checkpoints.append(checkpoint)
    return checkpoints


def _verify(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    now = dt.datetime.now(dt.UTC)
    keyring = _own_keyring(config)
    checkpoints = _file_checkpoints(args.checkpoints or [], keyring, config.agency, now)
    if args.fetch:
        checkpoints += _fetched_checkpoints(config, keyring, now)
    broken: str | None = None
    for kept in store.checkpoints(config.agency):
        try:
            checkpoints.append(verify_checkpoint(kept.token, keyring, now))
        except CheckpointError as exc:
            broken = broken or f"broken: checkpoint {kept.seq}: {exc.code}"
    head = store.audit_head()  # before the rows: records appended meanwhile come after it
    anchor = store.audit_anchor()
    verdict = verify_chain(_raw_rows(store), checkpoints, anchor, head=head)
    if not verdict.ok:
        print(f"broken: record {verdict.first_bad_seq}: {verdict.reason}")
    elif broken is not None:
        print(broken)
    else:
        seq, digest = verdict.head
        many = len(checkpoints)
        print(f"ok: {verdict.records} records, head {seq} {digest[:12]}, {many} checkpoints")
    sys.stdout.flush()
    _read_audited(store, config, "verify", verdict.records)
    return 0 if verdict.ok and broken is None else 1


# -- export ------------------------------------------------------------------------------------
def _flat(item: ChainedRecord) -> dict[str, Any]:
    return {"seq": item.seq, **item.record.to_json(), "prev": item.prev, "hash": item.hash}


@contextlib.contextmanager
def _output(path: str | None, command: str) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - yielded
    except OSError as exc:
        raise _fail(command, f"cannot write {path} ({type(exc).__name__})", 2) from None
    with handle:
        yield handle


def _export(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    since, until = _window(args)
    # The read covers the records up to today's head (not its own audit_read record), counted
    # first so that the record of the read is written before any of them is output.
    upto, _ = store.audit_head()
    count = sum(1 for _ in _rows(store, since=since, until=until, upto=upto))
    _read_audited(store, config, "export", count)
    rows = itertools.islice(_rows(store, since=since, until=until, upto=upto), count)
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


# -- disseminations ------------------------------------------------------------------------------
def _disseminations(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    since, until = _window(args)
    found = [
        item
        for item in _rows(store, since=since, until=until)
        if item.record.event is AuditEvent.FORWARD and item.record.destination == args.partner
    ]
    _read_audited(store, config, "disseminations", len(found))  # before any output
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


# -- checkpoints -------------------------------------------------------------------------------
def _checkpoints(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
    kept = store.checkpoints(args.issuer)
    _read_audited(store, config, "checkpoints", len(kept))  # before any output
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


# -- wiring --------------------------------------------------------------------------------------
def _command(action: _Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        _check_args(args)
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
                raise _fail(
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
    verify.set_defaults(func=_command(_verify))

    export = sub.add_parser("export", help="records in a time window (the weekly review)")
    export.add_argument("--config", metavar="FILE", required=True)
    _window_args(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", metavar="FILE", default=None)
    export.set_defaults(func=_command(_export))

    dissem = sub.add_parser(
        "disseminations", help="what a partner received, when, under which policy"
    )
    dissem.add_argument("--config", metavar="FILE", required=True)
    dissem.add_argument("--partner", metavar="ORI", required=True)
    _window_args(dissem)
    dissem.add_argument("--format", choices=("table", "jsonl"), default="table")
    dissem.set_defaults(func=_command(_disseminations))

    kept = sub.add_parser("checkpoints", help="the checkpoints kept of an agency (JSON Lines)")
    kept.add_argument("--config", metavar="FILE", required=True)
    kept.add_argument("--issuer", metavar="ORI", required=True)
    kept.set_defaults(func=_command(_checkpoints))
