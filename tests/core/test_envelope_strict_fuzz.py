"""Malformed envelopes, from the bytes a peer sends to the verdict (issue 15): whatever the
mutation (JSON structure, a member name twice at any level, signed or not, wrong types, time
claims), the strict reader and the verifier raise only their own errors with a known code.

The listener's pipeline is ``loads_strict`` (``JsonRefused``) then ``verify_envelope``
(``VerificationError``); any other exception would be a 500 and is a failure here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.core.envelope import EnvelopeId, verify_envelope
from relay.core.json_strict import JsonRefused, loads_strict
from relay.core.jws import signing_input
from relay.core.reasons import Reason
from relay.core.signing import b64url_decode, b64url_encode, sign
from relay.errors import VerificationError
from tests.core.test_envelope import KEYS, RING, T0, A, B, as_wire, origin

NOW = T0 + timedelta(minutes=5)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {str(r) for r in Reason}
GOOD = as_wire(origin())
GOOD_TEXT = json.dumps(GOOD, separators=(",", ":"))


def outcome(body: bytes) -> str:
    """ "ok", or the code of the refusal; anything else raised fails the test."""
    try:
        data = loads_strict(body, max_bytes=1 << 20)
        verify_envelope(data, RING, now=NOW, receiver=B)
    except JsonRefused as exc:
        code = str(exc.peer_code)
        assert code in CODES, code
        return code
    except VerificationError as exc:
        code = str(exc.code)
        assert code in CODES, code
        return code
    return "ok"


def resign(payload_text: str) -> dict[str, Any]:
    """``GOOD`` with another payload text, signed again by A: only the content is wrong."""
    wire: dict[str, Any] = json.loads(GOOD_TEXT)
    wire["payload"] = b64url_encode(payload_text.encode())
    member = wire["signatures"][0]
    member["signature"] = b64url_encode(
        sign(KEYS[A], signing_input(member["protected"], wire["payload"]))
    )
    return wire


PAYLOAD: dict[str, Any] = json.loads(b64url_decode(GOOD["payload"]))
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def duplicated_member(draw: st.DrawFn) -> bytes:
    """A member name given twice in one object of the outer document."""
    where = draw(st.sampled_from(["top", "signature", "header"]))
    value = json.dumps(draw(JUNK))
    if where == "top":
        name = draw(st.sampled_from(["payload", "signatures"]))
        return (GOOD_TEXT[:-1] + f',"{name}":{value}}}').encode()
    member = json.dumps(GOOD["signatures"][0], separators=(",", ":"))
    inner = json.dumps(GOOD["signatures"][0]["header"], separators=(",", ":"))
    if where == "signature":
        name = draw(st.sampled_from(["protected", "signature", "header"]))
        return GOOD_TEXT.replace(member, member[:-1] + f',"{name}":{value}}}').encode()
    return GOOD_TEXT.replace(inner, inner[:-1] + f',"disclosures":{value}}}').encode()


@st.composite
def signed_payload_mutation(draw: st.DrawFn) -> bytes:
    """A payload, signed by a pinned key, with a member twice, of the wrong type, missing,
    or with any time claims."""
    claims = dict(PAYLOAD)
    kind = draw(st.sampled_from(["duplicate", "wrong_type", "missing", "times"]))
    name = draw(st.sampled_from(sorted(claims)))
    if kind == "duplicate":
        text = json.dumps(claims, sort_keys=True, separators=(",", ":"))
        text = text[:-1] + f',"{name}":{json.dumps(claims[name])}}}'
        return json.dumps(resign(text)).encode()
    if kind == "wrong_type":
        claims[name] = draw(JUNK)
    elif kind == "missing":
        del claims[name]
    else:
        base = int(T0.timestamp())
        seconds = st.integers(min_value=-(2**63), max_value=2**63) | st.integers(
            min_value=base - 10**8, max_value=base + 10**8
        )
        claims["iat"], claims["exp"] = draw(seconds), draw(seconds)
    try:
        text = json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:  # a float JSON cannot write
        text = "{}"
    return json.dumps(resign(text)).encode()


@st.composite
def structural_mutation(draw: st.DrawFn) -> bytes:
    """Bytes of the good envelope cut, spliced, flipped, re-encoded or nested."""
    raw = GOOD_TEXT.encode()
    kind = draw(st.sampled_from(["cut", "flip", "insert", "encode", "nest", "replace"]))
    if kind == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if kind == "insert":
        i = draw(st.integers(0, len(raw)))
        return raw[:i] + draw(st.binary(min_size=1, max_size=8)) + raw[i:]
    if kind == "encode":
        codec = draw(st.sampled_from(["utf-16", "utf-16-be", "utf-32", "utf-8-sig", "latin-1"]))
        return (GOOD_TEXT + draw(st.sampled_from(["", "é"]))).encode(codec)
    if kind == "nest":
        depth = draw(st.integers(1, 3000))
        return b'{"payload":' + b"[" * depth + b"]" * depth + b"}"
    path = draw(st.sampled_from(["payload", "signatures", "signatures.0", "signatures.0.header"]))
    wire: dict[str, Any] = json.loads(GOOD_TEXT)
    holder: Any = wire
    *parents, last = path.split(".")
    for part in parents:
        holder = holder[int(part)] if part.isdigit() else holder[part]
    key: Any = int(last) if last.isdigit() else last
    holder[key] = draw(JUNK)
    try:
        return json.dumps(wire).encode()
    except ValueError:
        return b"{}"


@FUZZ
@given(body=duplicated_member())
def test_a_member_name_twice_is_malformed(body: bytes) -> None:
    assert outcome(body) == Reason.MALFORMED


@FUZZ
@given(body=signed_payload_mutation())
def test_a_signed_payload_of_any_shape_gets_a_known_refusal(body: bytes) -> None:
    outcome(body)  # "ok" only for times inside every bound; else a known code


@FUZZ
@given(body=structural_mutation())
def test_mutated_envelope_bytes_get_a_known_refusal(body: bytes) -> None:
    outcome(body)


@pytest.mark.parametrize(
    "kind", ["duplicate", "lifetime", "before_key", "too_old", "in_the_future"]
)
def test_the_signed_mutations_map_to_their_codes(kind: str) -> None:
    claims = dict(PAYLOAD)
    iat = int(T0.timestamp())
    if kind == "duplicate":
        text = json.dumps(claims, sort_keys=True, separators=(",", ":"))
        text = text[:-1] + ',"topic":"intel"}'
        assert outcome(json.dumps(resign(text)).encode()) == Reason.MALFORMED
        return
    claims["iat"], claims["exp"], expected = {
        "lifetime": (iat, iat + 3650 * 86400, Reason.LIFETIME_TOO_LONG),
        "before_key": (iat - 40 * 86400, iat + 3600, Reason.ISSUED_BEFORE_KEY),
        "too_old": (iat - 3 * 86400, iat + 86400, Reason.TOO_OLD),
        "in_the_future": (iat + 3600, iat + 7200, Reason.NOT_YET_VALID),
    }[kind]
    text = json.dumps(claims, sort_keys=True, separators=(",", ":"))
    assert outcome(json.dumps(resign(text)).encode()) == expected


def test_the_unmutated_envelope_is_accepted() -> None:
    assert outcome(GOOD_TEXT.encode()) == "ok"
    assert EnvelopeId(PAYLOAD["jti"])
