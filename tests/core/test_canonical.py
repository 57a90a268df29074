"""RFC 8785 (JCS): every upstream case and number sample, strictness, idempotence."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.canonical import CanonicalizationError, canonicalize, parse_json

VECTORS = json.loads(
    (Path(__file__).parents[1] / "data" / "vectors" / "rfc8785-jcs.json").read_text("utf-8")
)


def _double(ieee_hex: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(ieee_hex.rjust(16, "0")))[0]
    return value


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_upstream_case_canonicalizes_to_expected_bytes(case):
    got = canonicalize(json.loads(case["input_text"]))
    assert got == case["expected_output_utf8"].encode("utf-8")
    assert got == bytes.fromhex(case["expected_output_hex"])


@pytest.mark.parametrize(
    "sample",
    VECTORS["number_samples"] + VECTORS["number_edge_cases"]["cases"],
    ids=lambda s: s["ieee_hex"],
)
def test_number_serializes_like_ecmascript(sample):
    assert canonicalize(_double(sample["ieee_hex"])).decode() == sample["expected"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1.0, math.nan]])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


@pytest.mark.parametrize(
    "value",
    [{1, 2}, b"bytes", {1: "int key"}, 2**53 + 1, -(2**60 + 1), "\ud800", {"\udc00": 1}, object()],
    ids=["set", "bytes", "int-key", "inexact-int", "inexact-negative-int", "lone-surrogate",
         "surrogate-key", "object"],
)  # fmt: skip
def test_values_without_a_json_form_are_refused(value):
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


def test_canonicalization_error_is_a_value_error():
    assert issubclass(CanonicalizationError, ValueError)


def test_negative_zero_and_exact_integers():
    assert canonicalize([-0.0, 0, 2**53 - 1, -(2**53), 10**21, 1.0]) == (
        b"[0,0,9007199254740991,-9007199254740992,1e+21,1]"
    )


def test_control_characters_are_escaped_lowercase():
    assert canonicalize("\x00\x1f\x7f\u2028") == '"\\u0000\\u001f\x7f\u2028"'.encode()


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', '{"a":NaN}', "[Infinity]", "[-Infinity]"])
def test_strict_parser_refuses_duplicates_and_non_finite(text):
    with pytest.raises(ValueError, match=r"duplicate|not JSON"):
        parse_json(text)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(derandomize=True, database=None, max_examples=300)
@given(_json)
def test_canonical_form_is_idempotent(value):
    once = canonicalize(value)
    assert canonicalize(json.loads(once)) == once
