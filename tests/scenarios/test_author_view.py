"""What the author sees of partners' receipts, in Slack: a reaction on their own BOLO once
every partner showed it, another (and an ephemeral note with partner names and codes, never
text) when a partner failed to. Real relays, real HTTPS, the emulator's Slack; no sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.commands.demo import agencies
from relay.lab.network import Network
from relay.slack.feedback import DELIVERED, PROBLEM

CT, MA, NY = "CT9990100", "MA9990200", "NY9990300"
OFFICER = "U0OKAFOR01"
BOLO = (
    "BOLO: armed robbery at the Sunoco on Whitney Ave. "
    "Suspect vehicle grey Honda Civic, CT reg 3KD-119."
)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, agencies()) as network:  # Eastfield through the hop
        yield network


def _reactions(net: Network, ts: str) -> dict[str, list[str]]:
    assert net.emu is not None
    ct = net.nodes[CT].agency
    [msg] = [m for m in net.emu.messages(ct.team, ct.channel("bolo")) if m["ts"] == ts]
    return {r["name"]: r["users"] for r in msg.get("reactions") or []}


async def test_delivered_everywhere_shows_one_reaction_and_no_note(net: Network) -> None:
    assert net.emu is not None
    ts = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    bot = net.emu.workspace(net.nodes[CT].agency.team).bot_user_id
    assert _reactions(net, ts) == {DELIVERED: [bot]}
    assert not [
        e for e in net.emu.ephemeral(net.nodes[CT].agency.team) if "what partners did" in e["text"]
    ]


async def test_a_partner_that_cannot_post_turns_it_into_a_warning_with_a_note(
    net: Network,
) -> None:
    assert net.emu is not None
    # Millbrook's Slack refuses the post for good (an archived channel): its relay gives up
    # and says so in a signed receipt. (Only Millbrook's call: the other partners post too.)
    ma = net.nodes[MA].agency
    net.emu.fail_next("chat.postMessage", error="is_archived", times=1, team=ma.team)
    first = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    reactions = _reactions(net, first)
    assert PROBLEM in reactions
    assert DELIVERED not in reactions
    notes = [
        e for e in net.emu.ephemeral(net.nodes[CT].agency.team) if "what partners did" in e["text"]
    ]
    assert len(notes) == 1
    assert notes[0]["user"] == OFFICER
    text = notes[0]["text"]
    assert "Millbrook PD: failed (`is_archived`)" in text
    assert text.count("failed") == 1
    assert "Whitney" not in text
    assert "3KD-119" not in text


async def test_the_author_asks_and_is_told_every_partners_outcome(net: Network) -> None:
    assert net.emu is not None
    ct = net.nodes[CT].agency
    ts = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    other = "U0FERREI02"  # another detective: not the author, not a supervisor
    net.emu.react_as_user(ct.team, ct.channel("bolo"), ts, other, "grey_question")
    net.emu.react_as_user(ct.team, ct.channel("bolo"), ts, OFFICER, "grey_question")
    await net.settle(CT, 3)
    notes = [e for e in net.emu.ephemeral(ct.team) if "what partners did" in e["text"]]
    assert [n["user"] for n in notes] == [OFFICER]
    text = notes[0]["text"]
    # Eastfield's receipt came back through the hop (named by its ORI: Havenport's policy
    # has no entry for an agency it hears from only through the fusion center)
    for name in ("Millbrook PD", "CT State Fusion Center", NY):
        assert f"{name}: posted" in text
    assert "Whitney" not in text
