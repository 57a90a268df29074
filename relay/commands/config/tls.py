"""The federation's TLS material, checked by ``relay config check``: certificate, key and CA
bundle exist and parse, the certificate matches its key and is not expired."""

from __future__ import annotations

import datetime as dt
import ssl
from typing import Any, Final

from relay.commands.config.report import Lines, Report, mode_warning
from relay.config import RelayConfig

__all__ = ["check_tls"]

CERT_WARN_DAYS: Final = 30


def check_tls(config: RelayConfig, lines: Lines, report: Report, now: dt.datetime) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    fed, src = config.federation, config.source
    ok = True
    cert: Any = None
    key: Any = None
    for name, path in (("cert", fed.tls_cert), ("key", fed.tls_key), ("ca", fed.tls_ca)):
        at = lines.at("federation", "tls", name)
        if not path.is_file():
            report.error(src, at, f"federation.tls.{name} {path}: file not found")
            ok = False
            continue
        try:
            data = path.read_bytes()
            if name == "cert":
                cert = x509.load_pem_x509_certificates(data)[0]
            elif name == "key":
                key = load_pem_private_key(data, password=None)
            elif not x509.load_pem_x509_certificates(data):
                raise ValueError("no certificate")  # pragma: no cover - the call raises first
        except (OSError, ValueError, TypeError) as exc:
            what = "certificate" if name != "key" else "private key (PEM, unencrypted)"
            report.error(
                src,
                at,
                f"federation.tls.{name} {path}: not a PEM {what} ({type(exc).__name__})",
            )
            ok = False
    if key is not None:
        mode_warning(
            fed.tls_key, "federation.tls.key", src, lines.at("federation", "tls", "key"), report
        )
    if cert is not None:
        at = lines.at("federation", "tls", "cert")
        left = cert.not_valid_after_utc - now
        days = left.days
        if cert.not_valid_before_utc > now:
            report.error(src, at, f"federation.tls.cert {fed.tls_cert} is not valid yet")
        if left.total_seconds() <= 0:
            report.error(
                src, at, f"federation.tls.cert {fed.tls_cert} expired {(-left).days} days ago"
            )
        elif days < CERT_WARN_DAYS:
            report.warning(src, at, f"federation.tls.cert {fed.tls_cert} expires in {days} days")
        if key is not None:
            spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
                report.error(src, at, "federation.tls.cert and federation.tls.key do not match")
                ok = False
    if ok:
        from relay.federation.tls import server_context

        try:
            server_context(fed.tls_cert, fed.tls_key, fed.tls_ca)
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            report.error(src, lines.at("federation", "tls"), f"TLS material refused: {reason}")
