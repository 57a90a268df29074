"""JWK and thumbprints (RFC 8037 / RFC 7638), compact JWS, pinned keys and the keyring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.canonical import canonicalize
from relay.core.jws import sign_compact, verify_compact
from relay.core.keys import (
    KeyId,
    Keyring,
    PinnedKey,
    jwk_thumbprint,
    make_kid,
    parse_ori,
    private_key_from_jwk,
    public_jwk,
    public_key_from_jwk,
)
from relay.core.model import AgencyId
from relay.core.signing import b64url_decode, public_key_bytes
from relay.errors import VerificationError

V = json.loads(
    (Path(__file__).parents[1] / "data" / "vectors" / "rfc8037-jws-eddsa.json").read_text("utf-8")
)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _pin(
    kid: str = "CT9990100#2026-k1",
    *,
    public_key: bytes | None = None,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime | None = None,
    revoked: bool = False,
) -> PinnedKey:
    return PinnedKey(
        kid=KeyId(kid),
        agency=AgencyId(kid.split("#")[0]),
        public_key=public_key_bytes(KEY) if public_key is None else public_key,
        not_before=not_before,
        not_after=not_after,
        revoked=revoked,
    )


def test_rfc8037_public_key_derives_from_d():
    key = private_key_from_jwk(V["private_jwk"])
    assert public_key_bytes(key) == b64url_decode(V["private_jwk"]["x"])
    assert public_key_from_jwk(V["public_jwk"]) == public_key_bytes(key)
    assert public_jwk(public_key_bytes(key)) == V["public_jwk"]


def test_rfc8037_thumbprint_input_and_value():
    public_key = public_key_from_jwk(V["public_jwk"])
    assert canonicalize(V["public_jwk"]).decode() == V["thumbprint_input"]
    assert jwk_thumbprint(public_key) == V["thumbprint_sha256_b64url"]


def test_rfc8037_compact_jws_is_reproduced_and_verifies():
    key = private_key_from_jwk(V["private_jwk"])
    compact = sign_compact(key, json.loads(V["protected_header_json"]), V["payload_utf8"].encode())
    assert compact == V["compact_jws"]
    assert compact.split(".")[:2] == V["signing_input"].split(".")
    header, payload = verify_compact(V["compact_jws"], public_key_bytes(key))
    assert header == {"alg": "EdDSA"}
    assert payload == V["payload_utf8"].encode()


def test_rfc8037_jws_with_altered_payload_fails():
    head, _, sig = V["compact_jws"].split(".")
    altered = f"{head}.SXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.{sig}"
    with pytest.raises(VerificationError) as refused:
        verify_compact(altered, b64url_decode(V["public_jwk"]["x"]))
    assert refused.value.code == "signature_invalid"


def test_jws_with_an_algorithm_not_allowed_fails():
    with pytest.raises(VerificationError):
        verify_compact(
            V["compact_jws"], b64url_decode(V["public_jwk"]["x"]), algorithms={"Ed25519"}
        )


def test_public_jwk_import_refuses_private_or_unknown_members():
    with pytest.raises(ValueError, match="allowlist"):
        public_key_from_jwk(V["private_jwk"])
    with pytest.raises(ValueError, match="allowlist"):
        public_key_from_jwk(V["public_jwk"] | {"x5u": "https://example.invalid/"})
    with pytest.raises(ValueError, match="OKP"):
        public_key_from_jwk(V["public_jwk"] | {"crv": "Ed448"})


def test_public_jwk_import_refuses_small_order_key():
    with pytest.raises(VerificationError):
        public_key_from_jwk(V["public_jwk"] | {"x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})


def test_kid_convention_is_ori_hash_suffix():
    assert make_kid("CT9990100", "2026-k1") == "CT9990100#2026-k1"
    jwk = public_jwk(public_key_bytes(KEY), kid=make_kid("CT9990100", "2026-k1"))
    assert jwk["kid"] == "CT9990100#2026-k1"
    assert public_key_from_jwk(jwk) == public_key_bytes(KEY)


@pytest.mark.parametrize("ori", ["ct9990100", "CT999010", "CT99901000", "C19990100", ""])
def test_malformed_ori_is_refused(ori):
    with pytest.raises(ValueError, match="ORI"):
        parse_ori(ori)


def test_kid_suffix_with_separator_is_refused():
    with pytest.raises(ValueError, match="suffix"):
        make_kid("CT9990100", "2026#k1")


def test_small_order_key_cannot_be_pinned():
    with pytest.raises(VerificationError) as refused:
        _pin(public_key=bytes.fromhex("01" + "00" * 31))
    assert refused.value.code == "key_invalid"


def test_pinned_key_is_found_inside_its_window():
    ring = Keyring.of([_pin(not_after=NOW + timedelta(days=1))])
    assert ring.lookup("CT9990100#2026-k1", now=NOW).agency == "CT9990100"


@pytest.mark.parametrize(
    ("pin", "kid", "code"),
    [
        ({}, "CT9990100#2026-k9", "key_not_pinned"),
        ({"revoked": True}, "CT9990100#2026-k1", "key_revoked"),
        ({"not_before": NOW + timedelta(seconds=1)}, "CT9990100#2026-k1", "not_yet_valid"),
        ({"not_after": NOW}, "CT9990100#2026-k1", "expired"),
    ],
    ids=["unpinned", "revoked", "not-yet-valid", "expired"],
)
def test_keyring_refuses_with_reason(pin, kid, code):
    ring = Keyring.of([_pin(**pin)])
    with pytest.raises(VerificationError) as refused:
        ring.lookup(kid, now=NOW)
    assert refused.value.code == code


def test_keyring_refuses_the_same_kid_twice():
    with pytest.raises(ValueError, match="twice"):
        Keyring.of([_pin(), _pin()])


def test_keyring_needs_an_aware_now():
    with pytest.raises(ValueError, match="timezone"):
        Keyring.of([_pin()]).lookup("CT9990100#2026-k1", now=datetime(2026, 3, 1))
