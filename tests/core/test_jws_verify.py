"""Schema-free envelope verification against a JWKS (relay/core/jws_verify.py).

The worked example relay-envelope-example.json must verify to exactly its expected claims, and
any single changed byte of a payload, protected header or signature must be refused.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.canonical import canonicalize
from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    SignedEnvelope,
    add_hop,
    build_envelope,
    sign_origin,
)
from relay.core.jws import signing_input
from relay.core.jws_verify import parse_jwks, verify_jws_envelope
from relay.core.keys import public_jwk
from relay.core.model import AgencyId
from relay.core.sdjwt import disclosure_digest, make_disclosure
from relay.core.signing import b64url_decode, b64url_encode, public_key_bytes
from relay.errors import VerificationError

DATA = Path(__file__).parents[1] / "data" / "vectors"
V = json.loads((DATA / "relay-envelope-example.json").read_text("utf-8"))
RFC8032 = json.loads((DATA / "rfc8032-ed25519.json").read_text("utf-8"))["cases"]
KID_A, KID_B = "agency-a.example#2025-k1", "agency-b.example#2025-k1"
# The example's keys are RFC 8032 TEST 1 and TEST 2: their seeds let tests re-sign variants.
SEED = {KID_A: RFC8032[0]["secret_key_hex"], KID_B: RFC8032[1]["secret_key_hex"]}
PRIVATE = {kid: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(h)) for kid, h in SEED.items()}
JWKS = {
    "keys": [
        {"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "kid": kid}
        for kid, jwk in V["keys"].items()
    ]
}
KEYS = parse_jwks(JWKS)
AT = datetime.fromtimestamp(1760000200, UTC)
FORMS = [("envelope_A_to_B", "expected_claims_at_B"), ("envelope_B_to_C", "expected_claims_at_C")]
SMALL_ORDER_X = b64url_encode(bytes.fromhex("01" + "00" * 31))  # the identity point


def refused(data: Any, *, keys: Mapping[str, bytes] = KEYS, now: datetime = AT) -> str:
    with pytest.raises(VerificationError) as info:
        verify_jws_envelope(data, keys, now=now)
    return info.value.code


def resign(
    env: Any, index: int, *, header: dict[str, Any] | None = None, payload: Any = None
) -> Any:
    """Replace signature ``index``'s protected header and/or the payload, and re-sign it."""
    env = copy.deepcopy(env)
    if payload is not None:
        env["payload"] = b64url_encode(canonicalize(payload))
    member = env["signatures"][index]
    if header is not None:
        member["protected"] = b64url_encode(canonicalize(header))
    kid = json.loads(b64url_decode(member["protected"]))["kid"]
    member["signature"] = b64url_encode(
        PRIVATE[kid].sign(signing_input(member["protected"], env["payload"]))
    )
    return env


def hop_header(env: Any) -> Any:
    return json.loads(b64url_decode(env["signatures"][1]["protected"]))


# ----------------------------------------------------------------------------- the example


@pytest.mark.parametrize(("form", "expected"), FORMS)
def test_example_verifies_to_exactly_the_expected_claims(form, expected):
    got = verify_jws_envelope(V[form], KEYS, now=AT)
    assert dict(got.claims) == V[expected]


def test_example_hop_is_reported_with_what_it_withheld():
    got = verify_jws_envelope(V["envelope_B_to_C"], KEYS, now=AT)
    assert got.kids == (KID_A, KID_B)
    (hop,) = got.hops
    assert (hop.number, hop.from_agency, hop.to_agency, hop.onward) == (
        1,
        "agency-a.example",
        "agency-c.example",
        None,
    )
    assert got.withheld == 1


def _flips(form: str) -> list[tuple[str, int | None, int]]:
    """(field, signature index, position) for every byte of payload, protected, signature."""
    env = V[form]
    out: list[tuple[str, int | None, int]] = [
        ("payload", None, i) for i in range(len(b64url_decode(env["payload"])))
    ]
    for s, member in enumerate(env["signatures"]):
        for part in ("protected", "signature"):
            out += [(part, s, i) for i in range(len(b64url_decode(member[part])))]
    return out


def _flip(form: str, field: str, index: int | None, position: int, mask: int) -> Any:
    env = copy.deepcopy(V[form])
    holder = env if field == "payload" else env["signatures"][index]
    raw = bytearray(b64url_decode(holder[field]))
    raw[position] ^= mask
    holder[field] = b64url_encode(bytes(raw))
    return env


