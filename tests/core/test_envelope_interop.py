"""Envelopes and outside JOSE / SD-JWT libraries (issue 15).

- Built outside: the JWS (General JSON, alg ``Ed25519``, RFC 9864) is signed by jwcrypto or
  joserfc, the SD-JWT part (salts, Disclosures, ``_sd`` digests) is written here from RFC 9901
  with ``hashlib``, not with the relay's code. The relay's verifiers accept a correct one and
  refuse tampered ones with the expected reason.
- Verified outside: the relay's own envelopes (origin and hops) verify with jwcrypto, joserfc
  and the ``sd-jwt`` reference implementation, which also recovers the disclosed lines.
- The reference implementation's own output (0.10.x: ``json.dumps`` with spaces, Disclosures
  in a top-level ``disclosures`` member) is not a relay envelope: refused ``malformed`` /
  ``unknown_field``, as docs/envelope.md explains.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

jwcrypto_jwk = pytest.importorskip("jwcrypto.jwk")
jwcrypto_jws = pytest.importorskip("jwcrypto.jws")
joserfc_jws = pytest.importorskip("joserfc.jws")
joserfc_jwk = pytest.importorskip("joserfc.jwk")
joserfc_registry = pytest.importorskip("joserfc.registry")
joserfc_errors = pytest.importorskip("joserfc.errors")
sd_jwt_issuer = pytest.importorskip("sd_jwt.issuer")
sd_jwt_verifier = pytest.importorskip("sd_jwt.verifier")
sd_jwt_common = pytest.importorskip("sd_jwt.common")

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from relay.core.envelope import verify_envelope  # noqa: E402
from relay.core.jws_verify import verify_jws_envelope  # noqa: E402
from relay.core.keys import public_jwk  # noqa: E402
from relay.core.reasons import Reason  # noqa: E402
from relay.core.signing import public_key_bytes  # noqa: E402
from relay.errors import VerificationError  # noqa: E402
from tests.core.test_envelope import (  # noqa: E402
    KEYS,
    LINES,
    RING,
    T0,
    A,
    B,
    C,
    as_wire,
    hop,
    kid,
    origin,
)

NOW = T0 + timedelta(minutes=5)
JWKS: dict[str, bytes] = {kid(x): public_key_bytes(k) for x, k in KEYS.items()}
Json = dict[str, Any]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jcs(value: Any) -> bytes:
    """JCS for the ASCII names, strings and small integers used here."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc9901_parts(lines: tuple[str, ...] = LINES) -> tuple[bytes, list[str]]:
    """The payload (JCS) and Disclosures of A's envelope to B, written from RFC 9901 section
    4.2.1 / 4.2.3: ``[salt, name, value]`` base64url, digest = b64url(sha256(ascii))."""
    disclosures = [
        b64(jcs([b64(secrets.token_bytes(16)), f"line.{i}", text])) for i, text in enumerate(lines)
    ]
    digests = sorted(b64(hashlib.sha256(d.encode()).digest()) for d in disclosures)
    payload = {
        "iss": A, "aud": B, "onward": True, "jti": "ext-0001",
        "iat": int(T0.timestamp()), "exp": int((T0 + timedelta(days=1)).timestamp()),
        "kind": "post", "topic": "bolo", "marking": "U//LES",
        "author": {"name": "Det. A. Smith", "agency": A},
        "_sd_alg": "sha-256", "_sd": digests,
    }  # fmt: skip
    return jcs(payload), disclosures


def origin_header(alg: str = "Ed25519") -> Json:
    return {"alg": alg, "kid": kid(A), "typ": "relay-envelope+sd-jwt"}


# -- building with each JOSE library ----------------------------------------------------------


def build_jwcrypto(payload: bytes, disclosures: list[str], *, alg: str = "Ed25519") -> Json:
    key = jwcrypto_jwk.JWK.from_pyca(KEYS[A])
    token = jwcrypto_jws.JWS(payload=payload)
    token.allowed_algs = ["Ed25519", "EdDSA"]
    token.add_signature(
        key,
        alg=alg,
        protected=jcs(origin_header(alg)).decode(),
        header=json.dumps({"disclosures": disclosures}),
    )
    flat = json.loads(token.serialize(compact=False))  # one signature: the flattened syntax
    member = {k: flat[k] for k in ("protected", "header", "signature")}
    return {"payload": flat["payload"], "signatures": [member]}  # RFC 7515 7.2.1 general


def _joserfc_registry() -> Any:
    header = {
        "disclosures": joserfc_registry.HeaderParameter("SD-JWT Disclosures", "list[str]"),
        "relay": joserfc_registry.HeaderParameter("relay hop record", lambda _: None),
    }
    registry = joserfc_jws.JWSRegistry(header_registry=header, algorithms=["Ed25519", "EdDSA"])
    registry.max_header_length = 8192  # joserfc's default 512 is less than a hop header's
    return registry


