"""Relay envelopes: build, sign, hop, withhold, verify, and every refusal reason."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Sequence
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
    FileRef,
    SignedEnvelope,
    add_hop,
    build_envelope,
    from_wire,
    sign_origin,
    to_wire,
    verify_envelope,
)
from relay.core.envelope_verify import DEFAULT_MAX_HOPS, DEFAULT_SKEW
from relay.core.jws import signing_input
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.sdjwt import disclosure_digest, make_disclosure
from relay.core.signing import b64url_decode, b64url_encode, public_key_bytes, sign
from relay.errors import VerificationError

ORIS = ("CT9990100", "NY0300000", "MA0130000", "RI0040000", "VT0010000", "NH0050000")
A, B, C, D, E, F = (AgencyId(o) for o in ORIS)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEYS = {agency: Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i, agency in
        enumerate((A, B, C, D, E, F), start=1)}  # fmt: skip
A_NEXT = Ed25519PrivateKey.from_private_bytes(bytes([99]) * 32)
LINES = ("BOLO: white 2012 sedan", "partial plate 7XK", "informant: CI-4471", "northbound on I-95")
FILE = FileRef(sha256="ab" * 32, mime="image/jpeg", size=48213)
EXAMPLE = json.loads(
    (Path(__file__).parents[1] / "data" / "vectors" / "relay-envelope-example.json").read_text(
        "utf-8"
    )
)


def as_wire(env: SignedEnvelope) -> Any:
    """The envelope as a peer would send it: through JSON text."""
    return json.loads(json.dumps(to_wire(env)))


def kid(agency: str, suffix: str = "2026-k1") -> KeyId:
    return KeyId(f"{agency}#{suffix}")


def pin(
    agency: AgencyId,
    key: Ed25519PrivateKey | None = None,
    suffix: str = "2026-k1",
    *,
    not_before: datetime = T0 - timedelta(days=30),
    not_after: datetime | None = None,
    revoked: bool = False,
) -> PinnedKey:
    key = key or KEYS[agency]
    return PinnedKey(
        kid=kid(agency, suffix),
        agency=agency,
        public_key=public_key_bytes(key),
        not_before=not_before,
        not_after=not_after,
        revoked=revoked,
    )


RING = Keyring.of(pin(agency) for agency in KEYS)


def salts(n: int) -> list[str]:
    return [f"salt-{i:02d}-0123456789abcdef" for i in range(n)]


def origin(
    *,
    lines: Sequence[str] = LINES,
    files: Sequence[FileRef] = (FILE,),
    key: Ed25519PrivateKey | None = None,
    signer: KeyId | None = None,
    **overrides: Any,
) -> SignedEnvelope:
    """A's signed envelope to B; ``overrides`` replace any of ``build_envelope``'s fields."""
    fields: dict[str, Any] = {
        "issuer": A,
        "audience": B,
        "onward": True,
        "envelope_id": EnvelopeId("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"),
        "issued_at": T0,
        "expires_at": T0 + timedelta(hours=24),
        "kind": EnvelopeKind.POST,
        "topic": "bolo",
        "marking": "LES",
        "author": Author(name="Det. A. Smith", agency=A),
        "lines": lines,
        "files": files,
        "salts": salts(len(lines) + len(files)),
    }
    unsigned = build_envelope(**(fields | overrides))
    return sign_origin(unsigned, key=key or KEYS[A], kid=signer or kid(A))


def hop(
    env: SignedEnvelope,
    signer: AgencyId,
    *,
    frm: AgencyId,
    to: AgencyId,
    minutes: int = 1,
    onward: bool = True,
    withhold_lines: Collection[int] = (),
    withhold_files: Collection[int] = (),
) -> SignedEnvelope:
    return add_hop(
        env,
        key=KEYS[signer],
        kid=kid(signer),
        from_agency=frm,
        to_agency=to,
        at=T0 + timedelta(minutes=minutes),
        policy=f"{signer}/outbound/{to}@v3",
        onward=onward,
        withhold_lines=withhold_lines,
        withhold_files=withhold_files,
    )


def two_hops() -> SignedEnvelope:
    """A signs; B forwards to C withholding line 2; C forwards to D."""
    env = hop(origin(), B, frm=A, to=C, withhold_lines={2})
    return hop(env, C, frm=B, to=D, minutes=2)


def refused(
    data: Any,
    *,
    now: datetime = T0 + timedelta(minutes=5),
    ring: Keyring = RING,
    max_hops: int = DEFAULT_MAX_HOPS,
    skew: timedelta = DEFAULT_SKEW,
    receiver: AgencyId | None = None,
) -> str:
    """The refusal code ``verify_envelope`` raises for ``data`` (the wire form, as parsed)."""
    with pytest.raises(VerificationError) as info:
        verify_envelope(data, ring, now=now, max_hops=max_hops, skew=skew, receiver=receiver)
    return info.value.code


def resign_payload(env: SignedEnvelope, mutate: Callable[[Any], object]) -> Any:
    """Change the payload JSON and re-sign it as A (so only the payload check can fail)."""
    payload = json.loads(b64url_decode(env.payload))
    mutate(payload)
    new = b64url_encode(canonicalize(payload))
    protected = env.signatures[0].protected
    sig = b64url_encode(sign(KEYS[A], signing_input(protected, new)))
    return {"payload": new, "signatures": [{"protected": protected,
            "header": {"disclosures": list(env.disclosures)}, "signature": sig}]}  # fmt: skip


# --------------------------------------------------------------------------- happy paths


def test_origin_envelope_verifies_with_lines_in_order():
    got = verify_envelope(as_wire(origin()), RING, now=T0 + timedelta(minutes=5), receiver=B)
    assert [line.text for line in got.lines] == list(LINES)
    assert [line.index for line in got.lines] == [0, 1, 2, 3]
    assert got.files[0].file == FILE
    assert (got.issuer, got.kind, got.topic, got.marking) == (A, "post", "bolo", "LES")
    assert got.author == Author(name="Det. A. Smith", agency=A)
    assert got.path == (A, B)
    assert got.hops == ()
    assert got.withheld == 0
    assert got.issued_at == T0


def test_withheld_line_still_verifies_at_last_hop():
    env = two_hops()
    got = verify_envelope(as_wire(env), RING, now=T0 + timedelta(minutes=5), receiver=D)
    assert [line.index for line in got.lines] == [0, 1, 3]
    assert "informant: CI-4471" not in {line.text for line in got.lines}
    assert got.withheld == 1
    assert got.path == (A, B, C, D)
    assert [(h.signer, h.from_agency, h.to_agency) for h in got.hops] == [(B, A, C), (C, B, D)]
    assert (got.hops[0].policy_id, got.hops[0].policy_version) == (f"{B}/outbound/{C}", "v3")
    payload = json.loads(b64url_decode(env.payload))
    assert len(payload["_sd"]) == len(LINES) + 1  # the withheld line's digest remains


def test_origin_signature_and_payload_unchanged_after_withholding():
    first, forwarded = origin(), two_hops()
    assert forwarded.payload == first.payload
    assert forwarded.signatures[0] == first.signatures[0]
    assert len(forwarded.disclosures) == len(first.disclosures) - 1


def test_withheld_file_leaves_lines_intact():
    env = hop(origin(), B, frm=A, to=C, withhold_files={0})
    got = verify_envelope(as_wire(env), RING, now=T0 + timedelta(minutes=5))
    assert got.files == ()
    assert len(got.lines) == len(LINES)


def test_rotation_two_valid_kids_of_one_agency_both_verify():
    ring = Keyring.of([*RING.keys, pin(A, A_NEXT, suffix="2026-k2")])
    old = origin()
    new = origin(key=A_NEXT, signer=kid(A, "2026-k2"))
    for env in (old, new):
        assert verify_envelope(as_wire(env), ring, now=T0).issuer == A


def test_wire_round_trip_keeps_every_field():
    env = two_hops()
    data = json.loads(json.dumps(to_wire(env)))
    assert from_wire(data) == env
    assert to_wire(from_wire(data)) == data


def test_wire_layout_matches_the_worked_example():
    ours = as_wire(hop(origin(), B, frm=A, to=C))
    theirs = EXAMPLE["envelope_B_to_C"]
    assert [set(m) for m in ours["signatures"]] == [set(m) for m in theirs["signatures"]]
    ours_relay = json.loads(b64url_decode(ours["signatures"][1]["protected"]))["relay"]
    theirs_relay = json.loads(b64url_decode(theirs["signatures"][1]["protected"]))["relay"]
    assert set(ours_relay) == set(theirs_relay) | {"onward"}  # our addition, docs/envelope.md


def test_building_twice_gives_identical_bytes():
    assert as_wire(origin()) == as_wire(origin())


def test_edit_carries_its_target_and_thread():
    env = origin(kind=EnvelopeKind.EDIT, target=EnvelopeId("env-7"), thread=EnvelopeId("env-1"))
    got = verify_envelope(as_wire(env), RING, now=T0)
    assert (got.kind, got.target, got.thread) == ("edit", "env-7", "env-1")


# --------------------------------------------------------------------------- refusals


def test_readded_disclosure_fails_after_a_hop_withheld_it():
    env = two_hops()
    full = origin()
    readded = SignedEnvelope(
        payload=env.payload, signatures=env.signatures, disclosures=full.disclosures
    )
    assert refused(as_wire(readded)) == "disclosure_invalid"


def test_forged_disclosure_fails():
    env = origin()
    forged = make_disclosure("forged-salt-0123456789", "line.2", "nothing to see here")
    tampered = SignedEnvelope(
        payload=env.payload,
        signatures=env.signatures,
        disclosures=(*env.disclosures[:2], forged, *env.disclosures[3:]),
    )
    assert refused(as_wire(tampered)) == "disclosure_invalid"


def test_duplicate_disclosure_is_refused():
    env = origin()
    doubled = SignedEnvelope(
        payload=env.payload,
        signatures=env.signatures,
        disclosures=(*env.disclosures, env.disclosures[0]),
    )
    assert refused(as_wire(doubled)) == "disclosure_duplicate"


def test_hop_appended_by_an_agency_already_in_the_path_is_loop():
    env = hop(origin(), B, frm=A, to=C)
    again = hop(env, B, frm=B, to=D, minutes=2)  # B signs a second time
    assert refused(as_wire(again)) == "loop"


def test_hop_forwarding_back_to_the_issuer_is_loop():
    env = hop(hop(origin(), B, frm=A, to=C), C, frm=B, to=A, minutes=2)
    assert refused(as_wire(env)) == "loop"


def test_origin_envelope_received_by_its_issuer_is_loop():
    assert refused(as_wire(origin()), receiver=A) == "loop"


def test_more_than_max_hops_is_hop_limit():
    env = origin()
    path = [A, B, C, D, E, F]
    for i in range(1, 5):
        env = hop(env, path[i], frm=path[i - 1], to=path[i + 1], minutes=i)
    assert (
        verify_envelope(as_wire(env), RING, now=T0 + timedelta(minutes=5), max_hops=4).issuer == A
    )
    assert refused(as_wire(env), max_hops=3) == "hop_limit"


def test_hop_from_a_different_sender_is_hop_invalid():
    env = hop(origin(), B, frm=D, to=C)  # claims to have received it from D
    assert refused(as_wire(env)) == "hop_invalid"


def test_hop_addressed_to_another_receiver_is_hop_invalid():
    assert refused(as_wire(hop(origin(), B, frm=A, to=C)), receiver=D) == "hop_invalid"


def test_hop_whose_previous_signature_was_swapped_is_hop_invalid():
    """A second, valid origin signature (rotated key) breaks the hop's prev_sig link."""
    ring = Keyring.of([*RING.keys, pin(A, A_NEXT, suffix="2026-k2")])
    env = hop(origin(), B, frm=A, to=C)
    other = origin(key=A_NEXT, signer=kid(A, "2026-k2"))
    swapped = SignedEnvelope(
        payload=env.payload,
        signatures=(other.signatures[0], *env.signatures[1:]),
        disclosures=env.disclosures,
    )
    assert refused(as_wire(swapped), ring=ring) == "hop_invalid"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda w: w.update(extra=1),
        lambda w: w["signatures"][0].update(kid="x"),
        lambda w: w["signatures"][0]["header"].update(kid="x"),
        lambda w: w["signatures"][1].update(header={"disclosures": []}),
    ],
    ids=["top-level", "signature-member", "unprotected-header", "header-on-hop"],
)
def test_unknown_wire_field_is_unknown_field(mutate):
    wire = as_wire(hop(origin(), B, frm=A, to=C))
    mutate(wire)
    assert refused(wire) == "unknown_field"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(priority="high"),
        lambda p: p["author"].update(email="a@example.invalid"),
    ],
    ids=["payload", "payload-author"],
)
def test_unknown_signed_payload_field_is_unknown_field(mutate):
    assert refused(resign_payload(origin(), mutate)) == "unknown_field"


