"""The keys a relay is built with: its own signing key, and the keys ``relay.yaml`` pins."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from relay.config import ConfigLoadError, RelayConfig
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.flow.wire import Signer

__all__ = ["keyring_from_config", "load_signing_key", "with_own_key"]


def load_signing_key(path: Path, source: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigLoadError(
            source, [(1, f"signing_key {path}: cannot load ({type(exc).__name__})")]
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigLoadError(source, [(1, f"signing_key {path} is not an Ed25519 key")])
    return key


def keyring_from_config(config: RelayConfig) -> Keyring:
    """The signing keys ``relay.yaml`` pins: its partners' (``partners:``) and those of the
    agencies it hears from only through a hop (``origins:``), each pinned to its agency."""
    keys = []
    pinned = [("partner", link.ori, link.keys) for link in config.partners.values()]
    pinned += [("origin", o.ori, o.keys) for o in config.origins.values()]
    for what, ori, configured in pinned:
        for k in configured:
            raw = base64.urlsafe_b64decode(k.public_key + "=" * (-len(k.public_key) % 4))
            try:
                keys.append(
                    PinnedKey(
                        kid=KeyId(k.kid),
                        agency=AgencyId(ori),
                        public_key=raw,
                        not_before=k.not_before,
                        not_after=k.not_after,
                        revoked=k.revoked,
                    )
                )
            except (ValueError, Exception) as exc:  # noqa: BLE001 - a key that must not pin
                raise ConfigLoadError(
                    config.source, [(1, f"{what} key {k.kid} refused ({type(exc).__name__})")]
                ) from None
    return Keyring.of(keys)


def with_own_key(keyring: Keyring, agency: str, signer: Signer) -> Keyring:
    """A relay's own key is pinned too: its own envelopes coming back must verify so the
    loop is named as such."""
    if any(k.kid == signer.kid for k in keyring.keys):
        return keyring
    own = PinnedKey(
        kid=KeyId(signer.kid),
        agency=AgencyId(agency),
        public_key=signer.key.public_key().public_bytes_raw(),
        not_before=dt.datetime.min.replace(tzinfo=dt.UTC),
    )
    return Keyring.of([*keyring.keys, own])