def build_joserfc(payload: bytes, disclosures: list[str], *, alg: str = "Ed25519") -> Json:
    key = joserfc_jwk.OKPKey.import_key(public_jwk_private(KEYS[A]))
    member = {"protected": origin_header(alg), "header": {"disclosures": disclosures}}
    with warnings.catch_warnings():  # "EdDSA is deprecated via RFC 9864": the refused case
        warnings.simplefilter("ignore", joserfc_errors.SecurityWarning)
        out = joserfc_jws.serialize_json([member], payload, key, registry=_joserfc_registry())
    return dict(out)


def public_jwk_private(key: Ed25519PrivateKey) -> Json:
    jwk = public_jwk(public_key_bytes(key))
    return jwk | {"d": b64(key.private_bytes_raw())}


BUILDERS: dict[str, Callable[..., Json]] = {"jwcrypto": build_jwcrypto, "joserfc": build_joserfc}


def relay_code(wire: Json) -> str:
    with pytest.raises(VerificationError) as info:
        verify_envelope(json.loads(json.dumps(wire)), RING, now=NOW, receiver=B)
    return info.value.code


@pytest.mark.parametrize("library", sorted(BUILDERS))
def test_an_envelope_signed_by_an_outside_library_verifies(library: str) -> None:
    payload, disclosures = rfc9901_parts()
    wire = BUILDERS[library](payload, disclosures)
    got = verify_envelope(json.loads(json.dumps(wire)), RING, now=NOW, receiver=B)
    assert tuple(line.text for line in got.lines) == LINES
    assert (got.issuer, got.marking, got.withheld) == (A, "U//LES", 0)
    claims = verify_jws_envelope(json.loads(json.dumps(wire)), JWKS, now=NOW).claims
    assert claims["line.0"] == LINES[0]


