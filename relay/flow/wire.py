"""What the outbound and inbound flows share about envelopes on the wire: this relay's signer,
a photo ready to share, the order key that keeps a thread's envelopes in order, and the bytes
an envelope is sent as."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.envelope import FileRef, SignedEnvelope

__all__ = ["Prepared", "Signer", "order_key", "wire"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A file ready to share: its metadata claim and its re-encoded bytes."""

    ref: FileRef
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """This relay's signing key and its key id."""

    key: Ed25519PrivateKey
    kid: str


def order_key(thread: str | None, target: str | None, own: str) -> str:
    """A thread's first message: its replies, edits, deletes and cancels queue behind it,
    whoever wrote them. The same key at the origin, at every hop and at every receiver (an
    envelope id names its issuer first): a partner's reply, or a hop's own reply to a BOLO it
    relays, never overtakes the BOLO (it would land as a reply in a thread not shared)."""
    return thread or target or own


def wire(envelope: SignedEnvelope) -> bytes:
    return json.dumps(envelope.to_wire(), separators=(",", ":")).encode()
