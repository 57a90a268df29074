"""A message's whole life across agencies, in Slack as an officer lives it: an edit that
becomes unsafe and then safe again, an edit after a cancellation, a reply whose thread was
not shared, and a topic the receiving agency maps to no channel. Real relays, real HTTPS,
the emulator's Slack; no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.lab.emulator.model import Json
from relay.lab.network import Agency, Network

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "examples"
CT, MA = "CT9990100", "MA9990200"
OFFICER = "U0OKAFOR01"
BOLO = (
    "BOLO: armed robbery at the Sunoco on Whitney Ave. "
    "Suspect vehicle grey Honda Civic, CT reg 3KD-119."
)
SPILL = "(S//NF) Source reporting places the Civic at 17 Grove St overnight."


def _agencies(ma_policy: Path = EXAMPLES / "ma9990200-millbrook.yaml") -> list[Agency]:
    return [
        Agency(
            CT,
            "Havenport PD",
            "T0HAVENPT1",
            EXAMPLES / "ct9990100-havenport.yaml",
            officers=((OFFICER, "Det. Sgt. R. Okafor"),),
        ),
        Agency(MA, "Millbrook PD", "T0MILLBRK1", ma_policy),
    ]


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, _agencies()) as network:
        yield network


def copies(net: Network, topic: str = "bolo") -> list[Json]:
    """Millbrook's copies of Havenport's messages, oldest first, replies included."""
    assert net.emu is not None
    ma = net.nodes[MA].agency
    return [
        p
        for p in net.emu.messages(ma.team, ma.channel(topic))
        if ((p.get("metadata") or {}).get("event_payload") or {}).get("origin") == CT
    ]


def _edit(net: Network, ts: str, text: str) -> None:
    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.edit_as_user(ct.team, ct.channel("bolo"), OFFICER, ts, text)


async def test_an_edit_made_safe_again_is_posted_again_in_its_thread_place(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    reply = net.post(
        CT, "bolo", OFFICER, "Plate may be switched to CT reg 3KD-118.", thread_ts=root
    )
    await net.settle(CT, 2)
    root_copy, reply_copy = copies(net)
    assert reply_copy["thread_ts"] == root_copy["ts"]

    _edit(net, reply, f"Plate may be switched to CT reg 3KD-118. {SPILL}")
    await net.settle(CT, 3)
    assert [c["ts"] for c in copies(net)] == [root_copy["ts"]], "the unsafe edit retracted it"

    _edit(net, reply, "Plate may be switched to CT reg 3KD-118 or 3KD-119.")
    await net.settle(CT, 4)
    now = copies(net)
    assert len(now) == 2, "the corrected edit brought the reply back"
    assert "3KD-118 or 3KD-119" in now[1]["text"]
    assert now[1]["thread_ts"] == root_copy["ts"], "in the thread, where it was"
    dead = net.nodes[MA].relay.store.queue_entries(state="dead")
    assert [e for e in dead if e.queue == "inbound"] == [], "no edit dead-lettered"


async def test_an_edit_after_a_cancellation_keeps_the_bolo_cancelled(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    net.post(
        CT, "bolo", OFFICER, "*** CANCEL BOLO *** subject in custody 1530 hrs.", thread_ts=root
    )
    await net.settle(CT, 2)
    assert copies(net)[0]["text"].startswith(":no_entry: *CANCELLED*")

    _edit(net, root, BOLO.replace("grey", "silver"))
    await net.settle(CT, 3)
    root_copy = copies(net)[0]
    assert root_copy["text"].startswith(":no_entry: *CANCELLED*"), "still cancelled"
    assert "silver" in root_copy["text"], "with the edited text, struck through"
    assert all(line.startswith("~") for line in root_copy["text"].split("\n")[1:] if line.strip())


async def test_a_reply_whose_thread_was_not_shared_says_so(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, f"{BOLO} {SPILL}")  # blocked for Millbrook
    net.post(CT, "bolo", OFFICER, "Civic was seen again on Route 9 at 1510 hrs.", thread_ts=root)
    await net.settle(CT, 2)
    (orphan,) = copies(net)
    assert "thread_ts" not in orphan
    context = orphan["blocks"][-1]["elements"][0]["text"]
    assert "thread that was not shared" in context
    assert "Route 9" in orphan["text"]


async def test_an_orphan_reply_is_withheld_when_the_policy_says_so(tmp_path: Path) -> None:
    own = tmp_path / "ma-withhold.yaml"
    text = (EXAMPLES / "ma9990200-millbrook.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "extends: ../baseline.yaml", f"extends: {ROOT / 'policies' / 'baseline.yaml'}"
    )
    own.write_text(text + "\norphan_replies: withhold\n", encoding="utf-8")
    async with Network(tmp_path / "net", _agencies(own)) as net:
        root = net.post(CT, "bolo", OFFICER, f"{BOLO} {SPILL}")
        net.post(CT, "bolo", OFFICER, "Civic seen again on Route 9.", thread_ts=root)
        net.post(CT, "bolo", OFFICER, "Separate BOLO: red Kia Soul, CT reg 9AB-771.")
        await net.settle(CT, 3)
        assert [c["text"] for c in copies(net)] == ["Separate BOLO: red Kia Soul, CT reg 9AB-771."]
        records = [r.record for r in net.nodes[MA].relay.store.audit_rows()]
        assert sorted(r.outcome for r in records if r.event == "post") == ["posted", "withheld"]


async def test_a_topic_mapped_to_no_channel_is_refused_and_kept_until_it_is(net: Network) -> None:
    config = net.configs[MA]
    assert config.slack is not None
    without = {c: t for c, t in config.slack.channels.items() if t != "bolo"}
    net.configs[MA] = dataclasses.replace(
        config, slack=dataclasses.replace(config.slack, channels=without)
    )
    await net.kill(MA)
    await net.restart(MA)
    net.post(CT, "bolo", OFFICER, BOLO)
    ct = net.nodes[CT].relay
    async with asyncio.timeout(30):
        while not any(
            r.reason == "topic_not_mapped" for r in net.nodes[MA].relay.store.refusals()
        ):
            await ct.drain()
    assert copies(net) == []
    (kept,) = ct.store.queue_entries(peer=MA)
    assert (kept.queue, kept.state, kept.reason) == ("outbox", "pending", "topic_not_mapped")

    net.configs[MA] = config
    await net.kill(MA)
    await net.restart(MA)
    async with asyncio.timeout(30):
        while not copies(net):
            await ct.drain()
            await net.nodes[MA].relay.drain()
    assert BOLO in copies(net)[0]["text"]


async def test_a_photo_slack_fails_to_hand_over_once_still_goes(net: Network) -> None:
    from relay.commands.demo import photo

    assert net.emu is not None
    net.emu.fail_next("files.info", status=500, times=2)
    net.post(CT, "bolo", OFFICER, BOLO, files=[("suspect.jpg", photo("a"), "Suspect", "")])
    await net.settle(CT, 1)
    ma = net.nodes[MA].agency
    shares = [p for p in net.emu.messages(ma.team, ma.channel("bolo")) if p.get("files")]
    assert len(shares) == 1, "retried, and the photo went with the BOLO"
    assert all("could not be forwarded" not in c["text"] for c in copies(net))


async def test_a_photo_that_cannot_be_had_is_said_never_dropped_silently(net: Network) -> None:
    from relay.commands.demo import photo

    assert net.emu is not None
    net.emu.fail_next("files.info", status=500, times=50)
    net.post(CT, "bolo", OFFICER, BOLO, files=[("suspect.jpg", photo("b"), "Suspect", "")])
    await net.settle(CT, 1)
    (copy,) = copies(net)
    assert "3KD-119" in copy["text"], "the BOLO itself went"
    assert "1 photo(s) could not be forwarded" in copy["text"]
    ct = net.nodes[CT].agency
    notes = [e["text"] for e in net.emu.ephemeral(ct.team)]
    assert any("could not be fetched" in n and "internal_error" in n for n in notes)
    metrics = net.nodes[CT].relay.metrics.photos_unforwarded
    assert metrics.labels("bolo", "internal_error")._value.get() == 1


async def test_deletes_made_while_the_relay_was_down_are_caught_up(net: Network) -> None:
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OFFICER, BOLO)
    reply = net.post(CT, "bolo", OFFICER, "Civic seen again on Route 9.", thread_ts=root)
    other = net.post(CT, "bolo", OFFICER, "Separate BOLO: red Kia Soul, CT reg 9AB-771.")
    await net.settle(CT, 3)
    assert len(copies(net)) == 3

    net.emu.set_delivery_failing(ct.team, True)  # the relay is away; Slack gives up
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OFFICER, reply)
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OFFICER, other)
    await net.emu.wait_for_settled_events(ct.team, 5, timeout=10)
    assert len(copies(net)) == 3, "the deletes did not reach the relay"
    net.emu.set_delivery_failing(ct.team, False)

    assert await net.nodes[CT].relay.catch_up() == 2
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 5)
    assert [c["text"] for c in copies(net)] == [BOLO], "both deletes reached the partner"
    assert await net.nodes[CT].relay.catch_up() == 0, "taken once"


async def test_partner_posts_land_where_the_receiving_agency_routes_them(net: Network) -> None:
    """``slack.partner_channels``: per topic, and per partner, another channel than the one
    officers post the topic in."""
    assert net.emu is not None
    config = net.configs[MA]
    assert config.slack is not None
    ma = net.nodes[MA].agency
    elsewhere = ma.channel("pattern-crime")  # a channel of MA's workspace the bot is in
    net.configs[MA] = dataclasses.replace(
        config,
        slack=dataclasses.replace(
            config.slack, partner_channels={"bolo": {"*": ma.channel("bolo"), CT: elsewhere}}
        ),
    )
    await net.kill(MA)
    await net.restart(MA)
    net.post(CT, "bolo", OFFICER, BOLO)
    await net.settle(CT, 1)
    assert copies(net) == []
    landed = [p for p in net.emu.messages(ma.team, elsewhere) if p.get("bot_id")]
    assert [p["text"] for p in landed] == [BOLO]


async def test_a_catch_up_that_cannot_see_a_thread_parent_deletes_nothing(net: Network) -> None:
    """A parent older than the look-back is not evidence that its replies are gone."""
    root = net.post(CT, "bolo", OFFICER, BOLO)
    net.post(CT, "bolo", OFFICER, "Civic seen again on Route 9.", thread_ts=root)
    await net.settle(CT, 2)
    slack = net.nodes[CT].relay.parts.slack
    assert slack is not None
    assert await slack.catch_up.catch_up(lookback=0.0, replay=0.0) == 0
    await net.settle(CT, 2)
    assert len(copies(net)) == 2


async def test_a_cancelled_bolo_retracted_and_edited_back_stays_cancelled(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    net.post(CT, "bolo", OFFICER, "*** CANCEL BOLO *** subject in custody.", thread_ts=root)
    await net.settle(CT, 2)
    _edit(net, root, f"{BOLO} {SPILL}")  # unsafe: the copy is retracted
    await net.settle(CT, 3)
    assert len(copies(net)) == 1, "only the cancellation reply is left"
    _edit(net, root, BOLO.replace("grey", "silver"))  # safe again: shown, still cancelled
    await net.settle(CT, 4)
    back = [c for c in copies(net) if "silver" in c["text"]]
    assert len(back) == 1
    assert back[0]["text"].startswith(":no_entry: *CANCELLED*")


async def test_an_edit_of_a_reply_whose_root_was_retracted_stays_in_place(net: Network) -> None:
    root = net.post(CT, "bolo", OFFICER, BOLO)
    reply = net.post(CT, "bolo", OFFICER, "Civic seen on Route 9.", thread_ts=root)
    await net.settle(CT, 2)
    _edit(net, root, f"{BOLO} {SPILL}")
    await net.settle(CT, 3)
    _edit(net, reply, "Civic seen on Route 9 at 1510 hrs.")
    await net.settle(CT, 4)
    (copy,) = copies(net)
    assert "1510" in copy["text"], "the reply's copy was updated"
    assert "not shared" not in copy["blocks"][-1]["elements"][0]["text"]


async def test_an_edit_delivered_before_its_post_shares_the_message_once(net: Network) -> None:
    """Found by relay chaos: the post's event was given up on while the relay was away and
    the edit's came first; the edit posted the message at partners, and the late post (the
    catch-up) posted it again. The message is now read from Slack and shared first."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.set_delivery_failing(ct.team, True)
    ts = net.post(CT, "bolo", OFFICER, BOLO)
    await net.emu.wait_for_settled_events(ct.team, 1, timeout=10)
    net.emu.set_delivery_failing(ct.team, False)
    _edit(net, ts, BOLO + " Driver wore a red cap.")
    await net.settle(CT, 2)
    await net.nodes[CT].relay.catch_up()  # the late post: taken before, nothing again
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 2)
    [copy] = copies(net)
    assert "red cap" in copy["text"]
