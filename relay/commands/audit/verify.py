"""``relay audit verify``: the hash chain walked from the retention anchor and held against our
own checkpoints, the store's head and the checkpoints partners kept of us (files or fetched)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from relay.commands.audit.inputs import fail
from relay.commands.audit.ledger import raw_rows, read_audited
from relay.commands.common import CommandError
from relay.config import ConfigLoadError, RelayConfig
from relay.core.audit import Checkpoint, CheckpointError, verify_chain, verify_checkpoint
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.signing import b64url_decode, public_key_bytes
from relay.store.contract import Store

__all__ = ["run_verify"]


def _own_keyring(config: RelayConfig) -> Keyring:
    """Our signing key now (from ``signing_key``), and the keys it replaced
    (``audit.previous_keys``, each usable in its own window): checkpoints signed before a
    rotation still verify."""
    from relay.assemble import load_signing_key

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
            raise fail("verify", f"cannot read {path} ({type(exc).__name__})", 2) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                value = None
            token = value.get("token") if isinstance(value, dict) else None
            if not isinstance(token, str):
                raise fail("verify", f'{path}:{number}: expected {{"token": ...}}', 2)
            try:
                checkpoint = verify_checkpoint(token, keyring, now)
            except CheckpointError as exc:
                raise fail(
                    "verify", f"{path}:{number}: checkpoint refused ({exc.code})", 2
                ) from None
            if checkpoint.agency != agency:
                raise fail("verify", f"{path}:{number}: checkpoint is not of {agency}", 2)
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
            raise fail("verify", f"cannot load TLS material ({type(exc).__name__})", 2) from None
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


def run_verify(args: argparse.Namespace, config: RelayConfig, store: Store) -> int:
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
    verdict = verify_chain(raw_rows(store), checkpoints, anchor, head=head)
    if not verdict.ok:
        print(f"broken: record {verdict.first_bad_seq}: {verdict.reason}")
    elif broken is not None:
        print(broken)
    else:
        seq, digest = verdict.head
        many = len(checkpoints)
        print(f"ok: {verdict.records} records, head {seq} {digest[:12]}, {many} checkpoints")
        # from this record on the row's time is under its hash (record version 2)
        print(f"time: covered from record {verdict.time_from}")
    sys.stdout.flush()
    read_audited(store, config, "verify", verdict.records)
    return 0 if verdict.ok and broken is None else 1