def test_unknown_disclosed_claim_is_unknown_field():
    env = origin(lines=(), files=())
    informant = make_disclosure("salt-informant-0123456", "informant_name", "J. Doe")
    wire = resign_payload(env, lambda p: p.update(_sd=[disclosure_digest(informant)]))
    wire["signatures"][0]["header"]["disclosures"] = [informant]
    assert refused(wire) == "unknown_field"


def test_unknown_field_in_a_file_disclosure_is_unknown_field():
    env = origin(lines=(), files=())
    file = make_disclosure("salt-file-000123456789", "file.0", {
        "mime": "image/png", "sha256": "00" * 32, "size": 1, "name": "x.png"})  # fmt: skip
    wire = resign_payload(env, lambda p: p.update(_sd=[disclosure_digest(file)]))
    wire["signatures"][0]["header"]["disclosures"] = [file]
    assert refused(wire) == "unknown_field"


def test_non_canonical_payload_is_malformed():
    env = origin()
    payload = json.loads(b64url_decode(env.payload))
    loose = b64url_encode(json.dumps(payload, indent=1).encode())
    protected = env.signatures[0].protected
    sig = b64url_encode(sign(KEYS[A], signing_input(protected, loose)))
    wire = as_wire(env)
    wire["payload"], wire["signatures"][0]["signature"] = loose, sig
    assert refused(wire) == "malformed"


