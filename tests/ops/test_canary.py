"""Issue #6: sensitive text stays in its own workspace, never in logs, metric labels, audit
records, error messages or exceptions.

Canary strings (``CANARY-`` and random hex, one per path) are sent through every path the
relay has: a shared BOLO, an informant line that is stripped, a classified paragraph that
blocks, a thread reply, an edit, a delete, a photo's file name, title, alt text and EXIF, the
officer's display name, a non-federated channel, Slack events with a bad signature (and signed
junk), raw HTTPS to the federation listener (malformed JSON, forged, misaddressed, unknown
peer, a bad file push), envelopes handed to the service directly, a bad audit checkpoint, and
bad values in ``relay.yaml`` and a policy file through ``relay config check`` and ``relay policy
check``. Then no canary may appear in: the JSON log lines (DEBUG), the stdlib log records,
any relay's Prometheus exposition, the audit tables and refusals as stored, refusal bodies,
exception messages, the services' failure lists, or the CLI output. The canaries that are
shared legitimately appear in the partner's workspace, which proves the flow ran.

One Network (two agencies: Havenport CT and Millbrook MA), 127.0.0.1 only, no sleeps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from prometheus_client import generate_latest

from relay.cli import main as relay_cli
from relay.core.audit import CheckpointError
from relay.core.envelope import Author, EnvelopeId, EnvelopeKind, build_envelope, sign_origin
from relay.core.model import AgencyId
from relay.emulator import ChannelSpec
from relay.errors import VerificationError
from relay.federation.tls import client_context
from relay.logs import configure_logging
from relay.network import Agency, Network

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "examples"
CT, MA, NY = "CT9990100", "MA9990200", "NY9990300"
OFFICER = "U0OKAFOR01"

# One canary per path; "x" after the dash keeps a hex digit run from looking like "CI-12".
CANARY: dict[str, str] = {
    name: f"CANARY-x{secrets.token_hex(8)}"
    for name in (
        "shared",  # an ordinary BOLO line: shared with MA
        "informant",  # beside a CI number: the line is stripped
        "classified",  # in a portion-marked (S//NF) paragraph: the message is blocked
        "reply",  # a thread reply: shared
        "edit",  # the edited BOLO: shared
        "deleted",  # a message later deleted: shared, then retracted
        "file_name",
        "file_title",
        "file_alt",
        "exif",  # in the photo's EXIF: stripped by re-encoding
        "officer",  # the posting officer's display name
        "private",  # a channel the relay does not federate
        "bad_signature",  # a Slack event whose signature is wrong
        "signed_junk",  # a correctly signed body that is not JSON
        "poison",  # a correctly signed event the parser cannot use
        "fed_json",  # malformed JSON to the federation listener
        "fed_forged",  # an envelope signed with a key that is not MA's
        "fed_field",  # an unknown envelope member (a phrase, as text would be)
        "fed_misaddressed",  # signed by MA, addressed to another agency
        "fed_stranger",  # from a TLS certificate no partner is pinned to
        "fed_file",  # a file push whose bytes do not hash to its name
        "direct",  # bodies handed to handle_peer_envelope directly
        "checkpoint",  # a bad audit checkpoint token
        "config",  # bad values in relay.yaml
        "policy",  # bad values in a policy file
    )
}
# What MA's officers may read (in MA's Slack workspace, nowhere else).
SHARED = ("shared", "reply", "edit", "file_title", "file_alt", "officer")
# What must not reach MA's workspace at all.
WITHHELD = ("informant", "classified", "exif", "private", "poison", "bad_signature")


def _agencies() -> list[Agency]:
    return [
        Agency(
            CT,
            "Havenport PD",
            "T0HAVENPT1",
            EXAMPLES / "ct9990100-havenport.yaml",
            officers=((OFFICER, f"Det. Sgt. {CANARY['officer']}"),),
        ),
        Agency(MA, "Millbrook PD", "T0MILLBRK1", EXAMPLES / "ma9990200-millbrook.yaml"),
    ]


@pytest.fixture
def _logging(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """JSON logs at DEBUG into a StringIO for the whole flow (and the stdlib records in
    caplog); the logging configuration is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    relay_level = logging.getLogger("relay").level
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    caplog.set_level(logging.DEBUG, logger="relay")
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("relay").setLevel(relay_level)
    structlog.reset_defaults()


def _photo(exif_text: str) -> bytes:
    img = Image.new("RGB", (64, 48), (30, 90, 140))
    exif = Image.Exif()
    exif[0x010E] = exif_text  # ImageDescription
    exif[0x010F] = "DoorbellCam"
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _slack_signature(secret: str, ts: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def _envelope(
    key: Ed25519PrivateKey, *, lines: list[str], audience: str, author: str, kid: str
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    unsigned = build_envelope(
        issuer=AgencyId(MA),
        audience=AgencyId(audience),
        onward=False,
        envelope_id=EnvelopeId(f"{MA}.C0FORGED01.{time.time():.6f}"),
        issued_at=now,
        expires_at=now + dt.timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name=author, agency=AgencyId(MA)),
        lines=lines,
        salts=[secrets.token_urlsafe(16) for _ in lines],
    )
    signed = sign_origin(unsigned, key=key, kid=kid)
    return json.dumps(signed.to_wire(), separators=(",", ":")).encode()


def _workspace_text(net: Network, ori: str) -> str:
    """Everything MA's officers can read: messages (text, username, metadata) and files."""
    assert net.emu is not None
    team = net.nodes[ori].agency.team
    ws = net.emu.workspace(team)
    parts = [
        json.dumps(net.emu.messages(team, ch), default=str) for ch in ws.channels  # type: ignore[attr-defined]
    ]
    for info in ws.files.values():
        parts.append(f"{info.name}\n{info.title}\n{info.alt_txt}")
        parts.append(info.content.decode("latin-1") if info.content else "")
    return "\n".join(parts)
