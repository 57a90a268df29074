"""Every refusal of the federation link: a stable reason, an HTTP status, an audit record, and
nothing delivered."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import ssl
from typing import Any

import aiohttp
import pytest

from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    SignedEnvelope,
    add_hop,
    build_envelope,
    sign_origin,
)
from relay.core.keys import Keyring
from relay.core.model import AgencyId
from relay.federation.tls import client_context
from tests.federation.harness import NOW, Federation, policy_text

CT, MA, RI, XX = "CT9990100", "MA9990200", "RI9990400", "NY9990300"


def _policies() -> dict[str, str]:
    return {
        CT: policy_text(
            CT,
            [
                {"ori": MA, "share": "[bolo, intel]", "accept": "[bolo]"},
                {"ori": RI, "share": "[bolo]", "accept": "[bolo]"},
            ],
        ),
        MA: policy_text(
            MA,
            [
                {"ori": CT, "share": "[bolo]", "accept": "[bolo]"},
                {"ori": RI, "share": "[bolo]", "accept": "[bolo]"},
            ],
        ),
        RI: policy_text(
            RI,
            [
                {"ori": CT, "share": "[bolo]", "accept": "[bolo]"},
                {"ori": MA, "share": "[bolo]", "accept": "[bolo]"},
            ],
        ),
        XX: policy_text(XX, [{"ori": CT, "share": "[bolo]", "accept": "[bolo]"}]),
    }


@pytest.fixture
async def fed(tmp_path):
    federation = Federation(tmp_path, [CT, MA, RI, XX])
    policies = _policies()
    # XX is a relay nobody pins: MA and RI do not know its certificate or its key.
    await federation.start(
        policies,
        pins={MA: [CT, RI], RI: [CT, MA]},
        rate=1000.0,
        burst=1000,
        max_body=64 * 1024,
    )
    yield federation
    await federation.stop()


def envelope(
    fed: Federation,
    *,
    issuer: str = CT,
    audience: str = MA,
    topic: str = "bolo",
    jti: str | None = None,
    lines: tuple[str, ...] = ("BOLO: white van, CT reg 1AB234",),
    issued: dt.datetime = NOW,
    onward: bool = True,
) -> SignedEnvelope:
    relay = fed.relays[issuer]
    unsigned = build_envelope(
        issuer=AgencyId(issuer),
        audience=AgencyId(audience),
        onward=onward,
        envelope_id=EnvelopeId(jti or secrets.token_hex(8)),
        issued_at=issued,
        expires_at=issued + dt.timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic=topic,
        marking="LES",
        author=Author(name="Det. Okafor", agency=AgencyId(issuer)),
        lines=list(lines),
        salts=[secrets.token_urlsafe(16) for _ in lines],
    )
    return sign_origin(unsigned, key=relay.key, kid=relay.kid)


async def post(
    fed: Federation, src: str, dst: str, body: bytes | dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    relay = fed.relays[src]
    ctx: ssl.SSLContext = client_context(
        relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem"
    )
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fed.relays[dst].url}/v1/envelopes",
            data=data,
            ssl=ctx,
            headers={"Content-Type": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json(), dict(resp.headers)


def refused(fed: Federation, ori: str) -> list[str]:
    service = fed.relays[ori]
    assert service is not None
    return [r.reason for r in service.store.refusals()]


def delivered(fed: Federation, ori: str) -> int:
    service = fed.relays[ori]
    assert service is not None
    return service.delivered.qsize()


async def test_same_envelope_twice_is_accepted_once_and_answered_200_both_times(fed):
    env = envelope(fed, jti="ct-dup-1").to_wire()
    first = await post(fed, CT, MA, env)
    second = await post(fed, CT, MA, env)
    await fed.settle()
    assert (first[0], first[1]["status"]) == (200, "accepted")
    assert (second[0], second[1]["status"]) == (200, "duplicate")
    assert delivered(fed, MA) == 1


async def test_a_different_envelope_reusing_an_id_is_refused(fed):
    assert (await post(fed, CT, MA, envelope(fed, jti="ct-re-1").to_wire()))[0] == 200
    status, body, _ = await post(
        fed, CT, MA, envelope(fed, jti="ct-re-1", lines=("BOLO: other text",)).to_wire()
    )
    assert (status, body) == (409, {"error": "replayed"})
    await fed.settle()
    assert delivered(fed, MA) == 1
    assert "replayed" in refused(fed, MA)


def _reencode(payload: str, **changes: Any) -> str:
    """The payload with a claim changed, still valid canonical JSON: only the signature fails."""
    from relay.core.canonical import canonicalize
    from relay.core.signing import b64url_decode, b64url_encode

    claims = json.loads(b64url_decode(payload))
    claims.update(changes)
    return b64url_encode(canonicalize(claims))


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        pytest.param(lambda w: w | {"extra": 1}, 400, "unknown_field", id="unknown_field"),
        pytest.param(
            lambda w: w | {"payload": _reencode(w["payload"], topic="intel")},
            403,
            "signature_invalid",
            id="payload_changed",
        ),
        pytest.param(
            lambda w: {
                **w,
                "signatures": [
                    {
                        **w["signatures"][0],
                        "signature": w["signatures"][0]["signature"][:-4] + "AAAA",
                    }
                ],
            },
            403,
            "signature_invalid",
            id="signature_changed",
        ),
    ],
)
async def test_tampered_envelopes_are_refused(fed, mutate, status, reason):
    wire = envelope(fed).to_wire()
    got = await post(fed, CT, MA, mutate(wire))
    assert (got[0], got[1]) == (status, {"error": reason})
    await fed.settle()
    assert delivered(fed, MA) == 0
    assert reason in refused(fed, MA)


async def test_expired_and_not_yet_valid_envelopes_are_refused(fed):
    old = envelope(fed, issued=NOW - dt.timedelta(days=3)).to_wire()
    future = envelope(fed, issued=NOW + dt.timedelta(hours=1)).to_wire()
    assert (await post(fed, CT, MA, old))[:2] == (422, {"error": "expired"})
    assert (await post(fed, CT, MA, future))[:2] == (422, {"error": "not_yet_valid"})
    assert delivered(fed, MA) == 0


async def test_key_not_pinned_and_revoked(fed, tmp_path):
    # RI pins CT's key; MA has never pinned XX's key and does not know XX's certificate.
    status, body, _ = await post(fed, XX, MA, envelope(fed, issuer=XX, audience=MA).to_wire())
    assert (status, body) == (403, {"error": "peer_unknown"})
    ma = fed.relays[MA]
    assert ma is not None
    ma.parts.inbound.keyring = Keyring.of(
        r.pinned(revoked=(o == CT)) for o, r in fed.relays.items() if o in (CT, RI)
    )
    got = await post(fed, CT, MA, envelope(fed).to_wire())
    assert got[:2] == (403, {"error": "key_revoked"})
    ma.parts.inbound.keyring = Keyring.of(r.pinned() for o, r in fed.relays.items() if o == RI)
    got = await post(fed, CT, MA, envelope(fed).to_wire())
    assert got[:2] == (403, {"error": "key_not_pinned"})
    assert delivered(fed, MA) == 0


async def test_tls_peer_must_be_the_last_signer(fed):
    """MA passes CT's envelope to RI without a hop of its own: RI refuses."""
    env = envelope(fed, audience=RI).to_wire()
    assert (await post(fed, MA, RI, env))[:2] == (403, {"error": "issuer_mismatch"})
    assert delivered(fed, RI) == 0


