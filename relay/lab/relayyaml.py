"""One agency's ``relay.yaml``, described with types and written with ``yaml.safe_dump``.

What ``relay lab init``, the in-process lab network (``relay demo``, ``relay chaos``), ``relay
bench e2e`` and the tests write, in one place: :class:`RelayYaml` (with :class:`Partner`,
:class:`Origin`, :class:`KeyPin`, :class:`Slack`, :class:`Delivery`, :class:`Listen`) renders
to YAML that :func:`relay.config.read_config` and ``relay config check`` accept, every value
quoted as YAML needs it. Fields left ``None`` are not written (the relay's defaults apply).

:func:`write_material` writes an agency's key material (an Ed25519 signing key as ``relay
keygen`` writes it, a TLS leaf, the CA) and returns a :class:`Material` that fills a
``RelayYaml``'s own fields (:meth:`Material.config`), a partner's pins
(:meth:`Material.partner`) and an origin's (:meth:`Material.origin`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from relay.core.keys import public_jwk
from relay.lab.pki import ThrowawayCA

__all__ = [
    "Delivery",
    "KeyPin",
    "Listen",
    "Material",
    "Origin",
    "Partner",
    "RelayYaml",
    "Slack",
    "TlsPems",
    "rfc3339",
    "throwaway_tls",
    "write_file",
    "write_material",
]


def rfc3339(at: dt.datetime) -> str:
    """``2026-01-01T00:00:00Z`` (UTC, whole seconds), as ``relay.yaml`` writes times."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _set(obj: Any) -> dict[str, Any]:
    """A flat dataclass's fields that are set (not ``None``), by name, in order."""
    return {f.name: getattr(obj, f.name) for f in fields(obj) if getattr(obj, f.name) is not None}


@dataclass(frozen=True, slots=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPin:
    """A partner's pinned signing key: ``kid``, the JWK ``x`` and its window."""

    kid: str
    x: str
    not_before: dt.datetime
    not_after: dt.datetime
    revoked: bool = False

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kid": self.kid,
            "public_key": self.x,
            "not_before": rfc3339(self.not_before),
            "not_after": rfc3339(self.not_after),
        }
        if self.revoked:
            doc["revoked"] = True
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    """A partner relay: where it is, its pinned TLS fingerprints and signing keys."""

    ori: str
    url: str
    tls_sha256: Sequence[str]
    keys: Sequence[KeyPin]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ori": self.ori,
            "url": self.url,
            "tls_sha256": list(self.tls_sha256),
            "keys": [k.as_dict() for k in self.keys],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """An agency heard from only through a partner's hop: its pinned signing keys."""

    ori: str
    keys: Sequence[KeyPin]

    def as_dict(self) -> dict[str, Any]:
        return {"ori": self.ori, "keys": [k.as_dict() for k in self.keys]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """``delivery:``, the durable queues' tuning (names as in ``relay.yaml``)."""

    max_age_hours: float | None = None
    retry_base_seconds: float | None = None
    retry_cap_seconds: float | None = None
    lease_seconds: float | None = None
    batch: int | None = None
    poll_seconds: float | None = None
    stop_timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Slack:
    """``slack:``: the workspace, where its secrets are (files or environment variables, never
    the secrets themselves) and the federated channels (channel id -> topic)."""

    team_id: str
    channels: Mapping[str, str]
    mode: str | None = None
    api_url: str | None = None
    bot_token_file: str | None = None
    bot_token_env: str | None = None
    signing_secret_file: str | None = None
    signing_secret_env: str | None = None
    app_token_file: str | None = None
    app_token_env: str | None = None
    listen: Listen | None = None
    pacing: bool | None = None
    catch_up_seconds: float | None = None
    icon_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        doc = _set(self)
        del doc["channels"]
        if self.listen is not None:
            doc["listen"] = self.listen.as_dict()
        doc["channels"] = dict(self.channels)  # last, as the example file has it
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayYaml:
    """One agency's relay. Paths are written as given (relative ones are read against the
    directory of ``relay.yaml``)."""

    agency: str
    policy: str | Path
    signing_key: str | Path
    signing_kid: str
    tls_cert: str | Path
    tls_key: str | Path
    tls_ca: str | Path
    store: str | None = None
    listen: Listen = Listen()
    hop_limit: int | None = None
    max_body_bytes: int | None = None
    read_timeout_seconds: float | None = None
    rate_limit: tuple[float, int] | None = None  # (per_second, burst) per partner
    partners: Sequence[Partner] = ()
    origins: Sequence[Origin] = ()
    delivery: Delivery | None = None
    admin: Listen | None = None
    logging: tuple[str, str] | None = None  # (format, level)
    slack: Slack | None = None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "agency": self.agency,
            "policy": str(self.policy),
            "signing_key": str(self.signing_key),
            "signing_kid": self.signing_kid,
        }
        if self.store is not None:
            doc["store"] = self.store
        if self.delivery is not None:
            doc["delivery"] = _set(self.delivery)
        if self.admin is not None:
            doc["admin"] = {"listen": self.admin.as_dict()}
        if self.logging is not None:
            doc["logging"] = {"format": self.logging[0], "level": self.logging[1]}
        federation: dict[str, Any] = {
            "listen": self.listen.as_dict(),
            "tls": {"cert": str(self.tls_cert), "key": str(self.tls_key), "ca": str(self.tls_ca)},
        }
        for key in ("hop_limit", "max_body_bytes", "read_timeout_seconds"):
            if getattr(self, key) is not None:
                federation[key] = getattr(self, key)
        if self.rate_limit is not None:
            federation["rate_limit"] = {
                "per_second": self.rate_limit[0],
                "burst": self.rate_limit[1],
            }
        doc["federation"] = federation
        doc["partners"] = [p.as_dict() for p in self.partners]
        if self.origins:
            doc["origins"] = [o.as_dict() for o in self.origins]
        if self.slack is not None:
            doc["slack"] = self.slack.as_dict()
        return doc

    def render(self, header: str = "") -> str:
        """The YAML text; ``header`` (lines) comes first as ``#`` comments."""
        comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        body = yaml.safe_dump(
            self.as_dict(), sort_keys=False, default_flow_style=False, width=4096
        )
        return comment + body

    def write(self, path: Path, header: str = "") -> Path:
        path.write_text(self.render(header), encoding="utf-8")
        return path


