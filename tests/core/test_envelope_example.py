"""The worked example relay-envelope-example.json, checked with the core's JWS/SD-JWT pieces.

Its claims (``channel``, ``text``, DNS-style kids) are outside our envelope's allowlist, so the
full verifier refuses it with ``unknown_field``; the layout and every rule it states still hold.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.core.canonical import canonicalize
from relay.core.envelope_verify import verify_envelope
from relay.core.jws import signing_input
from relay.core.keys import Keyring
from relay.core.sdjwt import check_disclosures, disclosure_digest
from relay.core.signing import b64url_decode, b64url_encode, verify
from relay.errors import VerificationError

V = json.loads(
    (Path(__file__).parents[1] / "data" / "vectors" / "relay-envelope-example.json").read_text(
        "utf-8"
    )
)
KEYS = {kid: b64url_decode(jwk["x"]) for kid, jwk in V["keys"].items()}
FORMS = [("envelope_A_to_B", "expected_claims_at_B"), ("envelope_B_to_C", "expected_claims_at_C")]


@pytest.mark.parametrize(("form", "_"), FORMS)
def test_example_payload_is_its_own_jcs(form, _):
    raw = b64url_decode(V[form]["payload"])
    assert raw == canonicalize(V["payload_json"]) == canonicalize(json.loads(raw))


@pytest.mark.parametrize(("form", "_"), FORMS)
def test_example_every_signature_verifies_with_its_kid(form, _):
    env = V[form]
    for member in env["signatures"]:
        header_bytes = b64url_decode(member["protected"])
        header = json.loads(header_bytes)
        assert header_bytes == canonicalize(header)
        assert header["alg"] == "Ed25519"
        verify(
            KEYS[header["kid"]],
            b64url_decode(member["signature"]),
            signing_input(member["protected"], env["payload"]),
        )


@pytest.mark.parametrize(("form", "expected"), FORMS)
def test_example_disclosures_match_digests_and_claims(form, expected):
    env = V[form]
    payload = json.loads(b64url_decode(env["payload"]))
    claims = {k: v for k, v in payload.items() if k not in ("_sd", "_sd_alg")}
    disclosures = env["signatures"][0]["header"]["disclosures"]
    for found in check_disclosures(disclosures, payload["_sd"]):
        claims[found.name] = found.value
    assert claims == V[expected]


def test_example_hop_record_chains_and_lists_what_was_forwarded():
    env = V["envelope_B_to_C"]
    relay = json.loads(b64url_decode(env["signatures"][1]["protected"]))["relay"]
    origin_sig = b64url_decode(env["signatures"][0]["signature"])
    assert relay["prev_sig_sha256"] == b64url_encode(hashlib.sha256(origin_sig).digest())
    forwarded = env["signatures"][0]["header"]["disclosures"]
    assert relay["disclosed"] == sorted(disclosure_digest(d) for d in forwarded)


def test_example_origin_signature_unchanged_after_withholding():
    assert (
        V["envelope_A_to_B"]["signatures"][0]["signature"]
        == V["envelope_B_to_C"]["signatures"][0]["signature"]
    )


def test_example_claims_outside_our_allowlist_are_unknown_field():
    with pytest.raises(VerificationError) as refused:
        verify_envelope(
            V["envelope_B_to_C"], Keyring.of([]), now=datetime(2025, 10, 9, tzinfo=UTC)
        )
    assert refused.value.code == "unknown_field"
