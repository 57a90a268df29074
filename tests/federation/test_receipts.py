"""Signed receipts over real HTTPS: what each partner did with an envelope comes back to its
origin, through the relaying hop, once, in the ledger; forged or malformed receipts are
refused; an older relay without the endpoint costs nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.receipt import ReceiptStatus, sign_receipt
from relay.errors import DeliveryError
from relay.store.contract import Store
from tests.federation.harness import NOW, Federation, policy_text
from tests.federation.test_multihop import BOLO, CT, FC, MA, RI, policies

BLOCK_ARMORED = """
  armored:
    regex: ['\\barmored car\\b']
"""


def _receipts(store: Store, envelope_id: str) -> set[tuple[str, str, str | None]]:
    return {(r.reporter, r.status, r.reason) for r in store.message_receipts(envelope_id)}


def _ledger(store: Store, event: str) -> list[tuple[str | None, str | None, str]]:
    return [
        (c.record.source, c.record.envelope_id, c.record.outcome)
        for c in store.audit_rows()
        if c.record.event == event
    ]


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation(tmp_path, [CT, FC, MA, RI])
    texts = policies()
    # Millbrook will not show a BOLO about an armored car (its own inbound rule).
    texts[MA] = (
        texts[MA]
        .replace("patterns:\n", "patterns:\n" + BLOCK_ARMORED)
        .replace(
            "detectors:\n",
            "detectors:\n  - id: local.armored\n    action: block\n    when: [armored]\n",
        )
    )
    await fed.start(texts)
    yield fed
    await fed.stop()


async def test_every_receiver_reports_back_to_the_origin_through_the_hop(
    federation: Federation,
) -> None:
    await federation.publish(CT, BOLO, "1.1", envelope_id="ct-0001")
    ct = federation.service(CT).store
    assert _receipts(ct, "ct-0001") == {
        (MA, "accepted", None),  # the answer to the envelope
        (MA, "posted", None),  # what became of it
        (FC, "accepted", None),
        (FC, "posted", None),
        (RI, "accepted", None),  # reached only through the fusion center: passed back by it
        (RI, "posted", None),
    }
    kept = _ledger(ct, "receipt")
    assert sorted(kept) == sorted(
        (o, "ct-0001", s) for o in (MA, FC, RI) for s in ("accepted", "posted")
    )
    # the fusion center recorded the receipt it passed back, and owes nothing more
    fc = federation.service(FC).store
    assert (RI, "ct-0001", "posted") in _ledger(fc, "receipt")
    assert fc.next_receipt_due() is None
    assert federation.service(MA).store.next_receipt_due() is None


async def test_a_refusal_by_the_receiving_policy_comes_back_with_its_rule(
    federation: Federation,
) -> None:
    text = "BOLO: stolen armored car, white, CT reg 77-ARM, last seen I-84 WB."
    await federation.publish(CT, text, "2.1", envelope_id="ct-0002")
    got = _receipts(federation.service(CT).store, "ct-0002")
    assert (MA, "refused", "local.armored") in got
    assert (RI, "posted", None) in got


async def test_a_receipt_given_twice_is_kept_once(federation: Federation) -> None:
    await federation.publish(CT, BOLO, "3.1", envelope_id="ct-0003")
    ma = federation.service(MA)
    token = sign_receipt(
        ma.key,
        ma.kid,
        reporter=MA,
        origin=CT,
        envelope_id="ct-0003",
        status=ReceiptStatus.POSTED,
        reason=None,
        at=NOW,
    )
    desk = federation.service(CT).parts.receipts
    assert await desk.take(MA, [token]) == [{"status": "duplicate"}]
    kept = [r for r in _ledger(federation.service(CT).store, "receipt") if r[1] == "ct-0003"]
    assert len(kept) == 6  # accepted and posted, from each of the three


async def test_forged_and_malformed_receipts_are_refused(federation: Federation) -> None:
    await federation.publish(CT, BOLO, "4.1", envelope_id="ct-0004")
    forger = Ed25519PrivateKey.generate()
    forged = sign_receipt(
        forger,
        f"{MA}#2026-k1",  # the kid MA's key is pinned under, another key
        reporter=MA,
        origin=CT,
        envelope_id="ct-0004",
        status=ReceiptStatus.REFUSED,
        reason="made_up",
        at=NOW,
    )
    unpinned = sign_receipt(
        forger,
        f"{MA}#forged",
        reporter=MA,
        origin=CT,
        envelope_id="ct-0004",
        status=ReceiptStatus.REFUSED,
        reason="made_up",
        at=NOW,
    )
    desk = federation.service(CT).parts.receipts
    answers = await desk.take(MA, [forged, unpinned, "not.a.receipt", 42])
    assert answers == [
        {"error": "signature_invalid"},
        {"error": "key_not_pinned"},
        {"error": "malformed"},
        {"error": "malformed"},
    ]
    assert (MA, "refused", "made_up") not in _receipts(federation.service(CT).store, "ct-0004")


async def test_a_receipt_dated_ahead_is_refused(federation: Federation) -> None:
    ma = federation.service(MA)
    ahead = sign_receipt(
        ma.key,
        ma.kid,
        reporter=MA,
        origin=CT,
        envelope_id="ct-0005",
        status=ReceiptStatus.POSTED,
        reason=None,
        at=NOW + dt.timedelta(hours=1),
    )
    desk = federation.service(CT).parts.receipts
    assert await desk.take(MA, [ahead]) == [{"error": "not_yet_valid"}]


async def test_a_receipt_about_an_envelope_never_passed_on_is_refused(
    federation: Federation,
) -> None:
    ri = federation.service(RI)
    token = sign_receipt(
        ri.key,
        ri.kid,
        reporter=RI,
        origin=CT,
        envelope_id="ct-never",
        status=ReceiptStatus.POSTED,
        reason=None,
        at=NOW,
    )
    assert await federation.service(FC).parts.receipts.take(RI, [token]) == [
        {"error": "partner_unknown"}
    ]


async def test_a_post_that_fails_for_good_is_reported_failed(tmp_path: Path) -> None:
    fed = Federation(tmp_path, [CT, MA])

    class Refusing:
        async def put(self, delivery: object) -> None:
            raise DeliveryError("slack refused", code="is_archived", retryable=False)

    fed.relays[MA].delivered = Refusing()  # type: ignore[assignment]
    await fed.start(
        {
            CT: policy_text(CT, [{"ori": MA}]),
            MA: policy_text(MA, [{"ori": CT}]),
        }
    )
    try:
        await fed.publish(
            CT, "BOLO: red Honda Civic, reg 4KT221, Route 2 EB.", "5.1", envelope_id="ct-0006"
        )
        got = _receipts(fed.service(CT).store, "ct-0006")
    finally:
        await fed.stop()
    assert got == {(MA, "accepted", None), (MA, "failed", "is_archived")}


async def test_receipts_to_a_relay_without_the_endpoint_are_dropped_and_counted(
    federation: Federation,
) -> None:
    from aiohttp import web  # noqa: F401 - the relay's own listener is the one answering

    # Millbrook's client is pointed at a path that answers 404 for receipts: its own relay
    # URL with a prefix no route has.
    ma = federation.service(MA)
    ma.urls[CT] = ma.urls[CT] + "/old"
    await federation.publish(CT, BOLO, "6.1", envelope_id="ct-0007")
    assert (MA, "posted", None) not in _receipts(federation.service(CT).store, "ct-0007")
    assert ma.store.next_receipt_due() is None
    sent = ma.metrics.registry.get_sample_value(
        "relay_receipts_total",
        {"direction": "sent", "partner": CT, "outcome": "receipts_unsupported"},
    )
    assert sent == 1.0


async def test_a_partner_cannot_speak_for_envelopes_it_was_never_sent(
    federation: Federation,
) -> None:
    """Only the partner an envelope went to may answer for it: a receipt about a message
    never sent to it (or never sent at all) is refused, and marks nothing."""
    await federation.publish(CT, BOLO, "7.1", envelope_id="ct-0008")
    ri, ma = federation.service(RI), federation.service(MA)
    desk = federation.service(CT).parts.receipts

    def token(reporter: str, envelope_id: str) -> str:
        who = federation.service(reporter)
        return sign_receipt(
            who.key,
            who.kid,
            reporter=reporter,
            origin=CT,
            envelope_id=envelope_id,
            status=ReceiptStatus.REFUSED,
            reason="made_up",
            at=NOW,
        )

    # RI reaches Havenport only through the fusion center: it was never sent ct-0008 itself
    assert await desk.take(RI, [token(RI, "ct-0008")]) == [{"error": "partner_unknown"}]
    # Millbrook was sent ct-0008, but never a message that does not exist
    assert await desk.take(MA, [token(MA, "CT9990100.C0GENERAL.1700000000.000100")]) == [
        {"error": "partner_unknown"}
    ]
    assert ri.store.next_receipt_due() is None
    assert ma.store.next_receipt_due() is None
    assert (RI, "refused", "made_up") not in _receipts(federation.service(CT).store, "ct-0008")


async def test_a_hop_passes_a_receipt_back_once_however_often_it_is_replayed(
    federation: Federation,
) -> None:
    await federation.publish(CT, BOLO, "8.1", envelope_id="ct-0009")
    ri = federation.service(RI)
    token = sign_receipt(
        ri.key,
        ri.kid,
        reporter=RI,
        origin=CT,
        envelope_id="ct-0009",
        status=ReceiptStatus.POSTED,
        reason=None,
        at=NOW,
    )
    fc = federation.service(FC).parts.receipts
    assert await fc.take(RI, [token, token]) == [{"status": "duplicate"}, {"status": "duplicate"}]
    assert federation.service(FC).store.next_receipt_due() is None


async def test_a_receipt_older_than_a_week_is_refused(federation: Federation) -> None:
    await federation.publish(CT, BOLO, "9.1", envelope_id="ct-0010")
    ma = federation.service(MA)
    old = sign_receipt(
        ma.key,
        ma.kid,
        reporter=MA,
        origin=CT,
        envelope_id="ct-0010",
        status=ReceiptStatus.POSTED,
        reason=None,
        at=NOW - dt.timedelta(days=8),
    )
    assert await federation.service(CT).parts.receipts.take(MA, [old]) == [{"error": "expired"}]


async def test_a_partner_that_refuses_what_a_hop_passes_on_is_reported_to_the_origin(
    tmp_path: Path,
) -> None:
    """RI pins no key of Havenport's: it refuses what the fusion center passes on
    (``key_not_pinned``), and the fusion center tells Havenport in a ``failed`` receipt."""
    fed = Federation(tmp_path, [CT, FC, MA, RI])
    await fed.start(policies(), pins={RI: [FC, MA]})
    try:
        await fed.publish(CT, BOLO, "10.1", envelope_id="CT9990100.C0BOLO0001.1700000000.000100")
        got = _receipts(fed.service(CT).store, "CT9990100.C0BOLO0001.1700000000.000100")
    finally:
        await fed.stop()
    assert (FC, "failed", "key_not_pinned") in got
    assert (MA, "posted", None) in got