class TlsPems(NamedTuple):
    """A TLS leaf (certificate, private key) and the CA it chains to, as PEM."""

    cert: bytes
    key: bytes
    ca: bytes


def throwaway_tls(ca: ThrowawayCA, name: str) -> TlsPems:
    """A leaf for 127.0.0.1 from ``ca`` (its files in the CA's directory are removed)."""
    leaf = ca.issue(name)
    pems = TlsPems(leaf.cert.read_bytes(), leaf.key.read_bytes(), ca.ca_path.read_bytes())
    leaf.cert.unlink()
    leaf.key.unlink()
    return pems


@dataclass(frozen=True, slots=True)
class Material:
    """An agency's key material in ``dir``: file names relative to ``dir``."""

    dir: Path
    ori: str
    kid: str
    key: Ed25519PrivateKey
    signing_key: str
    cert: str
    tls_key: str
    ca: str
    fingerprint: str  # SHA-256 of the DER certificate, for partners' tls_sha256

    @property
    def x(self) -> str:
        """The public key as partners pin it (the JWK ``x``, base64url)."""
        raw = self.key.public_key().public_bytes_raw()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def pin(self, not_before: dt.datetime, not_after: dt.datetime) -> KeyPin:
        return KeyPin(kid=self.kid, x=self.x, not_before=not_before, not_after=not_after)

    def partner(self, url: str, not_before: dt.datetime, not_after: dt.datetime) -> Partner:
        """How a partner pins this agency: its URL, certificate and signing key."""
        keys = (self.pin(not_before, not_after),)
        return Partner(ori=self.ori, url=url, tls_sha256=(self.fingerprint,), keys=keys)

    def origin(self, not_before: dt.datetime, not_after: dt.datetime) -> Origin:
        """How an agency that hears from this one only through a hop pins it: its key."""
        return Origin(ori=self.ori, keys=(self.pin(not_before, not_after),))

    def config(self, *, policy: str | Path, **kw: Any) -> RelayYaml:
        """A ``RelayYaml`` (written in ``dir``) with this material's agency, key and TLS."""
        return RelayYaml(
            agency=self.ori,
            policy=policy,
            signing_key=self.signing_key,
            signing_kid=self.kid,
            tls_cert=self.cert,
            tls_key=self.tls_key,
            tls_ca=self.ca,
            **kw,
        )


def write_file(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """A new file (never overwritten: ``FileExistsError``) with ``mode`` from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def write_material(
    home: Path,
    ori: str,
    kid: str,
    tls: TlsPems,
    *,
    signing_key: str = "signing.pem",
    cert: str = "tls.crt",
    tls_key: str = "tls.key",
    ca: str = "ca.pem",
    jwk: bool = False,
) -> Material:
    """A new Ed25519 signing key (PKCS#8 PEM, 0600; with ``jwk``, its public JWK beside it as
    ``relay keygen`` writes it: ``X.key.pem`` -> ``X.jwk.json``) and the TLS files, in
    ``home`` under the names given (new files: none is overwritten)."""
    home.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    key_path = home / signing_key
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_file(
        key_path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), 0o600
    )
    if jwk:
        public = public_jwk(key.public_key().public_bytes_raw(), kid=kid)
        jwk_path = key_path.with_name(key_path.name.removesuffix(".key.pem") + ".jwk.json")
        write_file(jwk_path, json.dumps(public, indent=2) + "\n")
    write_file(home / cert, tls.cert)
    write_file(home / tls_key, tls.key, 0o600)
    write_file(home / ca, tls.ca)
    der = x509.load_pem_x509_certificate(tls.cert).public_bytes(Encoding.DER)
    return Material(
        dir=home,
        ori=ori,
        kid=kid,
        key=key,
        signing_key=signing_key,
        cert=cert,
        tls_key=tls_key,
        ca=ca,
        fingerprint=hashlib.sha256(der).hexdigest(),
    )