def test_revoked_kid_is_refused():
    ring = Keyring.of([pin(A, revoked=True)])
    assert refused(as_wire(origin()), ring=ring) == "key_revoked"


def test_unpinned_kid_is_refused():
    assert refused(as_wire(origin()), ring=Keyring.of([pin(B)])) == "key_not_pinned"


def test_revoked_hop_key_is_refused():
    ring = Keyring.of([pin(A), pin(B, revoked=True)])
    assert refused(as_wire(hop(origin(), B, frm=A, to=C)), ring=ring) == "key_revoked"


def test_key_outside_its_window_is_refused():
    ring = Keyring.of([pin(A, not_before=T0 - timedelta(days=9), not_after=T0)])
    assert refused(as_wire(origin()), ring=ring) == "expired"


def test_origin_key_of_another_agency_is_issuer_mismatch():
    env = origin(key=KEYS[B], signer=kid(B))
    assert refused(as_wire(env)) == "issuer_mismatch"


def test_envelope_past_exp_is_expired_beyond_the_skew():
    wire = as_wire(origin())
    late = T0 + timedelta(hours=24)
    assert verify_envelope(wire, RING, now=late + timedelta(seconds=59)).issuer == A
    assert refused(wire, now=late + timedelta(seconds=60)) == "expired"
    assert refused(wire, now=late, skew=timedelta(0)) == "expired"


