"""TLS between relays: TLS 1.2+ both ways, client certificates required and pinned.

The server verifies a client certificate against the configured CA bundle and then requires
its SHA-256 fingerprint to be pinned to exactly one partner in ``relay.yaml``; that partner is
the TLS peer the envelope's last signer is compared with (``issuer_mismatch``). The client
verifies the partner's server certificate against the CA bundle and host name.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Any

__all__ = ["client_context", "peer_fingerprint", "server_context"]


def _harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert), str(key))
    return _harden(ctx)


def client_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return _harden(ctx)


def peer_fingerprint(transport: Any) -> str | None:
    """Hex SHA-256 of the TLS peer's certificate (DER), or None without TLS or certificate."""
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None
