"""``PUT /v1/files/{sha256}`` attacked over real mutual TLS: what is not one whole image of an
allowed type is refused with a reason code, a partner cannot hold more than its quota, and
nothing answers 5xx. The refusals are recorded (ids and codes), nothing refused is kept."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from relay.federation.tls import client_context
from tests.attack.helpers import bomb, image
from tests.federation.harness import Federation, policy_text

CT, MA, XX = "CT9990100", "MA9990200", "NY9990300"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path, [CT, MA, XX])
    policies = {
        CT: policy_text(CT, [{"ori": MA}]),
        MA: policy_text(MA, [{"ori": CT}]),
        XX: policy_text(XX, [{"ori": MA}]),
    }
    await federation.start(policies, pins={MA: [CT], CT: [MA]}, rate=1000.0, burst=1000)
    yield federation
    await federation.stop()


async def put(
    fed: Federation, data: bytes, mime: str, *, src: str = CT, sha256: str | None = None
) -> tuple[int, dict[str, str], dict[str, str]]:
    relay = fed.relays[src]
    ctx = client_context(relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem")
    path = sha256 or hashlib.sha256(data).hexdigest()
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{fed.relays[MA].url}/v1/files/{path}",
            data=io.BytesIO(data),  # raw bytes over 1 MiB warn (aiohttp)
            ssl=ctx,
            headers={"Content-Type": mime},
        ) as resp,
    ):
        return resp.status, json.loads(await resp.text()), dict(resp.headers)


def held(fed: Federation, data: bytes) -> bool:
    return fed.relays[MA].store.get_blob(hashlib.sha256(data).hexdigest()) is not None


async def test_only_whole_images_of_the_declared_type_are_kept(fed: Federation) -> None:
    png = image("PNG")
    cases = [
        (bytes(range(256)) * 64, "image/png", 415, "type_mismatch"),  # random bytes
        (bytes(range(256)) * 64, "image/x-anything", 415, "unsupported_media_type"),
        (png, "image/svg+xml", 415, "unsupported_media_type"),
        (png, "image/jpeg", 415, "type_mismatch"),  # PNG bytes labelled JPEG
        (image("JPEG"), "image/png", 415, "type_mismatch"),
        (png[: len(png) // 2], "image/png", 422, "undecodable"),  # truncated
        (png + b"PK\x03\x04" + b"\x00" * 512, "image/png", 422, "undecodable"),  # polyglot
        (bomb(20_000, 20_000), "image/png", 413, "image_too_large"),  # 400 MP declared
        (png, "text/plain", 415, "unsupported_media_type"),
    ]
    for data, mime, status, code in cases:
        got, body, _ = await put(fed, data, mime)
        assert (got, body) == (status, {"error": code}), (mime, code)
        assert not held(fed, data), code
    got, body, _ = await put(fed, png, "image/png", sha256="ab" * 32)  # not its hash
    assert (got, body) == (400, {"error": "bad_request"})
    for data, mime in [(png, "image/png"), (image("JPEG"), "image/jpeg")]:
        assert (await put(fed, data, mime))[:2] == (200, {"status": "stored"})
        assert (await put(fed, data, mime))[:2] == (200, {"status": "stored"})  # again
        assert fed.relays[MA].store.get_blob(hashlib.sha256(data).hexdigest()) == (mime, data)
    await fed.settle()  # refusals are written in batches
    reasons = [r.reason for r in fed.relays[MA].store.refusals()]
    assert reasons.count("type_mismatch") == 3
    assert reasons.count("undecodable") == 2
    metrics = fed.relays[MA].metrics
    assert metrics.registry.get_sample_value("relay_blobs_held", {"holder": CT}) == 2


async def test_a_partner_over_its_quota_is_told_to_wait_and_a_stranger_is_refused(
    fed: Federation,
) -> None:
    fed.relays[MA].parts.door.files_quota = (2_000_000, 3)  # bytes, files
    files = [image("PNG", (16, 16), colour=n) for n in range(4)]
    for data in files[:3]:
        assert (await put(fed, data, "image/png"))[0] == 200
    status, body, headers = await put(fed, files[3], "image/png")
    assert (status, body) == (429, {"error": "quota_exceeded"})
    assert int(headers["Retry-After"]) > 0
    assert not held(fed, files[3])
    assert (await put(fed, files[0], "image/png"))[0] == 200  # held already: no charge
    fed.relays[MA].parts.door.files_quota = (1_000, 100)
    out = io.BytesIO()
    Image.frombytes("RGB", (64, 64), secrets.token_bytes(64 * 64 * 3)).save(out, "PNG")
    big = out.getvalue()  # noise: about 12 KiB
    assert (await put(fed, big, "image/png"))[:2] == (429, {"error": "quota_exceeded"})
    too_big = b"\x89PNG\r\n\x1a\n" + bytes(11 << 20)  # over max_file_bytes (10 MiB)
    status, body, _ = await put(fed, too_big, "image/png")
    assert (status, body) == (413, {"error": "too_large"})
    status, body, _ = await put(fed, image("PNG", colour=7), "image/png", src=XX)
    assert (status, body) == (403, {"error": "peer_unknown"})


async def test_no_input_answers_5xx(fed: Federation) -> None:
    """A bounded storm of mangled files: every answer a 4xx with a reason code."""
    png, jpeg = image("PNG", (32, 32)), image("JPEG", (32, 32))
    statuses: set[int] = set()
    for i in range(60):
        base = png if i % 2 else jpeg
        data = bytearray(base)
        data[(i * 37) % len(data)] ^= 0xFF  # one flipped byte somewhere
        cut = bytes(data[: len(data) - (i % 5)])
        mime = ("image/png", "image/jpeg", "image/gif", "image/webp")[i % 4]
        status, body, _ = await put(fed, cut, mime)
        statuses.add(status)
        assert status < 500, (i, status, body)
        assert set(body) == ({"status"} if status == 200 else {"error"})
    assert statuses - {200} <= {413, 415, 422}


async def test_a_partner_has_two_uploads_in_flight_and_no_decode_over_its_quota(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third upload while two bodies are still arriving is refused before its body is read
    (429 ``rate_limited``, ``Retry-After``); a file over the partner's quota is refused before
    it is decoded."""
    import asyncio

    import relay.federation.files as files

    decoded: list[str] = []
    real_check = files.check_image

    def counting(data: bytes, declared: str) -> Any:
        decoded.append(declared)
        return real_check(data, declared)

    monkeypatch.setattr(files, "check_image", counting)
    relay = fed.relays[CT]
    ctx = client_context(relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem")
    port = int(fed.relays[MA].url.rsplit(":", 1)[1])
    slow = [image("PNG", (16, 16), colour=100 + n) for n in range(2)]
    streams = []
    for data in slow:  # headers and half the body, the rest held back
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"
        )
        head = (
            f"PUT /v1/files/{hashlib.sha256(data).hexdigest()} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: image/png\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data[: len(data) // 2])
        await writer.drain()
        streams.append((reader, writer, data))
    await asyncio.sleep(0.2)  # both are reading their bodies now
    status, body, headers = await put(fed, image("PNG", colour=9), "image/png")
    assert (status, body) == (429, {"error": "rate_limited"})
    assert int(headers["Retry-After"]) >= 1
    assert (await put(fed, image("PNG", colour=9), "image/png", src=XX))[0] == 403  # not CT's
    for reader, writer, data in streams:
        writer.write(data[len(data) // 2 :])
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"}"), 5)
        assert b" 200 " in answer.split(b"\r\n")[0]
        writer.close()
    assert len(decoded) == 2
    assert (await put(fed, image("PNG", colour=9), "image/png"))[0] == 200  # slots freed
    fed.relays[MA].parts.door.files_quota = (1_000, 100)
    out = io.BytesIO()
    Image.frombytes("RGB", (64, 64), secrets.token_bytes(64 * 64 * 3)).save(out, "PNG")
    assert (await put(fed, out.getvalue(), "image/png"))[:2] == (429, {"error": "quota_exceeded"})
    assert len(decoded) == 3  # the one over its quota was never decoded
