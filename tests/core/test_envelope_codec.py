"""The fast envelope codecs agree byte for byte with canonical, sdjwt and signing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core import envelope_codec as fast
from relay.core import sdjwt, signing
from relay.core.canonical import CanonicalizationError, JSONValue, canonicalize, parse_json
from relay.errors import VerificationError

SETTINGS = settings(max_examples=500, deadline=None, database=None, derandomize=True)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF)),  # surrogates too
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=20,
)


def _reference(value: JSONValue) -> bytes | None:
    try:
        return canonicalize(value)
    except CanonicalizationError:
        return None


def _fast(value: JSONValue) -> bytes | None:
    try:
        return fast.canonical_bytes(value)
    except CanonicalizationError:
        return None


@SETTINGS
@given(json_values)
def test_canonical_bytes_equals_canonicalize(value):
    assert _fast(value) == _reference(value)


def test_canonical_bytes_escapes_every_character_as_jcs_does():
    for start in range(0, 0x110000, 0x800):
        chunk = "".join(chr(c) for c in range(start, start + 0x800) if not 0xD800 <= c < 0xE000)
        assert _fast({chunk: [chunk]}) == _reference({chunk: [chunk]})


def _parse_reference(raw: bytes) -> JSONValue:
    try:
        value = parse_json(raw)
    except (ValueError, RecursionError):
        return "not-json"
    canonical = _reference(value)
    return value if canonical == raw else "not-jcs"


def _parse_fast(raw: bytes) -> JSONValue:
    try:
        return fast.parse_canonical(raw, where="x")
    except VerificationError as exc:
        code = exc.code if exc.code != "malformed" else ""
        return code or ("not-json" if "not JSON" in exc.message else "not-jcs")


def _spellings(value: JSONValue) -> list[bytes]:
    """The JCS bytes of ``value`` and a few near-canonical spellings of it."""
    out = []
    canonical = _reference(value)
    if canonical is not None:
        out.append(canonical)
    spellings: list[tuple[bool, tuple[str, str] | None, bool]] = [
        (False, (",", ":"), True),
        (True, (",", ":"), True),
        (False, (",", ":"), False),
        (True, None, False),  # json.dumps's defaults
    ]
    for ensure_ascii, separators, sort_keys in spellings:
        with contextlib.suppress(UnicodeEncodeError, ValueError):
            spelled = json.dumps(
                value, ensure_ascii=ensure_ascii, separators=separators, sort_keys=sort_keys
            )
            out.append(spelled.encode("utf-8"))
    return out


@SETTINGS
@given(json_values)
def test_parse_canonical_accepts_exactly_what_the_reference_accepts(value):
    for raw in _spellings(value):
        expected = _parse_reference(raw)
        got = _parse_fast(raw)
        assert (got if isinstance(got, str) else "ok") == (
            expected if isinstance(expected, str) else "ok"
        ), raw
        if not isinstance(expected, str):
            assert got == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":1}',
        b'{"a":1.0}',
        b'{"a":1e2}',
        b'{"a":-0}',
        b'{"a":9007199254740993}',
        b'{"a":1000000000000000}',
        b'{"a":"\\ud800"}',
        b'{"\xf0\x9f\x98\x80":1,"\xef\xbd\xa1":2}',
        b'{"\xef\xbd\xa1":2,"\xf0\x9f\x98\x80":1}',
        b'{"a":NaN}',
        b' {"a":1}',
        b'{"a":1} ',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":"\\u00e9"}',
        b'{"a":"\xc3\xa9"}',
        b'{"a":"\\u001f"}',
        b'{"a":"\\u007f"}',
        b'{"a":"\x7f"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_parse_canonical_edge_cases_match_the_reference(raw):
    expected = _parse_reference(raw)
    got = _parse_fast(raw)
    assert (got if isinstance(got, str) else "ok") == (
        expected if isinstance(expected, str) else "ok"
    )


@SETTINGS
@given(st.one_of(st.binary(max_size=40).map(signing.b64url_encode), st.text(max_size=12)))
def test_b64url_decode_accepts_and_refuses_exactly_as_signing(text):
    try:
        expected = signing.b64url_decode(text)
    except ValueError:
        expected = None
    try:
        got = fast.b64url_decode(text)
    except ValueError:
        got = None
    assert got == expected


@SETTINGS
@given(st.binary(max_size=100))
def test_b64url_encode_equals_signing(data):
    assert fast.b64url_encode(data) == signing.b64url_encode(data)


salts = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=16)


@SETTINGS
@given(salts.filter(lambda s: len(s) <= 64), st.text(max_size=12), json_values)
def test_make_disclosure_equals_sdjwt(salt, name, value):
    def run(make: Callable[[str, str, JSONValue], str]) -> str:
        try:
            return make(salt, name, value)
        except ValueError as exc:  # CanonicalizationError included
            return type(exc).__name__

    assert run(fast.make_disclosure) == run(sdjwt.make_disclosure)


@SETTINGS
@given(
    st.one_of(
        json_values.map(lambda v: signing.b64url_encode(json.dumps(v).encode("utf-8", "replace"))),
        st.lists(json_values, max_size=4).map(
            lambda v: signing.b64url_encode(json.dumps(v, indent=1).encode("utf-8", "replace"))
        ),
        st.text(max_size=20),
    )
)
def test_decode_disclosure_equals_sdjwt(encoded):
    def run(decode: Callable[[str], object]) -> object:
        try:
            return decode(encoded)
        except VerificationError as exc:
            return exc.code

    assert run(fast.decode_disclosure) == run(sdjwt.decode_disclosure)
