"""Slack moves a federated channel to a new id (``channel_id_changed``): the relay follows it,
keeps the move across a restart and records it; a move from another team, or of a channel it
does not federate, changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.core.audit import AuditEvent
from relay.lab.network import Agency, Network
from relay.slack.channels import ChannelMap, ChannelMoves
from tests.helpers import sqlite_recorder

ROOT = Path(__file__).resolve().parents[2]
CT, MA = "CT9990100", "MA9990200"
OFFICER = "U0OKAFOR01"
NEW_BOLO = "C0MOVEDB01"


def _agencies() -> list[Agency]:
    ex = ROOT / "policies" / "examples"
    return [
        Agency(
            CT,
            "Havenport PD",
            "T0HAVENPT1",
            ex / "ct9990100-havenport.yaml",
            officers=((OFFICER, "Det. Sgt. R. Okafor"),),
        ),
        Agency(MA, "Millbrook PD", "T0MILLBRK1", ex / "ma9990200-millbrook.yaml"),
    ]


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, _agencies()) as network:
        yield network


def _copies(net: Network) -> list[str]:
    assert net.emu is not None
    ma = net.nodes[MA].agency
    return [
        str(p.get("text"))
        for p in net.emu.messages(ma.team, ma.channel("bolo"))
        if ((p.get("metadata") or {}).get("event_payload") or {}).get("envelope_id")
    ]


async def test_a_moved_channel_is_followed_and_the_move_survives_a_restart(net: Network) -> None:
    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.change_channel_id(ct.team, ct.channel("bolo"), NEW_BOLO)
    await net.settle(CT, 1)
    net.emu.post_as_user(ct.team, NEW_BOLO, OFFICER, "BOLO: grey Honda Civic, CT reg 123-ABC.")
    await net.settle(CT, 2)
    assert any("grey Honda Civic" in t for t in _copies(net))

    await net.kill(CT)
    await net.restart(CT)
    net.emu.post_as_user(ct.team, NEW_BOLO, OFFICER, "BOLO: blue Ford Transit, CT reg 456-DEF.")
    await net.settle(CT, 3)
    assert any("blue Ford Transit" in t for t in _copies(net))

    records = [c.record for c in net.nodes[CT].relay.store.audit_rows()]
    moves = [r for r in records if r.event is AuditEvent.CHANNEL_CHANGE]
    assert [(m.old_channel, m.channel, m.topic, m.outcome) for m in moves] == [
        (ct.channel("bolo"), NEW_BOLO, "bolo", "moved")
    ]


async def test_a_move_from_another_team_or_of_an_unknown_channel_changes_nothing(
    tmp_path: Path,
) -> None:
    store, aio, recorder = sqlite_recorder(tmp_path / "relay.db", CT)
    channels = ChannelMap({"C0BOLO0001": "bolo"})
    moves = ChannelMoves(
        team_id="T0HAVENPT1",
        channels=channels,
        store=aio,
        recorder=recorder,
        clock=lambda: dt.datetime.now(dt.UTC),
    )

    def event(team: str, old: str, new: str) -> dict[str, object]:
        body = {"type": "channel_id_changed", "old_channel_id": old, "new_channel_id": new}
        return {"type": "event_callback", "team_id": team, "event": body}

    assert not await moves.handle(event("T0OTHERTM1", "C0BOLO0001", "C0HIJACK01"))
    assert not await moves.handle(event("T0HAVENPT1", "C0NOTOURS1", "C0HIJACK01"))
    assert not await moves.handle(event("T0HAVENPT1", "C0BOLO0001", "not an id"))
    assert channels.ids() == ["C0BOLO0001"]
    assert store.channel_moves() == []
    assert [p.reason for p in recorder.recent] == ["foreign_team"]

    assert await moves.handle(event("T0HAVENPT1", "C0BOLO0001", "C0BOLO0002"))
    restarted = ChannelMap({"C0BOLO0001": "bolo"})
    await ChannelMoves(
        team_id="T0HAVENPT1",
        channels=restarted,
        store=aio,
        recorder=recorder,
        clock=lambda: dt.datetime.now(dt.UTC),
    ).restore()
    assert restarted.channel("bolo") == "C0BOLO0002"


async def test_a_message_posted_before_a_move_is_still_deleted_after_it(net: Network) -> None:
    """Envelope ids keep the channel's first id, so a delete after the move names the copy."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    before = net.post(CT, "bolo", OFFICER, "BOLO: grey Honda Civic, CT reg 123-ABC.")
    await net.settle(CT, 1)
    assert len(_copies(net)) == 1
    net.emu.change_channel_id(ct.team, ct.channel("bolo"), NEW_BOLO)
    await net.settle(CT, 2)
    net.emu.delete_as_user(ct.team, NEW_BOLO, OFFICER, before)
    await net.settle(CT, 3)
    assert _copies(net) == []


async def test_a_move_onto_a_channel_already_mapped_is_refused(tmp_path: Path) -> None:
    _, aio, recorder = sqlite_recorder(tmp_path / "relay.db", CT)
    channels = ChannelMap({"C0BOLO0001": "bolo", "C0INTEL001": "intel"})
    moves = ChannelMoves(
        team_id="T0HAVENPT1",
        channels=channels,
        store=aio,
        recorder=recorder,
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    body = {"type": "channel_id_changed", "old_channel_id": "C0BOLO0001"}
    body["new_channel_id"] = "C0INTEL001"
    assert not await moves.handle(
        {"type": "event_callback", "team_id": "T0HAVENPT1", "event": body}
    )
    assert channels.topic("C0BOLO0001") == "bolo"
    assert channels.topic("C0INTEL001") == "intel"