async def test_envelope_addressed_to_another_agency_is_refused(fed):
    env = envelope(fed, audience=RI).to_wire()
    assert (await post(fed, CT, MA, env))[:2] == (403, {"error": "not_addressed"})


async def test_topic_not_accepted_from_that_partner(fed):
    env = envelope(fed, topic="intel").to_wire()
    assert (await post(fed, CT, MA, env))[:2] == (403, {"error": "topic_not_accepted"})


async def test_onward_forbidden_and_loop(fed):
    base = envelope(fed, audience=MA, onward=False)
    ma = fed.relays[MA]
    hopped = add_hop(
        base,
        key=ma.key,
        kid=ma.kid,
        from_agency=AgencyId(CT),
        to_agency=AgencyId(RI),
        at=NOW,
        policy="MA@test",
        onward=True,
    )
    assert (await post(fed, MA, RI, hopped.to_wire()))[:2] == (403, {"error": "onward_forbidden"})
    back = add_hop(
        envelope(fed, audience=MA),
        key=ma.key,
        kid=ma.kid,
        from_agency=AgencyId(CT),
        to_agency=AgencyId(CT),
        at=NOW,
        policy="MA@test",
        onward=True,
    )
    assert (await post(fed, MA, CT, back.to_wire()))[:2] == (422, {"error": "loop"})


