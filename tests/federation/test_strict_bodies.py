"""The federation endpoints read bodies strictly (issue 15): ``application/json`` only (415
``unsupported_media_type``), UTF-8 only (no BOM, no UTF-16/32), no member name twice at any
level (``malformed``), for ``POST /v1/envelopes`` and ``POST /v1/transactions`` alike."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import pytest

from relay.federation.tls import client_context
from tests.federation.test_refusals import CT, MA, delivered, envelope, fed, refused

__all__ = ["fed"]  # the fixture, shared with test_refusals


async def send(
    fed: Any, path: str, body: bytes, content_type: str | None = "application/json"
) -> tuple[int, Any]:
    relay = fed.relays[CT]
    ctx: ssl.SSLContext = client_context(
        relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem"
    )
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with (
        aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session,
        session.post(f"{fed.relays[MA].url}{path}", data=body, ssl=ctx, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def wire(fed: Any, jti: str) -> dict[str, Any]:
    return envelope(fed, jti=jti).to_wire()


def as_transaction(text: str) -> str:
    return '{"envelopes": [' + text + "]}"


@pytest.mark.parametrize("path", ["/v1/envelopes", "/v1/transactions"])
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/octet-stream", "application/json; charset=utf-16"],
)
async def test_a_body_that_is_not_declared_json_is_refused_with_415(
    fed: Any, path: str, content_type: str | None
) -> None:
    text = json.dumps(wire(fed, "ct-415"))
    body = (as_transaction(text) if path.endswith("transactions") else text).encode()
    assert await send(fed, path, body, content_type) == (415, {"error": "unsupported_media_type"})
    await fed.settle()  # refusals are written in batches
    assert "unsupported_media_type" in refused(fed, MA)
    assert delivered(fed, MA) == 0


async def test_json_with_a_utf8_charset_is_taken(fed: Any) -> None:
    body = json.dumps(wire(fed, "ct-charset")).encode()
    status, answer = await send(fed, "/v1/envelopes", body, "application/json; charset=UTF-8")
    assert (status, answer["status"]) == (200, "accepted")


@pytest.mark.parametrize("path", ["/v1/envelopes", "/v1/transactions"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
async def test_a_body_that_is_not_plain_utf8_is_malformed(
    fed: Any, path: str, encoding: str
) -> None:
    text = json.dumps(wire(fed, f"enc-{encoding}"))
    text = as_transaction(text) if path.endswith("transactions") else text
    assert await send(fed, path, text.encode(encoding)) == (400, {"error": "malformed"})
    assert delivered(fed, MA) == 0


def _duplicated(fed: Any, where: str) -> str:
    """A valid envelope's JSON text with one member name given twice at ``where``."""
    good = wire(fed, "dup-" + where)
    text = json.dumps(good, separators=(",", ":"))
    if where == "top":  # the last one wins in json.loads: a forged payload hides first
        return text[:-1] + ',"payload":' + json.dumps(good["payload"]) + "}"
    if where == "signature":
        first = json.dumps(good["signatures"][0], separators=(",", ":"))
        doubled = (
            first[:-1] + ',"signature":' + json.dumps(good["signatures"][0]["signature"]) + "}"
        )
        return text.replace(first, doubled)
    header = json.dumps(good["signatures"][0]["header"], separators=(",", ":"))
    doubled = header[:-1] + ',"disclosures":[]}'
    return text.replace(header, doubled)


@pytest.mark.parametrize("where", ["top", "signature", "header"])
async def test_a_member_name_twice_in_an_envelope_is_malformed(fed: Any, where: str) -> None:
    text = _duplicated(fed, where)
    assert await send(fed, "/v1/envelopes", text.encode()) == (400, {"error": "malformed"})
    in_tx = as_transaction(text)
    assert await send(fed, "/v1/transactions", in_tx.encode()) == (400, {"error": "malformed"})
    assert delivered(fed, MA) == 0


async def test_a_transaction_with_envelopes_twice_is_malformed_whole(fed: Any) -> None:
    one = json.dumps(wire(fed, "tx-a"))
    two = json.dumps(wire(fed, "tx-b"))
    body = '{"envelopes": [' + one + '], "envelopes": [' + two + "]}"
    assert await send(fed, "/v1/transactions", body.encode()) == (400, {"error": "malformed"})
    assert delivered(fed, MA) == 0


async def test_very_deep_json_is_malformed_not_a_crash(fed: Any) -> None:
    body = b"[" * 5000 + b"]" * 5000
    assert await send(fed, "/v1/envelopes", body) == (400, {"error": "malformed"})
    assert await send(fed, "/v1/transactions", body) == (400, {"error": "malformed"})


@pytest.mark.parametrize(
    ("path", "member"), [("/v1/receipts", "receipts"), ("/v1/audit/checkpoints", "token")]
)
async def test_receipts_and_checkpoints_read_bodies_as_strictly(
    fed: Any, path: str, member: str
) -> None:
    """Not declared JSON, a name twice, another encoding: refused whole (400 with the code,
    as these routes answer a request they do not take), nothing handed on."""
    value: Any = ["e30.e30.sig"] if member == "receipts" else "e30.e30.sig"
    text = json.dumps({member: value})
    twice = "{" + f'"{member}": {json.dumps(value)}, "{member}": {json.dumps(value)}' + "}"
    cases = [
        (text.encode(), None, "unsupported_media_type"),
        (text.encode(), "text/plain", "unsupported_media_type"),
        (twice.encode(), "application/json", "malformed"),
        (text.encode("utf-16"), "application/json", "malformed"),
        (b"\xef\xbb\xbf" + text.encode(), "application/json", "malformed"),
    ]
    for body, content_type, code in cases:
        assert await send(fed, path, body, content_type) == (400, {"error": code}), code


def test_the_listener_reads_a_whole_transaction_whatever_the_file_limit() -> None:
    """``client_max_size`` is the largest limit of the three: a file limit smaller than a
    transaction's must not cut transactions short."""
    from typing import cast

    from relay.federation.server import TRANSACTION_BODIES, EnvelopeHandler, build_federation_app

    app = build_federation_app(
        cast("EnvelopeHandler", object()),
        max_body_bytes=100_000,
        read_timeout=1.0,
        rate_per_second=1.0,
        rate_burst=1,
        max_file_bytes=200_000,
    )
    assert app._client_max_size == 100_000 * TRANSACTION_BODIES
