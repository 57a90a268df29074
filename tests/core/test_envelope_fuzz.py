"""Arbitrary JSON through the envelope readers raises VerificationError and nothing else.

``SignedEnvelope.from_wire``, ``verify_envelope`` and ``verify_jws_envelope`` take wire input:
no KeyError, TypeError, ValueError or RecursionError may leak from them, whatever the JSON.
Junk is tried at the top, inside envelope-shaped dicts, and inside correctly signed payloads,
headers and Disclosures (so the checks after the signatures see it too).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.core.canonical import CanonicalizationError, JSONValue, canonicalize
from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    SignedEnvelope,
    add_hop,
    build_envelope,
    sign_origin,
    verify_envelope,
)
from relay.core.jws import signing_input
from relay.core.jws_verify import parse_jwks, verify_jws_envelope
from relay.core.keys import KeyId, Keyring, PinnedKey, public_jwk
from relay.core.model import AgencyId
from relay.core.signing import b64url_decode, b64url_encode, public_key_bytes
from relay.errors import VerificationError

A, B, C = AgencyId("CT9990100"), AgencyId("NY0300000"), AgencyId("MA0130000")
KEY = {a: Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i, a in enumerate((A, B), 3)}
KID = {a: f"{a}#2026-k1" for a in KEY}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
RING = Keyring.of(
    PinnedKey(
        kid=KeyId(KID[a]),
        agency=a,
        public_key=public_key_bytes(k),
        not_before=T0 - timedelta(days=1),
    )
    for a, k in KEY.items()
)
JWKS = parse_jwks({"keys": [public_jwk(public_key_bytes(k), kid=KID[a]) for a, k in KEY.items()]})
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["Ed25519", "sha-256", "post", "bolo", "LES", A, B, KID[A], KID[B], "line.0"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=6),
                st.sampled_from(
                    ["payload", "signatures", "protected", "header", "signature", "disclosures",
                     "relay", "kid", "alg", "_sd", "iss", "aud", "exp", "iat", "hop", "onward"]
                ),
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)  # fmt: skip


def _base() -> JSONValue:
    unsigned = build_envelope(
        issuer=A,
        audience=B,
        onward=True,
        envelope_id=EnvelopeId("fuzz-1"),
        issued_at=T0,
        expires_at=T0 + timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name="Det. A. Smith", agency=A),
        lines=["BOLO: white 2012 sedan", "northbound on I-95"],
        salts=["salt-0-0123456789abcdef", "salt-1-0123456789abcdef"],
    )
    signed = sign_origin(unsigned, key=KEY[A], kid=KID[A])
    return add_hop(
        signed,
        key=KEY[B],
        kid=KID[B],
        from_agency=A,
        to_agency=C,
        at=T0 + timedelta(minutes=1),
        policy="ny/outbound@v1",
        onward=True,
    ).to_wire()


BASE = json.loads(json.dumps(_base()))


def only_verification_errors(data: JSONValue) -> None:
    """Each reader either accepts ``data`` or raises VerificationError; nothing else."""
    readers: tuple[Callable[[JSONValue], object], ...] = (
        SignedEnvelope.from_wire,
        lambda d: verify_envelope(d, RING, now=NOW),
        lambda d: verify_envelope(d, RING, now=NOW, receiver=C),
        lambda d: verify_jws_envelope(d, JWKS, now=NOW),
    )
    for read in readers:
        with contextlib.suppress(VerificationError):
            read(data)


def _b64_json(value: JSONValue, *, jcs: bool = True) -> str:
    try:
        raw = canonicalize(value) if jcs else json.dumps(value).encode("utf-8", "replace")
    except (CanonicalizationError, ValueError):
        raw = json.dumps(value).encode("utf-8", "replace")
    return b64url_encode(raw)


@FUZZ
@given(json_values)
def test_arbitrary_json_raises_only_verification_errors(value):
    only_verification_errors(value)


PATHS = [
    ("payload",),
    ("signatures",),
    ("signatures", 0),
    ("signatures", 0, "header"),
    ("signatures", 0, "header", "disclosures"),
    ("signatures", 0, "header", "disclosures", 0),
    ("signatures", 0, "protected"),
    ("signatures", 0, "signature"),
    ("signatures", 1),
    ("signatures", 1, "protected"),
    ("signatures", 1, "signature"),
]


@FUZZ
@given(st.sampled_from(PATHS), json_values)
def test_envelope_shaped_dicts_with_junk_raise_only_verification_errors(path, junk):
    env = copy.deepcopy(BASE)
    holder = env
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = junk
    only_verification_errors(env)


@FUZZ
@given(st.sampled_from(PATHS[5:8] + PATHS[9:] + PATHS[:1]), json_values, st.booleans())
def test_junk_json_inside_base64url_parts_raises_only_verification_errors(path, junk, jcs):
    env = copy.deepcopy(BASE)
    holder = env
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = _b64_json(junk, jcs=jcs)
    only_verification_errors(env)


def _signed(
    payload: JSONValue,
    *,
    origin_header: dict[str, JSONValue] | None = None,
    hop_header: dict[str, JSONValue] | None = None,
    disclosures: Sequence[str] = (),
) -> dict[str, JSONValue]:
    """An envelope whose signatures verify over arbitrary (JCS) payload and headers."""
    payload_b64 = _b64_json(payload)
    signatures: list[JSONValue] = []
    headers = [
        origin_header or {"alg": "Ed25519", "kid": KID[A], "typ": "relay-envelope+sd-jwt"},
        hop_header,
    ]
    for i, (header, agency) in enumerate(zip(headers, (A, B), strict=True)):
        if header is None:
            continue
        protected = _b64_json(header)
        member: dict[str, JSONValue] = {"protected": protected}
        if i == 0:
            member["header"] = {"disclosures": list(disclosures)}
        member["signature"] = b64url_encode(
            KEY[agency].sign(signing_input(protected, payload_b64))
        )
        signatures.append(member)
    return {"payload": payload_b64, "signatures": signatures}


@FUZZ
@given(json_values, st.lists(json_values, max_size=3))
def test_signed_junk_payloads_and_disclosures_raise_only_verification_errors(payload, parts):
    disclosures = [_b64_json(["salt-0123456789abcdef", "line.0", p]) for p in parts]
    disclosures += [_b64_json(p) for p in parts]
    only_verification_errors(_signed(payload, disclosures=disclosures))
    if isinstance(payload, dict):
        claims = payload | {"exp": 1900000000, "iat": 1700000000}
        only_verification_errors(_signed(claims, disclosures=disclosures))


@FUZZ
@given(json_values, json_values)
def test_signed_junk_headers_and_hop_records_raise_only_verification_errors(header, relay):
    payload = json.loads(b64url_decode(BASE["payload"]))
    hop = {"alg": "Ed25519", "kid": KID[B], "relay": relay}
    only_verification_errors(_signed(payload, hop_header=hop))
    if isinstance(header, dict):
        only_verification_errors(_signed(payload, origin_header=header | {"kid": KID[A]}))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"iss":"\\ud800"}',  # a lone surrogate: valid JSON with no canonical form
        b'{"exp":1e400}',
        b'{"exp":9007199254740993}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    ],
    ids=["lone-surrogate", "huge-float", "unsafe-int", "deep-list", "deep-object"],
)
def test_hostile_payload_bytes_are_malformed(raw):
    env = copy.deepcopy(BASE)
    env["payload"] = b64url_encode(raw)
    for verify in (
        lambda: verify_envelope(env, RING, now=NOW),
        lambda: verify_jws_envelope(env, JWKS, now=NOW),
    ):
        with pytest.raises(VerificationError) as info:
            verify()
        assert info.value.code == "malformed"


def test_deeply_nested_wire_value_raises_only_verification_errors():
    deep: JSONValue = []
    for _ in range(100_000):
        deep = [deep]
    only_verification_errors({"payload": "e30", "signatures": deep})
    only_verification_errors(deep)
