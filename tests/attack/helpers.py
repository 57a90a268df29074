"""What the attack tests share: Slack requests (signed or not, well formed or not), raw HTTP
over a socket, images and a decompression bomb, a partner's envelope, requests sent at once.
Nothing here starts a listener."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import hmac
import io
import json
import secrets
import ssl
import struct
import time
import zlib
from collections import Counter
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from relay.core.envelope import Author, EnvelopeId, EnvelopeKind, build_envelope, sign_origin
from relay.core.model import AgencyId

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CANARY = "informant-canary-4410"  # message text: never in a log line, an answer or an error
TEAM = "T0HAVENPT1"


# -- Slack ---------------------------------------------------------------------------------
def signature(ts: str, body: bytes, secret: str = SECRET) -> str:
    base = f"v0:{ts}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed(body: bytes, ts: str | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = ts or str(int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(ts, body, secret)}


def message(ts: str, text: str = f"BOLO: white van, Route 9 ({CANARY})") -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "C0HBOLO01",
        "user": "U0OKAFOR01",
        "ts": ts,
        "text": text,
    }


def callback(event: Any, event_id: str = "Ev0ATTACK01", team: str = TEAM) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": team,
        "event_id": event_id,
        "event": event,
    }


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    data = io.BytesIO(body) if len(body) > 1 << 19 else body  # aiohttp warns on big bytes
    async with session.post(url, data=data, headers=headers) as resp:
        return resp.status, await resp.text()


def unauthenticated(secret: str = SECRET) -> list[tuple[str, bytes, dict[str, str], int, str]]:
    """(name, body, headers, status, code): requests refused before any signature holds."""
    body = json.dumps(callback(message("1700000000.000100"))).encode()
    now = str(int(time.time()))
    good = signature(now, body, secret)
    return [
        ("non-ASCII signature", body, {"X-Slack-Request-Timestamp": now,
                                       "X-Slack-Signature": "v0=é" + good[4:]}, 401,
         "signature_invalid"),
        ("superscript timestamp", body, {"X-Slack-Request-Timestamp": "¹⁷⁰⁰⁰⁰⁰⁰⁰⁰",
                                         "X-Slack-Signature": good}, 401, "timestamp_invalid"),
        ("5,000-digit timestamp", body, {"X-Slack-Request-Timestamp": "1" * 5000,
                                         "X-Slack-Signature": good}, 401, "timestamp_invalid"),
        ("stale timestamp", body, signed(body, str(int(time.time()) - 3600), secret), 401,
         "timestamp_skewed"),
        ("no headers", body, {}, 401, "timestamp_invalid"),
        ("wrong signature", body, {"X-Slack-Request-Timestamp": now,
                                   "X-Slack-Signature": "v0=" + "0" * 64}, 401,
         "signature_invalid"),
        ("non-UTF-8 body, unsigned", b"\xff\xfe" + body, {"X-Slack-Request-Timestamp": now,
                                                          "X-Slack-Signature": good}, 401,
         "signature_invalid"),
        ("too large", b"x" * ((1 << 20) + 1), signed(b"x", secret=secret), 413, "too_large"),
    ]  # fmt: skip


def signed_garbage() -> list[tuple[str, bytes, str]]:
    """(name, body, code): bodies that, signed, are acknowledged (200) and refused."""

    def doc(d: Any) -> bytes:
        return json.dumps(d).encode()

    msg = message("1700000000.000200")
    return [
        ("non-UTF-8 body", b'{"type": "event_callback", "x": "\xff"}', "encoding_invalid"),
        ("not JSON", f"not json {CANARY}".encode(), "json_invalid"),
        ("100k levels deep", b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
        (
            "duplicate keys",
            b'{"type": "event_callback", "event_id": "Ev0DUP01", "event_id": "Ev0DUP02"}',
            "duplicate_key",
        ),
        ("event not an object", doc(callback(f"{CANARY}", "Ev0BAD01")), "malformed"),
        ("event a list", doc(callback([CANARY], "Ev0BAD02")), "malformed"),
        (
            "message not an object",
            doc(callback({**msg, "subtype": "message_changed", "message": CANARY}, "Ev0BAD03")),
            "malformed",
        ),
        (
            "edited not an object",
            doc(
                callback(
                    {**msg, "subtype": "message_changed", "message": {**msg, "edited": [CANARY]}},
                    "Ev0BAD04",
                )
            ),
            "malformed",
        ),
        ("text an object", doc(callback({**msg, "text": {CANARY: 1}}, "Ev0BAD05")), "malformed"),
        ("ts an object", doc(callback({**msg, "ts": {"t": CANARY}}, "Ev0BAD06")), "malformed"),
        ("files not objects", doc(callback({**msg, "files": [CANARY]}, "Ev0BAD07")), "malformed"),
    ]


# -- raw HTTP ------------------------------------------------------------------------------
async def raw(port: int, request: bytes, ctx: ssl.SSLContext | None = None) -> tuple[int, str]:
    """One request as bytes; the status and the body of the answer."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1" if ctx else None
    )
    writer.write(request)
    await writer.drain()
    data = b""
    try:
        async with asyncio.timeout(5):
            while not _complete(data):
                chunk = await reader.read(4096)
                if not chunk:
                    break
                data += chunk
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("latin-1")


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def request(path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


BOMB = gzip.compress(b" " * (20 << 20))  # 20 MiB of spaces in ~20 KiB


# -- files ---------------------------------------------------------------------------------
def image(fmt: str, size: tuple[int, int] = (16, 16), colour: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (colour, 80, 160)).save(out, fmt)
    return out.getvalue()


def bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge canvas (a decompression bomb's shape)."""
    png = bytearray(image("PNG", (1, 1)))
    ihdr = struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(png)


# -- federation ----------------------------------------------------------------------------
def envelope(
    *,
    issuer: str,
    audience: str,
    key: Ed25519PrivateKey,
    kid: str,
    envelope_id: str,
    issued_at: dt.datetime,
    expires_at: dt.datetime,
    text: str = "BOLO: white van, CT reg 1AB234",
) -> dict[str, Any]:
    """A direct bolo envelope from ``issuer`` to ``audience``, signed with ``key``: wire form."""
    unsigned = build_envelope(
        issuer=AgencyId(issuer),
        audience=AgencyId(audience),
        onward=False,
        envelope_id=EnvelopeId(envelope_id),
        issued_at=issued_at,
        expires_at=expires_at,
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name="Det. Okafor", agency=AgencyId(issuer)),
        lines=[text],
        salts=[secrets.token_urlsafe(16)],
    )
    return sign_origin(unsigned, key=key, kid=kid).to_wire()


async def send(
    session: aiohttp.ClientSession, url: str, ctx: ssl.SSLContext, body: bytes, n: int
) -> Counter[int]:
    """``body`` posted to ``url``/v1/envelopes ``n`` times at once; the statuses counted."""

    async def one() -> int:
        async with session.post(
            f"{url}/v1/envelopes",
            data=body,
            ssl=ctx,
            headers={"Content-Type": "application/json"},
        ) as resp:
            await resp.read()
            return resp.status

    return Counter(await asyncio.gather(*(one() for _ in range(n))))
