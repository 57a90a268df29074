"""Ed25519 (RFC 8032) vectors and the strict checks OpenSSL does not make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from relay.core.signing import (
    GROUP_ORDER,
    b64url_decode,
    b64url_encode,
    check_public_key,
    public_key_bytes,
    sign,
    verify,
)
from relay.errors import VerificationError

CASES = json.loads(
    (Path(__file__).parents[1] / "data" / "vectors" / "rfc8032-ed25519.json").read_text("utf-8")
)["cases"]

# The eight small-order points (canonical encodings), then non-canonical spellings of them.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
]
NON_CANONICAL = [
    "0100000000000000000000000000000000000000000000000000000000000080",  # identity, "-0"
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # y = p - 1, "-0"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 18
]
VALID_KEY = bytes.fromhex(CASES[0]["public_key_hex"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_rfc8032_vector_signs_and_verifies(case):
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(case["secret_key_hex"]))
    message = bytes.fromhex(case["message_hex"])
    signature = sign(key, message)
    assert public_key_bytes(key).hex() == case["public_key_hex"]
    assert signature.hex() == case["signature_hex"]
    verify(public_key_bytes(key), signature, message)
    with pytest.raises(VerificationError) as refused:
        verify(public_key_bytes(key), signature, message + b"\x00")
    assert refused.value.code == "signature_invalid"


@pytest.mark.parametrize("encoded", SMALL_ORDER + NON_CANONICAL)
def test_small_order_and_non_canonical_keys_are_refused(encoded):
    with pytest.raises(VerificationError) as refused:
        check_public_key(bytes.fromhex(encoded))
    assert refused.value.code == "key_invalid"


def test_small_order_key_with_zero_s_is_refused_although_openssl_accepts_it():
    identity = bytes.fromhex(SMALL_ORDER[0])
    forged = identity + bytes(32)  # R = identity, S = 0: "valid" for every message
    Ed25519PublicKey.from_public_bytes(identity).verify(forged, b"any message at all")
    with pytest.raises(VerificationError) as refused:
        verify(identity, forged, b"any message at all")
    assert refused.value.code == "key_invalid"


def test_signature_with_s_not_below_group_order_is_refused():
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(CASES[1]["secret_key_hex"]))
    good = sign(key, b"msg")
    s = int.from_bytes(good[32:], "little")
    malleated = good[:32] + (s + GROUP_ORDER).to_bytes(32, "little")
    with pytest.raises(VerificationError, match=r"S >= L") as refused:
        verify(public_key_bytes(key), malleated, b"msg")
    assert refused.value.code == "signature_invalid"


@pytest.mark.parametrize("length", [0, 31, 33])
def test_public_key_of_wrong_length_is_refused(length):
    with pytest.raises(VerificationError):
        check_public_key(bytes(length))


def test_signature_of_wrong_length_is_refused():
    with pytest.raises(VerificationError, match="64 bytes"):
        verify(VALID_KEY, bytes(63), b"")


def test_base64url_round_trips_without_padding():
    for data in (b"", b"\x00", b"\xfb\xff", bytes(range(256))):
        text = b64url_encode(data)
        assert "=" not in text
        assert b64url_decode(text) == data


@pytest.mark.parametrize("text", ["AA==", "A", "a+b/", "ab c", "AB", "AAB", "é"])
def test_base64url_refuses_padding_other_alphabets_and_stray_bits(text):
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)