def _tampered_payload(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    wire = BUILDERS[library](payload, disclosures)
    claims = json.loads(payload)
    claims["topic"] = "intel"  # a signed claim changed after signing
    wire["payload"] = b64(jcs(claims))
    return wire


def _withheld_line_put_back(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    wire = BUILDERS[library](payload, disclosures)
    forged = b64(jcs([b64(secrets.token_bytes(16)), "line.1", "a line nobody signed"]))
    wire["signatures"][0]["header"]["disclosures"][1] = forged
    return wire


def _other_key(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    wire = BUILDERS[library](payload, disclosures)
    other = BUILDERS[library](payload + b" ", disclosures)  # a valid signature, other bytes
    wire["signatures"][0]["signature"] = other["signatures"][0]["signature"]
    return wire


def _disclosure_twice(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    return BUILDERS[library](payload, [*disclosures, disclosures[0]])


def _alg_eddsa(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    return BUILDERS[library](payload, disclosures, alg="EdDSA")


def _payload_not_jcs(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    spaced = json.dumps(json.loads(payload), indent=1).encode()
    return BUILDERS[library](spaced, disclosures)


def _extra_header_member(library: str) -> Json:
    payload, disclosures = rfc9901_parts()
    wire = BUILDERS[library](payload, disclosures)
    wire["signatures"][0]["header"]["kb"] = "x"
    return wire


TAMPERED: dict[str, tuple[Callable[[str], Json], set[str]]] = {
    "payload_claim_changed": (_tampered_payload, {Reason.SIGNATURE_INVALID}),
    "withheld_line_put_back": (_withheld_line_put_back, {Reason.DISCLOSURE_INVALID}),
    "signature_of_other_bytes": (_other_key, {Reason.SIGNATURE_INVALID}),
    "disclosure_twice": (_disclosure_twice, {Reason.DISCLOSURE_DUPLICATE}),
    # RFC 9864's fully specified name is the relay's one spelling; "EdDSA" is refused by the
    # relay's receiving check (schema-free `relay envelope verify` accepts both)
    "alg_eddsa": (_alg_eddsa, {Reason.MALFORMED}),
    "payload_not_jcs": (_payload_not_jcs, {Reason.MALFORMED}),
    "extra_header_member": (_extra_header_member, {Reason.UNKNOWN_FIELD}),
}


@pytest.mark.parametrize("library", sorted(BUILDERS))
@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_outside_envelope_is_refused(library: str, case: str) -> None:
    make, codes = TAMPERED[case]
    assert relay_code(make(library)) in codes


# -- the relay's envelopes, verified by the outside libraries --------------------------------


def relayed() -> Json:
    """A signs to B; B passes it on to C withholding line 2 (two signatures)."""
    wire: Json = as_wire(hop(origin(), B, frm=A, to=C, withhold_lines={2}))
    return wire


@pytest.mark.parametrize("wire", [as_wire(origin()), relayed()], ids=["origin", "hop"])
def test_jwcrypto_verifies_every_signature_of_a_relay_envelope(wire: Json) -> None:
    signers = [A, B][: len(wire["signatures"])]
    for member, signer in zip(wire["signatures"], signers, strict=True):
        token = jwcrypto_jws.JWS()
        token.allowed_algs = ["Ed25519"]
        token.deserialize(json.dumps({"payload": wire["payload"], **member}))
        token.verify(jwcrypto_jwk.JWK.from_pyca(KEYS[signer].public_key()))
        assert json.loads(token.payload)["iss"] == A
    token = jwcrypto_jws.JWS()
    token.allowed_algs = ["Ed25519"]
    token.deserialize(json.dumps(wire))
    with pytest.raises(jwcrypto_jws.InvalidJWSSignature):
        token.verify(jwcrypto_jwk.JWK.from_pyca(KEYS[C].public_key()))  # nobody's signature


@pytest.mark.parametrize("wire", [as_wire(origin()), relayed()], ids=["origin", "hop"])
def test_joserfc_verifies_every_signature_of_a_relay_envelope(wire: Json) -> None:
    keys = joserfc_jwk.KeySet(
        [
            joserfc_jwk.OKPKey.import_key(public_jwk(public_key_bytes(KEYS[x]), kid=kid(x)))
            for x in (A, B)
        ]
    )
    obj = joserfc_jws.deserialize_json(wire, keys, registry=_joserfc_registry())
    assert json.loads(obj.payload)["jti"] == "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
    wrong = joserfc_jwk.KeySet(
        [joserfc_jwk.OKPKey.import_key(public_jwk(public_key_bytes(KEYS[C]), kid=kid(x)))
         for x in (A, B)]
    )  # fmt: skip
    with pytest.raises(Exception, match="signature"):
        joserfc_jws.deserialize_json(wire, wrong, registry=_joserfc_registry())


def _sd_jwt_json(wire: Json) -> str:
    """The reference implementation's JSON form: the Disclosures in a top-level member."""
    disclosures = wire["signatures"][0]["header"]["disclosures"]
    return json.dumps({**wire, "disclosures": disclosures})


def test_the_sd_jwt_reference_implementation_verifies_a_relay_envelope() -> None:
    wire = as_wire(origin())
    public = jwcrypto_jwk.JWK.from_pyca(KEYS[A].public_key())
    verifier = sd_jwt_verifier.SDJWTVerifier(
        _sd_jwt_json(wire), lambda iss, header: public, serialization_format="json"
    )
    claims = verifier.get_verified_payload()
    assert [claims[f"line.{i}"] for i in range(len(LINES))] == list(LINES)
    assert claims["file.0"]["sha256"] == "ab" * 32
    assert claims["iss"] == A
    assert "_sd" not in claims


def test_the_sd_jwt_reference_implementation_sees_a_withheld_line_as_absent() -> None:
    wire = relayed()
    public = jwcrypto_jwk.JWK.from_pyca(KEYS[A].public_key())
    verifier = sd_jwt_verifier.SDJWTVerifier(
        _sd_jwt_json(wire), lambda iss, header: public, serialization_format="json"
    )
    claims = verifier.get_verified_payload()
    assert "line.2" not in claims
    assert claims["line.3"] == LINES[3]


def test_the_sd_jwt_reference_implementations_own_output_is_not_a_relay_envelope() -> None:
    """sd-jwt 0.10 signs ``json.dumps`` text (with spaces) and puts the Disclosures in a
    top-level member, so the relay's JCS and allowlist rules refuse it; its EdDSA/Ed25519
    signature itself is fine (the JOSE layer is jwcrypto)."""
    claims = {
        sd_jwt_common.SDObj("line.0"): LINES[0],
        "iss": A, "aud": B, "jti": "sdjwt-1", "iat": int(T0.timestamp()),
        "exp": int((T0 + timedelta(days=1)).timestamp()), "kind": "post", "topic": "bolo",
        "author": {"name": "Det. A. Smith", "agency": A},
    }  # fmt: skip
    issuer = sd_jwt_issuer.SDJWTIssuer(
        claims,
        jwcrypto_jwk.JWK.from_pyca(KEYS[A]),
        sign_alg="Ed25519",
        serialization_format="json",
        extra_header_parameters={"kid": kid(A), "typ": "relay-envelope+sd-jwt"},
    )
    doc = json.loads(issuer.sd_jwt_issuance)
    assert relay_code(doc) in {Reason.UNKNOWN_FIELD, Reason.MALFORMED}
    moved = {
        "payload": doc["payload"],
        "signatures": [{**doc["signatures"][0], "header": {"disclosures": doc["disclosures"]}}]
        if "signatures" in doc
        else [
            {
                "protected": doc["protected"],
                "header": {"disclosures": doc["disclosures"]},
                "signature": doc["signature"],
            }
        ],
    }
    assert relay_code(moved) == Reason.MALFORMED  # the payload is not its own JCS form
    # Its own verifier accepts what it built: the signature and digests are right.
    public = jwcrypto_jwk.JWK.from_pyca(KEYS[A].public_key())
    verified = sd_jwt_verifier.SDJWTVerifier(
        issuer.sd_jwt_issuance, lambda iss, header: public, serialization_format="json"
    ).get_verified_payload()
    assert verified["line.0"] == LINES[0]
