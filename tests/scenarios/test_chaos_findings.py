"""What ``relay chaos`` found wrong in a message's later life, each reproduced alone: real
relays, real HTTPS, the emulator's Slack; no sleeps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.lab.network import Network
from tests.scenarios.pair import havenport_and_millbrook

CT, MA = "CT9990100", "MA9990200"
OFFICER = "U0OKAFOR01"
BOLO = "BOLO: stolen grey Honda Civic, CT reg 3KD-119, last seen Route 9 NB."
SPILL = "(S//NF) Source reporting places the Civic at 17 Grove St overnight."


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, havenport_and_millbrook(OFFICER)) as network:
        yield network


def _marks(net: Network) -> list[str]:
    """The envelope ids Millbrook's live copies carry in their metadata mark."""
    assert net.emu is not None
    ma = net.nodes[MA].agency
    return [e for e, _ in net.emu.marked_posts(ma.team, ma.channel("bolo"))]


async def test_a_bolo_shown_again_after_a_retraction_carries_its_own_id(net: Network) -> None:
    """The copy posted again when an unsafe edit is made safe is the message's copy: its
    mark names the message (what counts, dedupes and ``relay demo --json`` read), not the
    edit that brought it back."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    envelope = f"{CT}.{ct.channel('bolo')}.{root}"
    assert _marks(net) == [envelope]
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, root, f"{BOLO} {SPILL}")
    await net.settle(CT, 2)
    assert _marks(net) == []
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, root, BOLO.replace("grey", "red"))
    await net.settle(CT, 3)
    assert _marks(net) == [envelope]


async def test_an_edit_of_an_older_reply_made_while_the_relay_was_down_is_caught_up(
    net: Network,
) -> None:
    """Editing a reply does not move its thread's ``latest_reply``: the catch-up must still
    find the edit (it reads the threads of the replies it took, as it does for deletes)."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OFFICER, BOLO)
    reply = net.post(CT, "bolo", OFFICER, "Civic seen again on Route 9.", thread_ts=root)
    await net.settle(CT, 2)

    net.emu.set_delivery_failing(ct.team, True)  # the relay is away; Slack gives up
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, reply, "Civic seen on Route 2.")
    await net.emu.wait_for_settled_events(ct.team, 3, timeout=10)
    net.emu.set_delivery_failing(ct.team, False)

    assert await net.nodes[CT].relay.catch_up() == 1
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 3)
    ma = net.nodes[MA].agency
    texts = [c.text for c in net.emu.relay_copies(ma.team, ma.channel("bolo"))]
    assert texts == [BOLO, "Civic seen on Route 2."]


async def test_an_edit_missed_while_down_is_caught_up_after_newer_messages(net: Network) -> None:
    """The channel's last-seen mark moves with every live message: an edit Slack gave up on
    must still be caught up once newer messages went past it (within the replay window, as
    posts are)."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)

    net.emu.set_delivery_failing(ct.team, True)  # the relay is away; Slack gives up
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, root, BOLO.replace("grey", "red"))
    await net.emu.wait_for_settled_events(ct.team, 2, timeout=10)
    net.emu.set_delivery_failing(ct.team, False)
    # live messages a few seconds later moved the channel's last-seen mark past the edit
    store = net.nodes[CT].relay.store
    store.set_last_seen(ct.channel("bolo"), f"{float(root) + 5:.6f}")

    assert await net.nodes[CT].relay.catch_up() == 1
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 2)
    ma = net.nodes[MA].agency
    texts = [c.text for c in net.emu.relay_copies(ma.team, ma.channel("bolo"))]
    assert texts == [BOLO.replace("grey", "red")]


async def test_a_post_whose_delete_came_first_is_not_shared(net: Network) -> None:
    """Slack retries each event on its own: the delete of a message can reach the relay
    before the message itself (its first attempts failed while the relay was away). The
    message is gone: its late post (or edit) is not shared, or the copy would stay forever."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.set_delivery_failing(ct.team, True)  # the post's attempts all fail
    ts = net.post(CT, "bolo", OFFICER, BOLO)
    await net.emu.wait_for_settled_events(ct.team, 1, timeout=10)
    net.emu.set_delivery_failing(ct.team, False)
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OFFICER, ts)
    await net.settle(CT, 2)
    post = next(r for r in net.emu.events(ct.team) if r.payload["event"].get("ts") == ts)
    inbox = net.nodes[CT].relay.parts.slack
    assert inbox is not None
    # Slack's retry of the post, after the delete
    assert await inbox.inbox.take_slack_event(
        team=ct.team, event_id=post.event_id, body=json.dumps(post.payload).encode()
    )
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 2)
    assert _marks(net) == [], "a deleted message's late post is not shared"