def test_envelope_from_the_future_is_not_yet_valid_beyond_the_skew():
    wire = as_wire(origin(issued_at=T0 + timedelta(minutes=10)))
    assert (
        verify_envelope(
            wire, RING, now=T0 + timedelta(minutes=9), skew=timedelta(minutes=1)
        ).issuer
        == A
    )
    assert refused(wire, now=T0 + timedelta(minutes=8), skew=timedelta(minutes=1)) == (
        "not_yet_valid"
    )


def test_zero_s_signature_on_a_pinned_key_is_signature_invalid():
    wire = as_wire(origin())
    wire["signatures"][0]["signature"] = b64url_encode(bytes(64))
    assert refused(wire) == "signature_invalid"


def test_building_with_wrong_salt_count_or_bad_field_fails():
    with pytest.raises(ValueError, match="salts"):
        origin(salts=salts(1))
    with pytest.raises(ValueError, match="audience"):
        origin(audience=A)
    with pytest.raises(ValueError, match="topic"):
        origin(topic="Not A Topic!")
    with pytest.raises(ValueError, match="target"):
        origin(kind=EnvelopeKind.DELETE)


# --------------------------------------------------------------------------- addressing


def test_origin_signs_audience_and_onward_in_the_payload():
    payload = json.loads(b64url_decode(origin(audience=C, onward=False).payload))
    assert (payload["aud"], payload["onward"]) == (C, False)


