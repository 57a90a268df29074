"""Cancelling a BOLO the Slack way: its author (or a supervisor, listed or in the supervisors'
user group) adds :no_entry:, and every partner's copy is marked cancelled, once. Real relays,
the emulator's Slack; no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.config import Supervisors
from relay.flow.queues import QueueTuning
from relay.lab.emulator.model import Json
from relay.lab.network import Agency, Network, NetworkOptions
from relay.slack.reactions import CANCEL_LINE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "examples"
CT, MA, NY = "CT9990100", "MA9990200", "NY9990300"
OFFICER, SERGEANT, LIEUTENANT, OTHER = "U0OKAFOR01", "U0SGTBAKR1", "U0LTMORAN1", "U0FERREIR1"
DUNNE = "U0MILLBR01"
GROUP = "S0SUPERVS1"
BOLO = (
    "BOLO: armed robbery at the Sunoco on Whitney Ave. "
    "Suspect vehicle grey Honda Civic, CT reg 3KD-119."
)
CANCELLED = ":no_entry: *CANCELLED*"


def _agencies() -> list[Agency]:
    return [
        Agency(
            CT,
            "Havenport PD",
            "T0HAVENPT1",
            EXAMPLES / "ct9990100-havenport.yaml",
            officers=(
                (OFFICER, "Det. Sgt. R. Okafor"),
                (SERGEANT, "Sgt. A. Baker"),
                (LIEUTENANT, "Lt. J. Moran"),
                (OTHER, "Det. L. Ferreira"),
            ),
        ),
        Agency(
            MA,
            "Millbrook PD",
            "T0MILLBRK1",
            EXAMPLES / "ma9990200-millbrook.yaml",
            officers=((DUNNE, "Sgt. P. Dunne"),),
        ),
        Agency(NY, "Eastfield PD", "T0EASTFLD1", EXAMPLES / "ny9990300-eastfield.yaml"),
    ]


class _Supervised(Network):
    """Havenport's relay.yaml lists the sergeant and the supervisors' group (the lieutenant)."""

    async def _write_configs(self) -> None:
        await super()._write_configs()
        assert self.emu is not None
        self.emu.set_usergroup(self.nodes_team(CT), GROUP, [LIEUTENANT])
        config = self.configs[CT]
        assert config.slack is not None
        supervisors = Supervisors(users=frozenset({SERGEANT}), usergroup=GROUP)
        slack = dataclasses.replace(config.slack, supervisors=supervisors)
        self.configs[CT] = dataclasses.replace(config, slack=slack)

    def nodes_team(self, ori: str) -> str:
        return next(a.team for a in self.agencies if a.ori == ori)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with _Supervised(tmp_path, _agencies()) as network:
        yield network


def copies(net: Network, ori: str) -> list[Json]:
    """``ori``'s copies of Havenport's bolo messages, oldest first, replies included."""
    assert net.emu is not None
    agency = net.nodes[ori].agency
    return [
        p
        for p in net.emu.messages(agency.team, agency.channel("bolo"))
        if ((p.get("metadata") or {}).get("event_payload") or {}).get("origin") == CT
    ]


def react(net: Network, ts: str, user: str, name: str = "no_entry") -> None:
    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.react_as_user(ct.team, ct.channel("bolo"), ts, user, name)


def cancels(net: Network, ori: str) -> list[Json]:
    return [c for c in copies(net, ori) if CANCEL_LINE in c["text"]]


async def test_the_authors_reaction_cancels_at_every_partner(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    react(net, root, OFFICER, "eyes")  # another emoji: nothing
    react(net, root, OFFICER)
    await net.settle(CT, 3)
    for partner in (MA, NY):
        root_copy, cancel = copies(net, partner)
        assert root_copy["text"].startswith(CANCELLED), partner
        assert cancel["thread_ts"] == root_copy["ts"]
        assert "Okafor" in str(cancel), "attributed to the officer who cancelled"
    records = [r.record for r in net.nodes[CT].relay.store.audit_rows()]
    signed = [
        r for r in records if r.event == "sign" and (r.envelope_id or "").endswith(".cancel")
    ]
    assert sorted(str(r.destination) for r in signed) == [MA, NY]
    assert {r.actor_user for r in signed} == {OFFICER}
    assert {r.outcome for r in signed} == {"cancel"}

    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.unreact_as_user(ct.team, ct.channel("bolo"), root, OFFICER, "no_entry")
    await net.settle(CT, 4)
    assert copies(net, MA)[0]["text"].startswith(CANCELLED), "taken off: stays cancelled"


async def test_a_supervisor_by_id_or_by_group_can_cancel(net: Network) -> None:
    first = net.post(CT, "bolo", OFFICER, BOLO)
    second = net.post(CT, "bolo", OFFICER, BOLO.replace("grey", "silver"))
    await net.settle(CT, 2)
    react(net, first, SERGEANT)
    react(net, second, LIEUTENANT)
    await net.settle(CT, 4)
    for partner in (MA, NY):
        roots = [c for c in copies(net, partner) if c.get("thread_ts", c["ts"]) == c["ts"]]
        assert [c["text"].startswith(CANCELLED) for c in roots] == [True, True]
        assert len(cancels(net, partner)) == 2
    assert net.emu is not None
    assert [c for c in net.emu.calls("usergroups.users.list") if c.error] == []


async def test_another_officer_cannot_cancel(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    before = {p: copies(net, p) for p in (MA, NY)}
    react(net, root, OTHER)
    await net.settle(CT, 2)
    assert {p: copies(net, p) for p in (MA, NY)} == before
    assert net.emu is not None
    (note,) = net.emu.ephemeral(net.nodes[CT].agency.team)
    assert note["user"] == OTHER
    assert "cancel_not_allowed" in note["text"]
    assert "Sunoco" not in note["text"]
    records = [r.record for r in net.nodes[CT].relay.store.audit_rows()]
    assert not [r for r in records if (r.envelope_id or "").endswith(".cancel")]


async def test_a_repeated_event_and_a_second_supervisor_cancel_once(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    react(net, root, OFFICER)
    await net.settle(CT, 2)
    assert net.emu is not None
    team = net.nodes[CT].agency.team
    record = net.emu.events(team)[1]
    assert record.event["type"] == "reaction_added"
    # Slack delivers the same event again (a retry after a lost answer): same event_id.
    attempt = await net.emu.webhook.attempt(net.emu.workspace(team), record, 1, "http_timeout")
    assert attempt.ok
    react(net, root, SERGEANT)
    react(net, root, LIEUTENANT)
    await net.settle(CT, 4)
    for partner in (MA, NY):
        assert len(cancels(net, partner)) == 1, partner
        assert copies(net, partner)[0]["text"].startswith(CANCELLED)


async def test_a_restart_in_between_loses_nothing(tmp_path: Path) -> None:
    """Killed with the reaction stored (judged or not, its envelopes queued or not): the
    restarted relay finishes it once the dead instance's leases run out, and a supervisor's
    reaction after the restart adds nothing."""
    options = NetworkOptions(tuning=QueueTuning(poll=0.05, lease=1.0))
    async with _Supervised(tmp_path, _agencies(), options) as net:
        root = net.post(CT, "bolo", OFFICER, BOLO)
        other = net.post(CT, "bolo", OFFICER, BOLO.replace("grey", "silver"))
        await net.settle(CT, 2)
        react(net, root, OFFICER)
        assert net.emu is not None
        await net.emu.wait_for_event_acks(net.nodes[CT].agency.team, 3)
        await net.kill(CT)
        await net.restart(CT)
        react(net, other, SERGEANT)
        react(net, root, SERGEANT)  # cancelled already, before the restart
        await net.settle(CT, 5)

        def roots(partner: str) -> list[bool]:
            found = [c for c in copies(net, partner) if c.get("thread_ts", c["ts"]) == c["ts"]]
            return [c["text"].startswith(CANCELLED) for c in found]

        async with asyncio.timeout(30):  # the killed instance's leases run out first
            while any(roots(p) != [True, True] for p in (MA, NY)):
                for nodes in net.instances.values():
                    for node in nodes:
                        await node.relay.drain()
        await net.settle(CT, 5)
        for partner in (MA, NY):
            assert len(cancels(net, partner)) == 2, partner


async def test_a_reaction_on_a_partners_post_cancels_nothing(net: Network) -> None:
    """A copy the relay posted is the partner's message, not Millbrook's to cancel."""
    net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    assert net.emu is not None
    ma = net.nodes[MA].agency
    (copy,) = copies(net, MA)
    net.emu.react_as_user(ma.team, ma.channel("bolo"), copy["ts"], DUNNE, "no_entry")
    await net.settle(MA, 2)  # the copy's echo and the reaction
    assert net.emu.events(ma.team)[-1].event["type"] == "reaction_added"
    assert net.emu.ephemeral(ma.team) == []
    records = [r.record for r in net.nodes[MA].relay.store.audit_rows()]
    assert not [r for r in records if (r.envelope_id or "").endswith(".cancel")]
    assert not copies(net, MA)[0]["text"].startswith(CANCELLED)