@pytest.mark.parametrize("form", [f for f, _ in FORMS])
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_single_byte_change_of_payload_header_or_signature_is_refused(form, mask):
    """Every byte position of the three signed fields, three different changes each."""
    flips = _flips(form)
    assert len(flips) > 500
    for field, index, position in flips:
        with pytest.raises(VerificationError):
            verify_jws_envelope(_flip(form, field, index, position, mask), KEYS, now=AT)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(derandomize=True, database=None, max_examples=400, deadline=None)
@given(
    st.sampled_from([f for f, _ in FORMS]),
    st.sampled_from(["payload", "protected", "signature"]),
    st.integers(min_value=0, max_value=1),
    st.integers(min_value=0),
    st.one_of(st.sampled_from(_B64), st.characters()),
)
def test_any_changed_character_of_the_base64url_text_is_refused(form, field, s, position, char):
    env = copy.deepcopy(V[form])
    if field != "payload":
        s = min(s, len(env["signatures"]) - 1)
    holder = env if field == "payload" else env["signatures"][s]
    text = holder[field]
    i = position % len(text)
    if text[i] == char:
        char = "A" if char != "A" else "B"
    holder[field] = text[:i] + char + text[i + 1 :]
    with pytest.raises(VerificationError):
        verify_jws_envelope(env, KEYS, now=AT)


# ----------------------------------------------------------------------------- refusals


def test_kid_not_in_the_key_set_is_key_not_pinned():
    only_a = {KID_A: KEYS[KID_A]}
    assert refused(V["envelope_A_to_B"], keys={}) == "key_not_pinned"
    assert refused(V["envelope_B_to_C"], keys=only_a) == "key_not_pinned"


def test_swapped_keys_are_signature_invalid():
    swapped = {KID_A: KEYS[KID_B], KID_B: KEYS[KID_A]}
    assert refused(V["envelope_A_to_B"], keys=swapped) == "signature_invalid"


def test_small_order_key_is_key_invalid_even_if_passed_in_directly():
    identity = b64url_decode(SMALL_ORDER_X)
    env = copy.deepcopy(V["envelope_A_to_B"])
    env["signatures"][0]["signature"] = b64url_encode(identity + bytes(32))  # R = 1, S = 0
    assert refused(env, keys={KID_A: identity}) == "key_invalid"


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (1760086400 + 60, "expired"),  # exp plus the 60 s skew
        (1760086400 + 10**6, "expired"),
        (1760000000 - 61, "not_yet_valid"),
        (1760000123 - 120, "not_yet_valid"),  # the hop's at is in the future
    ],
)
def test_validity_window_is_checked(at, code):
    assert refused(V["envelope_B_to_C"], now=datetime.fromtimestamp(at, UTC)) == code


@pytest.mark.parametrize("at", [1760000000 - 60, 1760086400 - 1, 1760086400 + 59])
def test_clock_skew_of_60_seconds_is_tolerated_both_ways(at):
    """As ``verify_envelope``: valid while ``iat <= at + 60`` and ``at - 60 < exp``."""
    now = datetime.fromtimestamp(at, UTC)
    assert verify_jws_envelope(V["envelope_A_to_B"], KEYS, now=now).claims["iss"]


@pytest.mark.parametrize("member", ["exp", "iat"])
def test_missing_exp_or_iat_is_malformed(member):
    payload = dict(V["payload_json"])
    del payload[member]
    assert refused(resign(V["envelope_A_to_B"], 0, payload=payload)) == "malformed"


def test_nbf_in_the_future_is_not_yet_valid():
    payload = dict(V["payload_json"], nbf=1760000200 + 3600)
    assert refused(resign(V["envelope_A_to_B"], 0, payload=payload)) == "not_yet_valid"


def test_payload_that_is_not_its_own_jcs_is_malformed():
    env = copy.deepcopy(V["envelope_A_to_B"])
    env["payload"] = b64url_encode(json.dumps(V["payload_json"]).encode())
    env = resign(env, 0)
    assert refused(env) == "malformed"


def test_protected_header_that_is_not_its_own_jcs_is_malformed():
    env = copy.deepcopy(V["envelope_A_to_B"])
    header = json.loads(b64url_decode(env["signatures"][0]["protected"]))
    env["signatures"][0]["protected"] = b64url_encode(json.dumps(header).encode())
    assert refused(resign(env, 0)) == "malformed"


