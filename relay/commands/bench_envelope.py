"""`relay bench envelope`: envelope build/sign and verify/parse rates against raw Ed25519.

All on one core, in one process, with the relay's own functions: ``build_envelope`` +
``sign_origin`` for a ten-line message, and ``verify_envelope`` (wire dict to
``VerifiedEnvelope``: shape, JCS, signatures, hop chain, Disclosures) for that envelope as sent
(one signature) and after one relay hop (two signatures). The raw rates are ``cryptography``'s
Ed25519 sign and verify over a signing input of the same size. Targets (issue): build+sign at
least 40 % of the raw sign rate, verify+parse with one signature at least 60 % of the raw verify
rate. The public-key check of a pinned key is done once per key and kept, as in a running relay.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    SignedEnvelope,
    UnsignedEnvelope,
    add_hop,
    build_envelope,
    sign_origin,
    verify_envelope,
)
from relay.core.jws import signing_input
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.signing import public_key_bytes

__all__ = ["add_parser"]

_ORIGIN, _RELAY, _RECEIVER = AgencyId("CT9990100"), AgencyId("NY0300000"), AgencyId("MA0130000")
_T0: Final = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_LINES: Final = tuple(
    f"BOLO {i}: white 2012 sedan, partial plate 7XK, last seen northbound on I-95 at exit {i}"
    for i in range(10)
)
_SALTS: Final = tuple(f"bench-salt-{i:02d}-0123456789abcdef" for i in range(len(_LINES)))
_BUILD_TARGET: Final = 0.40
_VERIFY_TARGET: Final = 0.60


def add_parser(bench_subparsers: Any) -> None:
    p = bench_subparsers.add_parser(
        "envelope", help="envelope build+sign and verify+parse rates vs raw Ed25519"
    )
    p.add_argument(
        "--seconds", type=float, default=1.0, metavar="S", help="time per measurement (1.0)"
    )
    p.set_defaults(func=_bench)


def _build(key: Ed25519PrivateKey) -> SignedEnvelope:
    unsigned: UnsignedEnvelope = build_envelope(
        issuer=_ORIGIN,
        audience=_RELAY,
        onward=True,
        envelope_id=EnvelopeId("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"),
        issued_at=_T0,
        expires_at=_T0 + timedelta(days=30),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name="Det. A. Smith", agency=_ORIGIN),
        lines=_LINES,
        salts=_SALTS,
    )
    return sign_origin(unsigned, key=key, kid=f"{_ORIGIN}#bench")


def _rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``work``, run in batches for at least ``seconds``."""
    work()  # warm up
    clock = time.perf_counter
    calls, batch, start = 0, 16, clock()
    while True:
        for _ in range(batch):
            work()
        calls += batch
        elapsed = clock() - start
        if elapsed >= seconds:
            return calls / elapsed
        batch = min(batch * 2, 4096)


def _bench(args: argparse.Namespace) -> int:
    seconds = args.seconds
    if not 0 < seconds <= 60:
        print("relay bench envelope: --seconds must be in (0, 60]")
        return 2
    origin_key, relay_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ring = Keyring.of(
        PinnedKey(
            kid=KeyId(f"{agency}#bench"),
            agency=agency,
            public_key=public_key_bytes(key),
            not_before=_T0 - timedelta(days=1),
        )
        for agency, key in ((_ORIGIN, origin_key), (_RELAY, relay_key))
    )
    signed = _build(origin_key)
    hopped = add_hop(
        signed,
        key=relay_key,
        kid=f"{_RELAY}#bench",
        from_agency=_ORIGIN,
        to_agency=_RECEIVER,
        at=_T0 + timedelta(minutes=1),
        policy="bench/outbound@v1",
        onward=False,
    )
    wire_one, wire_two = signed.to_wire(), hopped.to_wire()
    now = _T0 + timedelta(minutes=5)
    message = signing_input(signed.signatures[0].protected, signed.payload)
    raw_signature = origin_key.sign(message)
    public = origin_key.public_key()

    sign_rate = _rate(lambda: origin_key.sign(message), seconds)
    verify_rate = _rate(lambda: public.verify(raw_signature, message), seconds)
    build_rate = _rate(lambda: _build(origin_key), seconds)
    one_rate = _rate(lambda: verify_envelope(wire_one, ring, now=now, receiver=_RELAY), seconds)
    two_rate = _rate(lambda: verify_envelope(wire_two, ring, now=now, receiver=_RECEIVER), seconds)

    print(
        f"relay bench envelope: one core, {len(_LINES)} lines per envelope, "
        f"{len(message)}-byte signing input, {seconds:g} s per measurement"
    )
    rows = [
        ("raw Ed25519 sign (cryptography)", sign_rate, ""),
        ("raw Ed25519 verify (cryptography)", verify_rate, ""),
        ("build+sign (build_envelope + sign_origin)", build_rate,
         _versus(build_rate / sign_rate, "raw sign", _BUILD_TARGET)),
        ("verify+parse, 1 signature (verify_envelope)", one_rate,
         _versus(one_rate / verify_rate, "raw verify", _VERIFY_TARGET)),
        ("verify+parse, 2 signatures (origin + 1 hop)", two_rate,
         _versus(two_rate / verify_rate, "raw verify", None)),
    ]  # fmt: skip
    for label, rate, note in rows:
        print(f"  {label:<45} {rate:>9,.0f}/s {note}".rstrip())
    return 0


def _versus(ratio: float, base: str, target: float | None) -> str:
    if target is None:
        return f"{ratio:4.0%} of {base} (no target; two Ed25519 verifications)"
    verdict = "met" if ratio >= target else "MISSED"
    return f"{ratio:4.0%} of {base} (target >= {target:.0%}: {verdict})"