async def test_hop_limit(fed):
    ri = fed.relays[RI]
    assert ri is not None
    ri.parts.inbound.hop_limit = 0
    ma = fed.relays[MA]
    hopped = add_hop(
        envelope(fed, audience=MA),
        key=ma.key,
        kid=ma.kid,
        from_agency=AgencyId(CT),
        to_agency=AgencyId(RI),
        at=NOW,
        policy="MA@test",
        onward=True,
    )
    assert (await post(fed, MA, RI, hopped.to_wire()))[:2] == (422, {"error": "hop_limit"})


async def test_bad_body_and_too_large(fed):
    assert (await post(fed, CT, MA, b"{not json"))[:2] == (400, {"error": "bad_request"})
    big = json.dumps({"payload": "A" * (80 * 1024)}).encode()
    assert (await post(fed, CT, MA, big))[:2] == (413, {"error": "too_large"})
    await fed.settle()  # refusals are written in batches
    assert {"bad_request", "too_large"} <= set(refused(fed, MA))


async def test_rate_limited_per_peer_with_retry_after(fed):
    running = fed.relays[MA].running
    assert running is not None
    service = running.runner.app
    from relay.federation.server import LIMITER

    service[LIMITER].rate, service[LIMITER].burst = 0.01, 1
    service[LIMITER]._buckets.clear()
    first = await post(fed, CT, MA, envelope(fed).to_wire())
    second = await post(fed, CT, MA, envelope(fed).to_wire())
    assert first[0] == 200
    assert second[:2] == (429, {"error": "rate_limited"})
    assert int(second[2]["Retry-After"]) >= 1
    other = await post(fed, RI, MA, envelope(fed, issuer=RI, audience=MA).to_wire())
    assert other[0] == 200, "one peer's limit never delays another"


async def test_refusal_records_hold_codes_and_digests_never_content(fed):
    secret_line = "CANARY-4471 informant lives at 12 Elm St"
    env = envelope(fed, lines=(secret_line,)).to_wire()
    env["extra"] = True
    await post(fed, CT, MA, env)
    await fed.settle()  # refusals are written in batches
    service = fed.relays[MA]
    assert service is not None
    records = service.store.refusals()
    assert records
    assert records[-1].reason == "unknown_field"
    assert records[-1].peer == CT
    assert all("CANARY" not in repr(r) for r in records)


async def test_keys_health_and_readiness(fed):
    relay = fed.relays[MA]
    ctx = client_context(relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{relay.url}/v1/keys", ssl=ctx) as resp:
            jwks = await resp.json()
        async with session.get(f"{relay.url}/healthz", ssl=ctx) as resp:
            health = (resp.status, await resp.json())
        async with session.get(f"{relay.url}/readyz", ssl=ctx) as resp:
            ready = (resp.status, await resp.json())
    assert jwks["keys"][0]["kid"] == relay.kid
    assert {"kty", "crv", "x", "kid"} <= set(jwks["keys"][0])
    assert "d" not in jwks["keys"][0], "never the private part"
    assert health == (200, {"status": "ok"})
    assert ready[0] == 200
    assert ready[1]["status"] == "ready"


async def test_plain_http_and_unpinned_clients_get_nothing(fed, tmp_path):
    url = fed.relays[MA].url.replace("https://", "http://")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.post(f"{url}/v1/envelopes", data=b"{}") as resp:
                await resp.read()
    # A client certificate from the same CA that no partner pinned.
    cert = fed.ca.issue_cert("stranger.example")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "stranger.pem"))
    ctx = ssl.create_default_context(cafile=str(fed.relays[MA].dir / "ca.pem"))
    ctx.load_cert_chain(str(tmp_path / "stranger.pem"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fed.relays[MA].url}/v1/envelopes",
            data=json.dumps(envelope(fed).to_wire()),
            ssl=ctx,
        ) as resp,
    ):
        assert (resp.status, await resp.json()) == (403, {"error": "peer_unknown"})
