"""``relay keygen``: make an agency's Ed25519 signing key (an adapter: it writes files).

::

    relay keygen --agency CT9990100 --out keys/ [--kid-suffix 2026-k1]

writes ``keys/CT9990100-2026-k1.key.pem`` (PKCS#8, mode 0600, never overwritten) and
``keys/CT9990100-2026-k1.jwk.json``, the public JWK with ``kid`` ``CT9990100#2026-k1`` to hand to
partner agencies for pinning. Prints the kid and the RFC 7638 thumbprint, which partners compare
out of band. Bad arguments: one line on stderr, exit 2; a file problem: exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from relay.core.keys import jwk_thumbprint, make_kid, parse_ori, public_jwk
from relay.core.signing import public_key_bytes
from relay.errors import EXIT_FAILURE, EXIT_INPUT, EXIT_OK

__all__ = ["add_parser", "run_keygen"]

_Parser = TypeVar("_Parser", bound=argparse.ArgumentParser)


def add_parser(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser("keygen", help="make an agency signing key")
    parser.add_argument("--agency", required=True, help="agency ORI, e.g. CT9990100")
    parser.add_argument("--out", required=True, type=Path, help="directory for the key files")
    parser.add_argument(
        "--kid-suffix",
        default=None,
        help="key id suffix after '#', e.g. 2026-k1 (default: <this year>-k1)",
    )
    parser.set_defaults(func=run_keygen)


def run_keygen(args: argparse.Namespace) -> int:
    suffix = args.kid_suffix or f"{datetime.now(UTC).year}-k1"
    try:
        agency = parse_ori(args.agency)
        kid = make_kid(agency, suffix)
    except ValueError as exc:
        print(f"relay keygen: bad_input: {exc}", file=sys.stderr)
        return EXIT_INPUT
    out: Path = args.out
    stem = f"{agency}-{suffix}"
    key_path, jwk_path = out / f"{stem}.key.pem", out / f"{stem}.jwk.json"
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    jwk = public_jwk(public_key_bytes(key), kid=kid)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_new(key_path, pem, mode=0o600)
        _write_new(jwk_path, (json.dumps(jwk, indent=2) + "\n").encode("ascii"), mode=0o644)
    except OSError as exc:
        print(f"relay keygen: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"kid {kid} thumbprint {jwk_thumbprint(public_key_bytes(key))}")
    print(f"private key {key_path} (keep secret), public JWK {jwk_path}")
    return EXIT_OK


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no window with wider permissions)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