def test_direct_envelope_received_by_its_addressee_verifies():
    got = verify_envelope(as_wire(origin(onward=False)), RING, now=T0, receiver=B)
    assert (got.audience, got.onward, got.path) == (B, False, (A, B))


def test_direct_envelope_received_by_another_agency_is_not_addressed():
    """B cannot hand A's envelope to C unchanged: A's signature names B."""
    with pytest.raises(VerificationError) as info:
        verify_envelope(as_wire(origin()), RING, now=T0, receiver=C)
    assert info.value.code == "not_addressed"
    assert info.value.http_status == 403


def test_envelope_addressed_to_its_own_issuer_is_loop():
    assert refused(resign_payload(origin(), lambda p: p.update(aud=A))) == "loop"


def test_hop_after_origin_said_no_onward_is_onward_forbidden():
    env = hop(origin(onward=False), B, frm=A, to=C)
    assert refused(as_wire(env), receiver=C) == "onward_forbidden"


def test_hop_after_a_hop_said_no_onward_is_onward_forbidden():
    env = hop(origin(), B, frm=A, to=C, onward=False)
    got = verify_envelope(as_wire(env), RING, now=T0 + timedelta(minutes=5), receiver=C)
    assert got.onward is False
    assert refused(as_wire(hop(env, C, frm=B, to=D, minutes=2)), receiver=D) == (
        "onward_forbidden"
    )


def test_first_hop_by_an_agency_other_than_the_audience_is_hop_invalid():
    """A addressed B; C (holding a copy) forwarding it as if it were the first hop is refused."""
    env = hop(origin(audience=B), C, frm=A, to=D)
    assert refused(as_wire(env), receiver=D) == "hop_invalid"


@pytest.mark.parametrize(
    ("origin_onward", "hop_onward", "effective"),
    [(True, False, False), (True, True, True)],
)
def test_effective_onward_is_the_last_signers_permission(origin_onward, hop_onward, effective):
    env = hop(origin(onward=origin_onward), B, frm=A, to=C, onward=hop_onward)
    got = verify_envelope(as_wire(env), RING, now=T0 + timedelta(minutes=5), receiver=C)
    assert got.onward is effective
    assert got.hops[0].onward is hop_onward
    assert got.audience == B


def test_effective_onward_of_a_direct_envelope_is_the_origins():
    for onward in (True, False):
        got = verify_envelope(as_wire(origin(onward=onward)), RING, now=T0, receiver=B)
        assert got.onward is onward
        assert got.hops == ()


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_onward_that_is_not_a_json_boolean_is_malformed(value):
    assert refused(resign_payload(origin(), lambda p: p.update(onward=value))) == "malformed"


def test_envelope_without_audience_verifies_with_no_audience_and_no_onward():
    """``aud`` is optional: without it the envelope is addressed to no one in particular."""
    wire = resign_payload(origin(), lambda p: (p.pop("aud"), p.pop("onward")))
    got = verify_envelope(wire, RING, now=T0)
    assert (got.audience, got.onward, got.path) == (None, False, (A,))


