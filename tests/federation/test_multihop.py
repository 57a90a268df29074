"""Relays on 127.0.0.1 over HTTPS with mutual TLS: direct delivery, a fusion center relaying
across state lines, withheld lines, duplicates over two paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.core.slack_parse import parse_event
from relay.flow.inbound import Delivery
from tests.federation.harness import Federation, policy_text

CT, FC, MA, RI = "CT9990100", "NY999FC00", "MA9990200", "RI9990400"

BOLO = (
    "BOLO - armed robbery, Havenport Food Mart, 06/02 1420 hrs.\n"
    "CI-1234 says the driver sells parts out of a tire shop on Ferris Rd.\n"
    "Suspect vehicle: dark green 2014 Subaru Outback, CT reg AB-12345.\n"
    "Gang unit notes the crew answers to a man called Lefty.\n"
    "Last seen northbound on Route 9 toward Millbrook."
)
GANG_RULE = """  gang:
    regex: ['\\bgang unit\\b']
"""


def policies() -> dict[str, str]:
    fc_rules = policy_text(
        FC,
        [
            {"ori": CT, "share": "[]", "accept": "[bolo]"},
            {"ori": MA, "share": "[bolo]", "accept": "[bolo]", "redisseminate": False},
            {"ori": RI, "share": "[bolo]", "accept": "[bolo]", "redisseminate": False},
        ],
    )
    # The fusion center withholds lines its own rule strips (a detector of its own).
    fc_rules = fc_rules.replace("patterns:\n", "patterns:\n" + GANG_RULE).replace(
        "detectors:\n", "detectors:\n  - id: local.gang\n    action: strip\n    when: [gang]\n"
    )
    return {
        CT: policy_text(
            CT,
            [
                {"ori": MA, "share": "[bolo]", "accept": "[bolo]", "redisseminate": False},
                {"ori": FC, "kind": "fusion_center", "share": "[bolo]", "accept": "[bolo]"},
            ],
        ),
        FC: fc_rules,
        MA: policy_text(
            MA,
            [
                {"ori": CT, "share": "[bolo]", "accept": "[bolo]"},
                {"ori": FC, "share": "[]", "accept": "[bolo]"},
            ],
        ),
        RI: policy_text(RI, [{"ori": FC, "share": "[]", "accept": "[bolo]"}]),
    }


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation(tmp_path, [CT, FC, MA, RI])
    await fed.start(policies())
    yield fed
    await fed.stop()


def _delivered(fed: Federation, ori: str) -> list[Delivery]:
    service = fed.service(ori)
    out: list[Delivery] = []
    while not service.delivered.empty():
        out.append(service.delivered.get_nowait())
    return out


async def test_bolo_reaches_partners_redacted_and_relayed_once(federation: Federation) -> None:
    """CT sends to MA directly and to its fusion center, which relays to MA (a duplicate:
    posted once) and to RI (one hop, the origin signature still verifies)."""
    decisions = await federation.publish(CT, BOLO, "1.1", envelope_id="ct-0001")
    assert {d.action.value for d in decisions.values()} == {"redact"}

    ma = _delivered(federation, MA)
    assert len(ma) == 1, "the copy relayed by the fusion center must not be posted again"
    ma_text = "\n".join(line.text for line in ma[0].envelope.lines)
    assert "CI-1234" not in ma_text
    assert "CT reg AB-12345" in ma_text
    assert ma[0].envelope.path == (CT, MA)

    ri = _delivered(federation, RI)
    assert len(ri) == 1
    env = ri[0].envelope
    assert env.issuer == CT
    assert env.path == (CT, FC, RI)
    assert [h.signer for h in env.hops] == [FC]
    ri_text = "\n".join(line.text for line in env.lines)
    assert "CI-1234" not in ri_text, "stripped at the origin, never disclosed"
    assert "Gang unit" not in ri_text, "withheld by the fusion center's own rule"
    assert env.withheld == 1
    assert "Subaru Outback" in ri_text


async def test_no_onward_relay_when_the_origin_forbids_it(federation: Federation) -> None:
    """MA received with onward=false: it never passes the BOLO on (it has no partner that
    would take it anyway, and the routing says no)."""
    van = "BOLO: white van, RI reg 1AB234, last seen on Route 9."
    await federation.publish(CT, van, "1.2", envelope_id="ct-0002")
    assert len(_delivered(federation, MA)) == 1
    assert len(_delivered(federation, RI)) == 1
    ri = federation.relays[RI]
    assert ri is not None
    assert all(r.reason != "onward_forbidden" for r in ri.store.refusals())


async def test_a_blocked_message_sends_nothing(federation: Federation) -> None:
    secret = "SECRET//NOFORN\nSubject travels to Havenport on 06/07."
    decisions = await federation.publish(CT, secret, "1.3")
    assert {d.action.value for d in decisions.values()} == {"block"}
    assert _delivered(federation, MA) == []
    assert _delivered(federation, RI) == []


async def test_three_relays_ct_fusion_center_ma_withheld_line_keeps_origin_signature(tmp_path):
    """CT -> fusion center -> MA: the fusion center withholds a line its own rule strips;
    MA verifies CT's signature over the payload and the fusion center's hop record."""
    fed = Federation(tmp_path, [CT, FC, MA])
    fc = policy_text(
        FC,
        [
            {"ori": CT, "share": "[]", "accept": "[bolo]"},
            {"ori": MA, "share": "[bolo]", "accept": "[bolo]"},
        ],
    )
    fc = fc.replace("patterns:\n", "patterns:\n" + GANG_RULE).replace(
        "detectors:\n", "detectors:\n  - id: local.gang\n    action: strip\n    when: [gang]\n"
    )
    await fed.start(
        {
            CT: policy_text(
                CT, [{"ori": FC, "kind": "fusion_center", "share": "[bolo]", "accept": "[bolo]"}]
            ),
            FC: fc,
            MA: policy_text(MA, [{"ori": FC, "share": "[]", "accept": "[bolo]"}]),
        }
    )
    try:
        ct = fed.relays[CT]
        assert ct is not None
        await ct.publish(
            parse_event({"type": "message", "user": "U1", "ts": "2.1", "text": BOLO}),
            topic="bolo",
            author="Det. Okafor",
            envelope_id="ct-3relay",
        )
        await fed.settle()
        [delivery] = _delivered(fed, MA)
    finally:
        await fed.stop()
    env = delivery.envelope
    assert env.issuer == CT
    assert env.origin_kid == f"{CT}#2026-k1"
    assert [(h.from_agency, h.to_agency, h.signer) for h in env.hops] == [(CT, MA, FC)]
    assert env.hops[0].policy_id.startswith(FC)
    assert env.withheld == 1
    texts = [line.text for line in env.lines]
    assert [line.index for line in env.lines] == [0, 1, 3], "a gap where a line was withheld"
    assert not any("Gang unit" in t for t in texts)
    assert any("Subaru Outback" in t for t in texts)


async def test_a_delete_is_passed_on_by_the_fusion_center(federation: Federation) -> None:
    """CT deletes a BOLO: RI, reached only through the fusion center, gets the retraction."""
    from relay.core.envelope import EnvelopeKind

    rogue = "BOLO: silver Nissan Rogue, MA reg 3RTY55, Route 9 NB."
    await federation.publish(CT, rogue, "4.1", author="Det. Okafor", envelope_id="ct-del-1")
    assert [d.envelope.kind for d in _delivered(federation, RI)] == [EnvelopeKind.POST]
    deleted = parse_event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "ts": "4.2",
            "deleted_ts": "4.1",
            "channel": "C1",
            "previous_message": {"type": "message", "ts": "4.1", "text": "x"},
        }
    )
    await federation.service(CT).publish(
        deleted,
        topic="bolo",
        author="Det. Okafor",
        envelope_id="ct-del-1.d",
        kind=EnvelopeKind.DELETE,
        target="ct-del-1",
    )
    await federation.settle()
    [retraction] = _delivered(federation, RI)
    assert retraction.envelope.kind is EnvelopeKind.DELETE
    assert retraction.envelope.target == "ct-del-1"
    assert retraction.envelope.path == (CT, FC, RI)