@pytest.mark.parametrize("header", [{"alg": "HS256"}, {"alg": "none"}, {"crit": ["relay"]}])
def test_other_alg_or_crit_is_signature_invalid(header):
    base = json.loads(b64url_decode(V["envelope_A_to_B"]["signatures"][0]["protected"]))
    env = resign(V["envelope_A_to_B"], 0, header=base | header)
    assert refused(env) == "signature_invalid"


def test_withheld_disclosure_put_back_downstream_is_disclosure_invalid():
    """C received two Disclosures; adding back the one B withheld breaks B's hop record."""
    env = copy.deepcopy(V["envelope_B_to_C"])
    env["signatures"][0]["header"]["disclosures"].append(V["disclosures_by_name"]["case_number"])
    assert refused(env) == "disclosure_invalid"


def test_dropping_a_disclosure_after_the_last_hop_is_disclosure_invalid():
    env = copy.deepcopy(V["envelope_B_to_C"])
    env["signatures"][0]["header"]["disclosures"].pop()
    assert refused(env) == "disclosure_invalid"


def test_disclosure_not_in_sd_is_disclosure_invalid():
    env = copy.deepcopy(V["envelope_A_to_B"])
    extra = make_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "subject_description", "someone else")
    env["signatures"][0]["header"]["disclosures"][1] = extra
    assert refused(env) == "disclosure_invalid"


def test_disclosure_given_twice_is_disclosure_duplicate():
    env = copy.deepcopy(V["envelope_A_to_B"])
    disclosures = env["signatures"][0]["header"]["disclosures"]
    disclosures.append(disclosures[0])
    assert refused(env) == "disclosure_duplicate"


def test_disclosure_overriding_a_signed_claim_is_disclosure_invalid():
    disclosure = make_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "text", "all clear")
    payload = dict(
        V["payload_json"], _sd=sorted([*V["payload_json"]["_sd"], disclosure_digest(disclosure)])
    )
    env = resign(V["envelope_A_to_B"], 0, payload=payload)
    env["signatures"][0]["header"]["disclosures"].append(disclosure)
    assert refused(env) == "disclosure_invalid"


def _hop_variant(**changes: object) -> Any:
    header = hop_header(V["envelope_B_to_C"])
    header["relay"] |= changes
    return resign(V["envelope_B_to_C"], 1, header=header)


@pytest.mark.parametrize(
    "changes",
    [
        {"hop": 2},
        {"prev_sig_sha256": b64url_encode(hashlib.sha256(b"another signature").digest())},
        {"disclosed": [*V["payload_json"]["_sd"]]},  # claims more than C received
        {"at": 1760000000 - 3600},  # before the origin's iat
    ],
    ids=["number", "prev-sig", "disclosed-more", "at-before-iat"],
)
def test_hop_record_that_does_not_chain_is_refused(changes):
    assert refused(_hop_variant(**changes)) in ("hop_invalid", "disclosure_invalid")


def test_hop_record_that_does_not_chain_is_hop_invalid():
    assert refused(_hop_variant(hop=2)) == "hop_invalid"
    assert refused(_hop_variant(prev_sig_sha256="A" * 43)) == "hop_invalid"


def test_hop_record_with_unknown_member_is_unknown_field():
    assert refused(_hop_variant(note="x")) == "unknown_field"


def test_hop_after_onward_false_is_onward_forbidden():
    payload = dict(V["payload_json"], onward=False)
    env = resign(V["envelope_B_to_C"], 0, payload=payload)
    header = hop_header(env)
    header["relay"]["prev_sig_sha256"] = b64url_encode(
        hashlib.sha256(b64url_decode(env["signatures"][0]["signature"])).digest()
    )
    assert refused(resign(env, 1, header=header)) == "onward_forbidden"


def test_hop_record_on_the_origin_or_missing_on_a_hop_is_hop_invalid():
    origin = json.loads(b64url_decode(V["envelope_A_to_B"]["signatures"][0]["protected"]))
    with_relay = origin | {"relay": hop_header(V["envelope_B_to_C"])["relay"]}
    assert refused(resign(V["envelope_A_to_B"], 0, header=with_relay)) == "hop_invalid"
    bare = {k: v for k, v in hop_header(V["envelope_B_to_C"]).items() if k != "relay"}
    assert refused(resign(V["envelope_B_to_C"], 1, header=bare)) == "hop_invalid"