def test_envelope_without_audience_is_not_addressed_to_a_named_receiver():
    wire = resign_payload(origin(), lambda p: p.pop("aud"))
    assert refused(wire, receiver=B) == "not_addressed"


def test_missing_onward_means_no_onward():
    """Fail closed: an envelope that does not say it may be passed on may not be."""
    wire = resign_payload(origin(), lambda p: p.pop("onward"))
    got = verify_envelope(wire, RING, now=T0, receiver=B)
    assert got.onward is False
    env = from_wire(wire)
    hopped = hop(env, B, frm=A, to=C)
    assert refused(as_wire(hopped), receiver=C) == "onward_forbidden"


def test_hop_on_an_envelope_without_audience_is_hop_invalid():
    """Hop 1 must be signed by ``aud``: with no ``aud`` no agency can sign it."""
    wire = resign_payload(origin(), lambda p: p.pop("aud"))
    hopped = hop(from_wire(wire), B, frm=A, to=C)
    assert refused(as_wire(hopped), receiver=C) == "hop_invalid"


def test_building_without_audience_leaves_aud_out_and_refuses_onward():
    env = origin(audience=None, onward=False)
    payload = json.loads(b64url_decode(env.payload))
    assert "aud" not in payload
    assert payload["onward"] is False
    assert verify_envelope(as_wire(env), RING, now=T0).audience is None
    with pytest.raises(ValueError, match="onward needs an audience"):
        origin(audience=None, onward=True)


@pytest.mark.parametrize("value", ["", "ct9990100", 7, None, ["NY0300000"]])
def test_audience_of_the_wrong_form_is_malformed(value):
    assert refused(resign_payload(origin(), lambda p: p.update(aud=value))) == "malformed"


def test_hop_record_onward_is_signed_into_the_hop_header():
    env = hop(origin(), B, frm=A, to=C, onward=False)
    relay = json.loads(b64url_decode(env.signatures[1].protected))["relay"]
    assert relay["onward"] is False


# --------------------------------------------------------------------------- tampering

_WIRE = as_wire(two_hops())
_NOW = T0 + timedelta(minutes=5)
_TARGETS = [
    ("payload",),
    *[("signatures", i, part) for i in range(3) for part in ("protected", "signature")],
    *[("disclosure", i) for i in range(4)],  # three lines (line 2 withheld) and the file
]


def _get(wire: Any, target: tuple[str | int, ...]) -> Any:
    if target[0] == "payload":
        return wire["payload"]
    if target[0] == "disclosure":
        return wire["signatures"][0]["header"]["disclosures"][target[1]]
    return wire["signatures"][target[1]][target[2]]


def _set(wire: Any, target: tuple[str | int, ...], value: object) -> None:
    if target[0] == "payload":
        wire["payload"] = value
    elif target[0] == "disclosure":
        wire["signatures"][0]["header"]["disclosures"][target[1]] = value
    else:
        wire["signatures"][target[1]][target[2]] = value


def test_untampered_envelope_verifies():
    assert verify_envelope(_WIRE, RING, now=_NOW).issuer == A


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(
    st.sampled_from(_TARGETS), st.integers(min_value=0), st.integers(min_value=1, max_value=255)
)
def test_flipped_byte_anywhere_fails_verification(target, position, mask):
    wire = copy.deepcopy(_WIRE)
    raw = bytearray(b64url_decode(_get(wire, target)))
    raw[position % len(raw)] ^= mask
    _set(wire, target, b64url_encode(bytes(raw)))
    with pytest.raises(VerificationError):
        verify_envelope(wire, RING, now=_NOW)


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(st.sampled_from(_TARGETS), st.integers(min_value=0), st.sampled_from(_B64_ALPHABET))
def test_changed_base64_character_anywhere_fails_verification(target, position, char):
    wire = copy.deepcopy(_WIRE)
    text = _get(wire, target)
    i = position % len(text)
    if text[i] == char:
        char = "A" if char != "A" else "B"
    _set(wire, target, text[:i] + char + text[i + 1 :])
    with pytest.raises(VerificationError):
        verify_envelope(wire, RING, now=_NOW)
