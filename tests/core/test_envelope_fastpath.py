"""Each fast path of the envelope hot loop equals the exact path it stands in for.

The payload regex (``payload_from_jcs``) and direct writer (``payload_jcs_text``), the batch
Disclosure reader, digests and writer, and the wire-shape shortcuts are each run against the
reference on generated input, valid and not: same value, same bytes, same refusal.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core import envelope, envelope_verify, envelope_wire
from relay.core import envelope_codec as fast
from relay.core.allowlist import Fields
from relay.core.canonical import canonicalize
from relay.core.envelope_claims import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    Payload,
    parse_payload,
    payload_from_jcs,
    payload_from_json,
    payload_jcs_text,
)
from relay.core.jws import sign_compact, verify_compact
from relay.core.model import AgencyId
from relay.core.signing import b64url_encode, public_key_bytes
from relay.errors import VerificationError

SETTINGS = settings(max_examples=400, deadline=None, database=None, derandomize=True)
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
tricky = st.text(st.sampled_from('aZ09 "\\/\x00\x1f\x7f\u00e9\u2028\U0001f600.-_:#'), max_size=8)
ori = st.from_regex(r"[A-Z]{2}[A-Z0-9]{7}", fullmatch=True)
envelope_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,10}", fullmatch=True)
digests = st.lists(st.text(B64, min_size=43, max_size=43), max_size=4, unique=True)
names = st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=12)


@st.composite
def valid_payloads(draw):
    kind = draw(st.sampled_from(EnvelopeKind))
    iat = draw(st.integers(min_value=0, max_value=10**15 - 2))
    return Payload(
        iss=draw(ori),
        aud=draw(st.none() | ori),
        onward=draw(st.booleans()),
        jti=draw(envelope_ids),
        iat=iat,
        exp=draw(st.integers(min_value=iat + 1, max_value=10**15 - 1)),
        kind=kind,
        topic=draw(st.sampled_from(["bolo", "a.b-c_d", "0"])),
        marking=draw(st.sampled_from(["LES", "CUI//SP-INV", "U 1"])),
        author=Author(
            name=draw(st.one_of(names, st.text('ab"\\', min_size=1, max_size=12))),
            agency=draw(ori),
        ),
        thread=draw(st.none() | envelope_ids),
        target=None if kind is EnvelopeKind.POST else draw(envelope_ids),
        sd=tuple(sorted(draw(digests))),
    )


# Members near (or past) the edge of what the parser takes; each replaces one member.
_NAME_EDGES = ["a\x7fb", "a\x1fb", "a\u2028b", "\\" * 200, '"' * 200, '"' * 201, "x" * 201, ""]
EDGES: dict[str, list[object]] = {
    "iss": ["ct9990100", "CT999010", "CT99901000", ""],
    "aud": ["CT999010", "C\u00e99990100", None],
    "onward": [False, True],
    "jti": ["", "a b", "x" * 128, "x" * 129, 'a"b', "a\\b"],
    "iat": [-1, 0, 10**15 - 1, 10**15, 2**53 - 1, 2**53, 2**60],
    "exp": [-1, 0, 1, 10**15, 2**53 - 1, 2**53],
    "kind": list(EnvelopeKind),
    "topic": ["Bolo", "", "x" * 80, "x" * 81, "-a", "a/b"],
    "marking": ["les", "L\tS", "X" * 64, "X" * 65, "A\x7f"],
    "author": [
        *(Author(name=name, agency=AgencyId("CT9990100")) for name in _NAME_EDGES),
        Author(name="A", agency=AgencyId("ct9990100")),
    ],
    "thread": ["", "a/b", "x" * 129, None],
    "target": ["", "x" * 129, "e-1", None],
    "sd": [("A" * 42,), ("A" * 44,), ("B" * 43, "A" * 43), ("A" * 43, "A" * 43), ("A" * 43,)],
}
MUTATIONS = {key: st.sampled_from(values) for key, values in EDGES.items()}
MUTATIONS["author"] = st.one_of(
    MUTATIONS["author"],
    st.one_of(tricky, any_text, st.text('ab"\\', min_size=195, max_size=205)).map(
        lambda name: Author(name=name, agency=AgencyId("CT9990100"))
    ),
)
MUTATIONS["sd"] = st.one_of(
    MUTATIONS["sd"], st.lists(st.text(B64, min_size=42, max_size=44), max_size=3).map(tuple)
)


@st.composite
def payloads(draw):
    payload = draw(valid_payloads())
    key = draw(st.sampled_from([None, None, *sorted(MUTATIONS)]))
    if key is None:
        return payload
    return dataclasses.replace(payload, **{key: draw(MUTATIONS[key])})


def _outcome(run: Callable[..., object], *args: object, **kwargs: object) -> object:
    try:
        return run(*args, **kwargs)
    except VerificationError as exc:
        return (exc.code, exc.message)
    except ValueError as exc:  # CanonicalizationError, UnicodeError
        return type(exc).__name__


def _exact_parse(raw: bytes) -> Payload:
    return payload_from_json(fast.parse_canonical(raw, where="payload"))


def _spellings(payload: Payload) -> list[bytes]:
    value = payload.to_json()
    out = []
    text = payload_jcs_text(payload)
    if text is not None:
        out.append(text.encode("utf-8", "surrogatepass"))
    for ensure_ascii, separators, sort_keys in (
        (False, (",", ":"), True),
        (True, (",", ":"), True),
        (False, (", ", ":"), True),
        (False, (",", ":"), False),
    ):
        spelled = json.dumps(
            value, ensure_ascii=ensure_ascii, separators=separators, sort_keys=sort_keys
        )
        out.append(spelled.encode("utf-8", "surrogatepass"))
    return out


@SETTINGS
@given(payloads())
def test_payload_regex_path_equals_the_exact_parser(payload):
    for raw in _spellings(payload):
        expected = _outcome(_exact_parse, raw)
        assert _outcome(parse_payload, raw) == expected, raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        fast_value = payload_from_jcs(text)
        assert fast_value is None or fast_value == expected, raw


BASE = Payload(
    iss=AgencyId("CT9990100"),
    aud=AgencyId("NY0300000"),
    onward=True,
    jti=EnvelopeId("e-1"),
    iat=1,
    exp=2,
    kind=EnvelopeKind.POST,
    topic="bolo",
    marking="LES",
    author=Author(name="Det. A. Smith", agency=AgencyId("CT9990100")),
    thread=None,
    target=None,
    sd=("A" * 43, "B" * 43),
)


@pytest.mark.parametrize(
    ("key", "value"), [(key, value) for key, values in EDGES.items() for value in values]
)
def test_payload_regex_path_equals_the_exact_parser_at_each_edge(key, value):
    for base in (
        BASE,
        dataclasses.replace(BASE, kind=EnvelopeKind.EDIT, target=EnvelopeId("e-0")),
    ):
        payload = dataclasses.replace(base, **{key: value})
        for raw in _spellings(payload):
            assert _outcome(parse_payload, raw) == _outcome(_exact_parse, raw), raw


@SETTINGS
@given(payloads())
def test_payload_writer_equals_jcs_where_the_builder_uses_it(payload):
    text = payload_jcs_text(payload)
    if text is None or payload_from_jcs(text) != payload:
        return
    assert text.encode() == fast.checked_json_bytes(payload.to_json())
    assert text.encode() == canonicalize(payload.to_json())


def test_payload_regex_path_takes_the_usual_payload():
    """The fast path is not vacuous: a plain payload, with escapes in the name, takes it."""
    payload = Payload(
        iss=AgencyId("CT9990100"),
        aud=AgencyId("NY0300000"),
        onward=True,
        jti=EnvelopeId("e-1"),
        iat=1,
        exp=2,
        kind=EnvelopeKind.EDIT,
        topic="bolo",
        marking="LES",
        author=Author(name='Det. "A\\" Smith \u00e9\U0001f600', agency=AgencyId("CT9990100")),
        thread=EnvelopeId("t-1"),
        target=EnvelopeId("e-0"),
        sd=("A" * 43, "B" * 43),
    )
    text = payload_jcs_text(payload)
    assert text is not None
    assert payload_from_jcs(text) == payload == _exact_parse(text.encode())


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORIGIN = AgencyId("CT9990100")


@SETTINGS
@given(
    payloads(),
    st.lists(st.one_of(tricky, any_text, st.just("x" * 40_001)), max_size=3),
    st.integers(min_value=0, max_value=3),
)
def test_build_fast_path_equals_the_exact_build(payload, lines, bad_salt):
    salts = [f"salt-{i:02d}-0123456789abcdef" for i in range(len(lines))]
    if bad_salt < len(salts):
        salts[bad_salt] = "short"

    def build():
        return envelope.build_envelope(
            issuer=payload.iss,
            audience=payload.aud,
            onward=payload.onward and payload.aud is not None,
            envelope_id=payload.jti,
            issued_at=T0 + timedelta(seconds=payload.iat % 10**6),
            expires_at=T0 + timedelta(seconds=payload.exp % 10**6),
            kind=payload.kind,
            topic=payload.topic,
            marking=payload.marking,
            author=payload.author,
            lines=lines,
            salts=salts,
            thread=payload.thread,
            target=payload.target,
        )

    def slow_lines(salts, lines):
        pairs = enumerate(zip(salts, lines, strict=True))
        return [fast.make_disclosure(s, f"line.{i}", t) for i, (s, t) in pairs]

    got = _outcome(build)
    with (
        mock.patch.object(envelope, "_fast_payload_bytes", return_value=None),
        mock.patch.object(envelope, "make_line_disclosures", slow_lines),
    ):
        expected = _outcome(build)
    assert got == expected


def _encodable(text: str) -> bool:
    return not re.search("[\ud800-\udfff]", text)


def _b64(text: str) -> str:
    return b64url_encode(text.encode("utf-8", "surrogatepass"))


lines_text = st.one_of(tricky, any_text)
line_disclosures = st.tuples(
    st.text(B64, min_size=16, max_size=20), st.integers(0, 12), lines_text
).map(lambda t: fast.make_disclosure(t[0], f"line.{t[1]}", t[2]) if _encodable(t[2]) else "")
odd_disclosures = st.one_of(
    line_disclosures.map(lambda d: d[:-1]),  # wrong length or stray bits
    line_disclosures.map(lambda d: d + "A"),
    st.text(B64, max_size=12),
    st.lists(lines_text, max_size=4).map(lambda v: _b64(json.dumps(v))),
    st.lists(lines_text, max_size=4).map(lambda v: _b64(json.dumps(v, ensure_ascii=False))),
    st.just(_b64(' ["saltsaltsaltsalt","line.0","x"]')),
    st.just(_b64('["saltsaltsaltsalt","line.0","x"] ')),
    st.just(_b64('["saltsaltsaltsalt","_sd","x"]')),
    st.just(_b64('["saltsaltsaltsalt","x"]')),
    st.just(_b64('["saltsaltsaltsalt","line.0",1e5]')),
    st.just(_b64('["saltsaltsaltsalt","line.0",NaN]')),
    st.just(_b64('["s","line.1",{"a":1,"a":2}]')),
    st.just("\u00e9" * 4),
)


def _read_exact(disclosures: list[str]) -> list[tuple[str, str | None, object]]:
    return [(d, n, v) for d, _, n, v in map(fast.read_disclosure, disclosures)]


@SETTINGS
@given(st.lists(st.one_of(line_disclosures, odd_disclosures), max_size=5))
def test_batch_disclosure_reader_equals_one_at_a_time(disclosures):
    got = fast.read_disclosures(disclosures)
    expected = _outcome(_read_exact, disclosures)
    if got is not None:
        assert got == expected
    elif all(map(_encodable_and_plain, disclosures)):
        pytest.fail("a list of plain line Disclosures took the exact path")
    assert fast.disclosure_digests([d for d in disclosures if d.isascii()]) == [
        fast.disclosure_digest(d) for d in disclosures if d.isascii()
    ]


def _encodable_and_plain(disclosure: str) -> bool:
    """Made by make_disclosure from ASCII text: the batch reader must take all of these."""
    try:
        raw = fast.b64url_decode(disclosure)
        salt, name, text = json.loads(raw)
        return raw.isascii() and fast.make_disclosure(salt, name, text) == disclosure
    except (ValueError, TypeError):
        return False


@SETTINGS
@given(
    st.lists(st.one_of(line_disclosures, odd_disclosures), max_size=5),
    st.lists(st.one_of(line_disclosures, odd_disclosures), max_size=5),
)
def test_verifier_disclosure_check_equals_the_exact_loop(disclosures, extra):
    sd = frozenset(fast.disclosure_digest(d) for d in disclosures if d.isascii())
    encoded = tuple(disclosures + extra + disclosures[:1])

    def check(items):
        return envelope_verify._check_disclosures(items, sd)

    for items in (tuple(disclosures), encoded):
        got = _outcome(check, items)
        with mock.patch.object(envelope_verify, "read_disclosures", return_value=None):
            assert got == _outcome(check, items)


@SETTINGS
@given(
    st.lists(st.text(B64, min_size=16, max_size=20), max_size=4),
    st.lists(st.one_of(tricky, any_text), max_size=4),
)
def test_batch_line_writer_equals_make_disclosure(salts, lines):
    salts = [*salts, "short", "x" * 65][: len(lines)]

    def one_by_one():
        pairs = enumerate(zip(salts, lines, strict=True))
        return [fast.make_disclosure(s, f"line.{i}", t) for i, (s, t) in pairs]

    assert _outcome(fast.make_line_disclosures, salts, lines) == _outcome(one_by_one)


wire_texts = st.one_of(st.text(B64, max_size=6), st.text("A,=+/ \u00e9\n", max_size=4), st.just(1))


@SETTINGS
@given(st.one_of(st.lists(wire_texts, max_size=5), wire_texts))
def test_disclosure_list_and_b64_members_equal_the_regex_checks(value):
    header = Fields({"disclosures": value}, where="header", allowed=("disclosures",))
    pattern = re.compile(r"[A-Za-z0-9_-]+")
    assert _outcome(envelope_wire._disclosure_list, header) == _outcome(
        header.text_list, "disclosures", pattern=pattern, max_items=512
    )

    member = Fields({"m": value}, where="s", allowed=("m",))
    got = _outcome(envelope_wire._b64_member, member, "m", where="s", max_len=5)
    if isinstance(value, str) and 0 < len(value) <= 5 and pattern.fullmatch(value):
        assert got == value
    else:
        assert got == ("malformed", "s.m is not base64url of 1-5 characters")


@SETTINGS
@given(any_text)
def test_text_control_check_equals_the_per_character_rule(text):
    fields = Fields({"t": text}, where="x", allowed=frozenset({"t"}))
    bad = any(ch < " " or ch == "\x7f" for ch in text)
    if 0 < len(text) <= 256:
        assert _outcome(fields.text, "t") == (
            ("malformed", "x.t holds control characters") if bad else text
        )


def test_unknown_fields_are_named_the_same_for_tuples_and_frozensets():
    value = {"a": 1, "zz": 2, "b c": 3}
    for allowed in (("a",), frozenset({"a"}), ["a"]):
        with pytest.raises(VerificationError) as err:
            Fields(value, where="p", allowed=allowed)
        assert (err.value.code, err.value.message) == (
            "unknown_field",
            "p has 2 unknown field(s) ['zz']",
        )


@pytest.mark.parametrize("alg", [["Ed25519"], {"a": 1}, None, 1])
def test_verify_compact_refuses_an_unhashable_or_missing_alg(alg):
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    compact = sign_compact(key, {"alg": alg}, b"{}")
    with pytest.raises(VerificationError) as err:
        verify_compact(compact, public_key_bytes(key))
    assert err.value.code == "signature_invalid"
