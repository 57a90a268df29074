"""Receipt tokens: ids and codes only, signed by the reporter, verified against pinned keys."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.receipt import ReceiptStatus, receipt_id, sign_receipt, verify_receipt
from relay.errors import ReceiptError

AT = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
MA, CT = "MA9990200", "CT9990100"
KEY = Ed25519PrivateKey.generate()
KID = f"{MA}#2026-k1"


def _ring(*, revoked: bool = False, agency: str = MA) -> Keyring:
    return Keyring.of(
        [
            PinnedKey(
                kid=KeyId(KID),
                agency=AgencyId(agency),
                public_key=KEY.public_key().public_bytes_raw(),
                not_before=AT - dt.timedelta(days=1),
                revoked=revoked,
            )
        ]
    )


def _token(**over: object) -> str:
    args: dict[str, object] = {
        "reporter": MA,
        "origin": CT,
        "envelope_id": "CT9990100.C0HAVE00.1700000000.000100",
        "status": ReceiptStatus.REFUSED,
        "reason": "informant.source",
        "at": AT,
    }
    args.update(over)
    return sign_receipt(KEY, KID, **args)  # type: ignore[arg-type]


def test_a_receipt_verifies_and_names_ids_and_codes_only() -> None:
    got = verify_receipt(_token(), _ring(), AT)
    assert (got.reporter, got.origin, got.status, got.reason) == (
        MA,
        CT,
        ReceiptStatus.REFUSED,
        "informant.source",
    )
    assert got.id == receipt_id(MA, CT, "CT9990100.C0HAVE00.1700000000.000100", "refused")
    # the same outcome reported later is the same receipt (deduplicated)
    later = verify_receipt(
        _token(at=AT + dt.timedelta(minutes=5)), _ring(), AT + dt.timedelta(hours=1)
    )
    assert later.id == got.id


@pytest.mark.parametrize(
    "over",
    [
        {"reason": "Confidential informant Ray Dunn"},  # text is not a code
        {"envelope_id": "an id with spaces"},
        {"reporter": "not-an-ori"},
        {"status": "shown_to_everyone"},
    ],
)
def test_a_receipt_carries_no_text(over: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"agency|kid|envelope id|reason|not a valid"):
        _token(**over)


def _tampered(claims: dict[str, object]) -> str:
    header, _, sig = _token().split(".")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{sig}"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("x.y", "malformed"),
        ("a" * 5000, "malformed"),
        (None, "malformed"),
        (
            _tampered(
                {
                    "iss": MA,
                    "env_iss": CT,
                    "env": "e1",
                    "status": "posted",
                    "at": "2026-12-06T12:00:00.000000Z",
                }
            ),
            "signature_invalid",
        ),
        (
            _tampered(
                {
                    "iss": MA,
                    "env_iss": CT,
                    "env": "e1",
                    "status": "posted",
                    "at": "2026-12-06T12:00:00.000000Z",
                    "text": "x",
                }
            ),
            "malformed",
        ),
    ],
)
def test_bad_receipts_are_refused_with_a_code(token: object, code: str) -> None:
    with pytest.raises(ReceiptError) as err:
        verify_receipt(token, _ring(), AT)
    assert err.value.code == code


def test_a_revoked_or_foreign_key_verifies_nothing() -> None:
    with pytest.raises(ReceiptError) as err:
        verify_receipt(_token(), _ring(revoked=True), AT)
    assert err.value.code == "key_revoked"
    with pytest.raises(ReceiptError) as err:
        verify_receipt(_token(), _ring(agency="NY9990300"), AT)
    assert err.value.code == "issuer_mismatch"