def test_more_hops_than_allowed_is_hop_limit():
    env = copy.deepcopy(V["envelope_B_to_C"])
    env["signatures"] += [env["signatures"][1]] * 4
    assert refused(env) == "hop_limit"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(extra=1),
        lambda e: e["signatures"][0].update(extra=1),
        lambda e: e["signatures"][1].update(header={}),
        lambda e: e["signatures"][0]["header"].update(extra=1),
    ],
    ids=["top", "entry", "hop-header", "origin-header"],
)
def test_member_outside_the_layout_is_unknown_field(mutate):
    env = copy.deepcopy(V["envelope_B_to_C"])
    mutate(env)
    assert refused(env) == "unknown_field"


def test_nested_selective_disclosure_is_malformed():
    payload = dict(V["payload_json"], vehicle_extra={"_sd": ["A" * 43]})
    assert refused(resign(V["envelope_A_to_B"], 0, payload=payload)) == "malformed"


# ----------------------------------------------------------------------------- relay's own


ORI_A, ORI_B, ORI_C = AgencyId("CT9990100"), AgencyId("NY0300000"), AgencyId("MA0130000")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OWN = {
    o: Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32)
    for i, o in enumerate((ORI_A, ORI_B), 7)
}
OWN_KEYS = parse_jwks(
    {"keys": [public_jwk(public_key_bytes(k), kid=f"{o}#2026-k1") for o, k in OWN.items()]}
)


def own_envelope(
    *, onward: bool = True, hop_onward: bool = True
) -> tuple[SignedEnvelope, SignedEnvelope]:
    unsigned = build_envelope(
        issuer=ORI_A,
        audience=ORI_B,
        onward=onward,
        envelope_id=EnvelopeId("env-1"),
        issued_at=T0,
        expires_at=T0 + timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name="Det. A. Smith", agency=ORI_A),
        lines=["BOLO: white 2012 sedan", "informant: CI-4471", "northbound on I-95"],
        salts=[f"salt-{i}-0123456789abcdef" for i in range(3)],
    )
    signed = sign_origin(unsigned, key=OWN[ORI_A], kid=f"{ORI_A}#2026-k1")
    hopped = add_hop(
        signed,
        key=OWN[ORI_B],
        kid=f"{ORI_B}#2026-k1",
        from_agency=ORI_A,
        to_agency=ORI_C,
        at=T0 + timedelta(minutes=1),
        policy="ny/outbound@v1",
        onward=hop_onward,
        withhold_lines={1},
    )
    return signed, hopped


def test_relays_own_envelopes_verify_with_lines_as_claims():
    signed, hopped = own_envelope()
    now = T0 + timedelta(minutes=5)
    direct = verify_jws_envelope(signed.to_wire(), OWN_KEYS, now=now)
    assert direct.claims["line.1"] == "informant: CI-4471"
    relayed = verify_jws_envelope(hopped.to_wire(), OWN_KEYS, now=now)
    assert "line.1" not in relayed.claims
    assert relayed.claims["line.2"] == "northbound on I-95"
    assert (relayed.claims["aud"], relayed.claims["onward"]) == (ORI_B, True)
    assert relayed.hops[0].onward is True


def test_relays_own_hop_after_origin_said_no_onward_is_onward_forbidden():
    _, hopped = own_envelope(onward=False)
    assert refused(hopped.to_wire(), keys=OWN_KEYS, now=T0 + timedelta(minutes=5)) == (
        "onward_forbidden"
    )


# ----------------------------------------------------------------------------- JWKS


def test_jwks_accepts_a_bare_jwk_and_ignores_informational_members():
    jwk = dict(V["keys"][KID_A], kid=KID_A)  # with the example's "note"
    assert parse_jwks(jwk) == {KID_A: KEYS[KID_A]}


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({"keys": []}, "no keys"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": JWKS["keys"][0]["x"]}]}, "no kid"),
        ({"keys": [JWKS["keys"][0], JWKS["keys"][0]]}, "twice"),
        ({"keys": [JWKS["keys"][0] | {"d": "AAAA"}]}, "private"),
        ({"keys": [JWKS["keys"][0] | {"kty": "RSA"}]}, "OKP"),
        ({"keys": [JWKS["keys"][0] | {"use": "enc"}]}, "alg/use"),
        ({"keys": [JWKS["keys"][0] | {"x": SMALL_ORDER_X}]}, "key_invalid"),
        ([], "not a JWKS"),
    ],
)
def test_unusable_jwks_is_refused_naming_the_key(jwks, message):
    with pytest.raises(ValueError, match=message):
        parse_jwks(jwks)
