"""``relay.core.json_strict.loads_strict`` as the federation listener uses it: one spelling of
a JSON document, or the code a peer is answered with (``JsonRefused.peer_code``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.json_strict import JsonRefused, loads_strict


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"a":1,"a":2}', "malformed"),
        (b'{"x":[{"y":1,"y":1}]}', "malformed"),
        ('{"a":1}'.encode("utf-16"), "malformed"),
        ('{"a":1}'.encode("utf-16-be"), "malformed"),
        ('{"a":1}'.encode("utf-32"), "malformed"),
        (b"\xef\xbb\xbf{}", "malformed"),
        (b'{"a":"\xc0\xaf"}', "malformed"),  # overlong
        (b'{"a":"\xed\xa0\x80"}', "malformed"),  # an encoded surrogate
        (b'["\\ud800"]', "malformed"),  # an escaped lone surrogate
        (b"[NaN]", "malformed"),
        (b"[" * 65 + b"]" * 65, "malformed"),
        (b"{not json", "bad_request"),
        (b"", "bad_request"),
        (b"1" * 5000, "bad_request"),
        (b" " * 11, "too_large"),
    ],
)
def test_refusals_carry_their_code(body: bytes, code: str) -> None:
    with pytest.raises(JsonRefused) as info:
        loads_strict(body, max_bytes=10 if code == "too_large" else 1 << 20)
    assert info.value.peer_code == code


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert loads_strict(json.dumps(["[" * 100, '\\"{' * 50]).encode()) == ["[" * 100, '\\"{' * 50]
    assert loads_strict(b"[" * 64 + b"]" * 64) is not None


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_what_json_writes_it_reads_back(value: object) -> None:
    try:
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 form
        return
    assert loads_strict(body) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_value_or_a_strict_json_error(body: bytes) -> None:
    try:
        loads_strict(body)
    except JsonRefused as exc:
        assert exc.peer_code in ("malformed", "bad_request", "too_large")  # noqa: PT017


def test_an_unclosed_string_is_one_token_not_a_scan_restarted_at_every_quote() -> None:
    # '"' + '\\"' * n: a string pattern that must close failed at the end and was tried again
    # from every later quote (quadratic: hours at 1 MiB); now the string runs to the end once
    from relay.core.json_strict import _TOKEN

    body = b'"' + b'\\"' * 300_000
    assert [m.span() for m in _TOKEN.finditer(body)] == [(0, len(body))]
    with pytest.raises(JsonRefused):
        loads_strict(body, max_bytes=1 << 24)


def test_infinity_by_another_spelling_is_refused() -> None:
    with pytest.raises(JsonRefused) as info:
        loads_strict(b"[1e999]")
    assert info.value.peer_code == "malformed"
    assert loads_strict(b"[1.5, -2e10]") == [1.5, -2e10]
