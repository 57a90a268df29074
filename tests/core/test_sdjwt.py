"""SD-JWT (RFC 9901) Disclosures: the RFC's own values and the withholding demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.core.jws import verify_compact
from relay.core.sdjwt import (
    check_disclosures,
    decode_disclosure,
    disclosure_digest,
    make_array_disclosure,
    make_disclosure,
)
from relay.core.signing import b64url_decode, b64url_encode
from relay.errors import VerificationError

V = json.loads(
    (Path(__file__).parents[1] / "data" / "vectors" / "rfc9901-sd-jwt.json").read_text("utf-8")
)
OBJ = V["official"]["object_property_disclosure"]
ARR = V["official"]["array_element_disclosure"]
DEMO = V["derived_withholding_demo"]


def test_official_object_property_disclosure_decodes_and_digests():
    found = decode_disclosure(OBJ["disclosure"])
    assert [found.salt, found.name, found.value] == OBJ["array"]
    assert disclosure_digest(OBJ["disclosure"]) == OBJ["sha256_digest_b64url"]
    assert found.digest == OBJ["sha256_digest_b64url"]


def test_made_disclosure_is_the_compact_equivalent_encoding():
    """We write Disclosures as JCS: the RFC's no-whitespace equivalent encoding, byte for byte."""
    made = make_disclosure(*OBJ["array"])
    assert made == OBJ["equivalent_encodings"][1]
    assert decode_disclosure(made).value == "Möbius"


def test_equivalent_encodings_decode_alike_but_digest_differently():
    encodings = [OBJ["disclosure"], *OBJ["equivalent_encodings"]]
    decoded = [decode_disclosure(e) for e in encodings]
    assert all([d.salt, d.name, d.value] == OBJ["array"] for d in decoded)
    assert len({d.digest for d in decoded}) == len(encodings)


def test_official_array_element_disclosure_decodes_and_digests():
    found = decode_disclosure(ARR["disclosure"])
    assert found.name is None
    assert [found.salt, found.value] == ARR["array"]
    assert disclosure_digest(ARR["disclosure"]) == ARR["sha256_digest_b64url"]
    made = make_array_disclosure(*ARR["array"])
    assert json.loads(b64url_decode(made)) == ARR["array"]


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("issuance_compact", "issued_claims"),
        ("presentation_without_informant", "expected_claims_without_informant"),
        ("presentation_no_disclosures", "expected_claims_no_disclosures"),
    ],
)
def test_withholding_demo_presentation_verifies_with_expected_claims(form, expected):
    jwt, *disclosures = DEMO[form].split("~")
    _, payload_bytes = verify_compact(jwt, b64url_decode(DEMO["issuer_public_jwk"]["x"]))
    payload = json.loads(payload_bytes)
    claims = {k: v for k, v in payload.items() if k not in ("_sd", "_sd_alg")}
    for found in check_disclosures([d for d in disclosures if d], payload["_sd"]):
        claims[found.name] = found.value
    assert claims == DEMO[expected]


def test_withholding_demo_issuer_jwt_is_identical_in_every_form():
    forms = ("issuance_compact", "presentation_without_informant", "presentation_no_disclosures")
    assert len({DEMO[f].split("~")[0] for f in forms}) == 1


def test_disclosure_not_listed_in_sd_is_refused():
    with pytest.raises(VerificationError) as refused:
        check_disclosures([OBJ["disclosure"]], [ARR["sha256_digest_b64url"]])
    assert refused.value.code == "disclosure_invalid"


def test_disclosure_given_twice_is_refused():
    with pytest.raises(VerificationError) as refused:
        check_disclosures([OBJ["disclosure"]] * 2, [OBJ["sha256_digest_b64url"]])
    assert refused.value.code == "disclosure_duplicate"


@pytest.mark.parametrize(
    "array", [[], ["salt-only"], [1, "name", "v"], ["s", "_sd", "v"], ["s", "n", "v", "x"], {}]
)
def test_malformed_disclosure_is_refused(array):
    with pytest.raises(VerificationError) as refused:
        decode_disclosure(b64url_encode(json.dumps(array).encode()))
    assert refused.value.code == "malformed"


def test_short_salt_is_refused_when_making_a_disclosure():
    with pytest.raises(ValueError, match="salt"):
        make_disclosure("short", "line.0", "text")
