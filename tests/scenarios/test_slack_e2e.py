"""End to end: officers post in the emulator's workspaces, relays carry it over mutual TLS, the
partner workspace shows it. Real slack-sdk, real HTTPS, SQLite stores; no sleeps."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from relay.commands.demo import photo
from relay.lab.emulator.model import Json
from relay.lab.network import Agency, Network
from relay.store.contract import ClaimedInbound

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "data" / "slack_events"
CT, MA, NY, FC = "CT9990100", "MA9990200", "NY9990300", "CT999FC00"
OFFICER = "U0OKAFOR01"


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
        Agency(NY, "Eastfield PD", "T0EASTFLD1", ex / "ny9990300-eastfield.yaml"),
        # Eastfield hears from Havenport through the fusion center (every relay links to
        # every other here; the policies route it).
        Agency(FC, "CT State Fusion Center", "T0CTFUSC01", ex / "ct999fc00-ct-fusion-center.yaml"),
    ]


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, _agencies()) as network:
        yield network


def posts(net: Network, ori: str, topic: str = "bolo") -> list[Json]:
    assert net.emu is not None
    node = net.nodes[ori]
    return [
        p
        for p in net.emu.messages(node.agency.team, node.agency.channel(topic))
        if p.get("bot_id")
    ]


def relayed(net: Network, ori: str, topic: str = "bolo") -> list[Json]:
    return [
        p
        for p in posts(net, ori, topic)
        if ((p.get("metadata") or {}).get("event_payload") or {}).get("envelope_id")
    ]


async def test_bolo_with_photo_thread_edit_and_cancel_reach_every_partner(net):
    assert net.emu is not None
    bolo = (
        "BOLO - armed robbery, Havenport Food Mart, 06/02 1420 hrs.\n"
        "Suspect vehicle: dark green 2014 Subaru Outback, CT reg AB-12345.\n"
        "Last seen northbound on Route 9 toward Millbrook."
    )
    root = net.post(
        CT,
        "bolo",
        OFFICER,
        bolo,
        files=[("suspect.jpg", photo("x"), "Suspect at pump 4", "Person in hoodie")],
    )
    net.post(
        CT, "bolo", OFFICER, "Plate may be switched; also check CT reg AB-12845.", thread_ts=root
    )
    net.post(
        CT,
        "bolo",
        OFFICER,
        "Seen again at the Route 9 gas station 1510 hrs.",
        thread_ts=root,
        broadcast=True,
    )
    ct = net.nodes[CT].agency
    net.emu.edit_as_user(
        ct.team, ct.channel("bolo"), OFFICER, root, bolo.replace("northbound", "southbound")
    )
    net.post(
        CT,
        "bolo",
        OFFICER,
        "*** CANCEL BOLO *** SUBJECT IN CUSTODY 06/04 0310 hrs.",
        thread_ts=root,
    )
    await net.settle(CT, 5)
    for ori in (MA, NY):
        copies = relayed(net, ori)
        assert len(copies) == 4, ori  # root, reply, broadcast, cancel (the edit updates)
        root_copy = copies[0]
        assert "southbound" in root_copy["text"], "the edit reached the copy"
        assert "CANCELLED" in root_copy["text"], "the cancellation marked the copy"
        assert root_copy["username"].startswith("Havenport PD (CT)")
        assert all(c.get("thread_ts") == root_copy["ts"] for c in copies[1:])
        shares = [p for p in posts(net, ori) if p.get("files")]
        assert len(shares) == 1
        file_id = shares[0]["files"][0]["id"]
        node = net.nodes[ori]
        ws = net.emu.workspace(node.agency.team)
        info = ws.files[file_id]
        with Image.open(io.BytesIO(info.content)) as img:
            assert not img.getexif(), "EXIF/GPS stripped by re-encoding"
        assert (info.title, info.alt_txt) == ("Suspect at pump 4", "Person in hoodie")
        assert [c.get("subtype") for c in copies].count("thread_broadcast") == 1


async def test_a_retried_post_with_a_photo_posts_and_uploads_nothing_twice(net, tmp_path):
    """The inbound queue may run an item again (an earlier attempt's outcome unknown): the
    post and each photo upload are recorded, so nothing is posted or uploaded twice."""
    assert net.emu is not None
    root = net.post(
        CT,
        "bolo",
        OFFICER,
        "BOLO: dark green Subaru Outback, CT reg AB-12345, Route 9 northbound.",
        files=[("suspect.jpg", photo("x"), "Suspect at pump 4", "Person in hoodie")],
    )
    await net.settle(CT, 1)
    envelope_id = f"{CT}.{net.nodes[CT].agency.channel('bolo')}.{root}"
    with sqlite3.connect(tmp_path / MA / "relay.db") as db:
        (body,) = db.execute(
            "SELECT body FROM received WHERE envelope_id = ?", (envelope_id,)
        ).fetchone()
    inbound = net.nodes[MA].relay.parts.inbound
    again = ClaimedInbound(
        seq=0,
        issuer=CT,
        envelope_id=envelope_id,
        sender=CT,
        body=bytes(body),
        created_at=time.time(),
        expires_at=time.time() + 3600,
        attempts=2,
    )
    await inbound.process(again)
    assert len(relayed(net, MA)) == 1
    assert len([p for p in posts(net, MA) if p.get("files")]) == 1


async def test_delete_removes_the_partner_copy(net):
    assert net.emu is not None
    ts = net.post(CT, "bolo", OFFICER, "BOLO: white van, RI reg 1AB234, last seen on Route 9.")
    await net.settle(CT, 1)
    assert len(relayed(net, MA)) == 1
    ct = net.nodes[CT].agency
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OFFICER, ts)
    await net.settle(CT, 2)
    assert relayed(net, MA) == []


async def test_a_deleted_thread_reply_queues_behind_the_reply(net, tmp_path):
    """Slack names a deleted reply's thread only in previous_message; the delete must share
    the reply's queue order (the thread), or it could overtake the reply and leave it up."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OFFICER, "BOLO: white van, RI reg 1AB234, last seen on Route 9.")
    reply = net.post(CT, "bolo", OFFICER, "Update: van heading east on I-95.", thread_ts=root)
    await net.settle(CT, 2)
    assert len(relayed(net, MA)) == 2
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OFFICER, reply)
    await net.settle(CT, 3)
    assert len(relayed(net, MA)) == 1, "the reply's copy is gone"
    with sqlite3.connect(tmp_path / CT / "relay.db") as db:
        keys = dict(
            db.execute("SELECT envelope_id, order_key FROM outbox WHERE partner = ?", (MA,))
        )
    reply_id = f"{CT}.{ct.channel('bolo')}.{reply}"
    [delete_id] = [e for e in keys if e.startswith(f"{reply_id}.d")]
    assert keys[delete_id] == keys[reply_id] == f"{CT}.{ct.channel('bolo')}.{root}"


async def test_edit_that_becomes_unsafe_retracts_the_copy(net):
    assert net.emu is not None
    ts = net.post(CT, "bolo", OFFICER, "BOLO: gray Honda Accord, CT reg 5TRK21, Route 9 SB.")
    await net.settle(CT, 1)
    assert len(relayed(net, MA)) == 1
    ct = net.nodes[CT].agency
    net.emu.edit_as_user(
        ct.team,
        ct.channel("bolo"),
        OFFICER,
        ts,
        "BOLO: gray Honda Accord, CT reg 5TRK21. Do not forward outside the unit.",
    )
    await net.settle(CT, 2)
    assert relayed(net, MA) == [], "the copy was retracted, not left standing"
    assert not any("Do not forward" in p.get("text", "") for p in posts(net, MA))


async def test_edit_that_adds_a_source_updates_the_copy_without_it(net):
    """The source's sentence goes; the BOLO it was added to stays, edited in place."""
    assert net.emu is not None
    ts = net.post(CT, "bolo", OFFICER, "BOLO: gray Honda Accord, CT reg 5TRK21, Route 9 SB.")
    await net.settle(CT, 1)
    ct = net.nodes[CT].agency
    net.emu.edit_as_user(
        ct.team,
        ct.channel("bolo"),
        OFFICER,
        ts,
        "BOLO: gray Honda Accord, CT reg 5TRK21. Our CI is Marcus Delrey, DOB 03/14/1991.",
    )
    await net.settle(CT, 2)
    [copy] = relayed(net, MA)
    assert "5TRK21" in copy.get("text", "")
    assert not any("Delrey" in json.dumps(p) for p in posts(net, MA))


async def test_every_reference_event_shape_is_handled_without_crashing(net):
    node = net.nodes[CT]
    channel = node.agency.channel("bolo")
    count = 0
    for path in sorted(EVENTS.glob("*.json")):
        doc = json.loads(path.read_text())
        text = json.dumps(doc).replace("C0BOLO0001", channel)
        doc = json.loads(text)
        doc.setdefault("event_id", f"Ev{path.stem}")
        await node.relay.parts.slack.inbox.take_slack_event(
            team=node.agency.team, event_id=doc["event_id"], body=json.dumps(doc).encode()
        )
        count += 1
    await node.relay.wait_idle()
    await net.settle(CT, 0)
    assert count >= 20
    assert node.relay.store.pending_events() == []


async def _post_raw(url: str, body: bytes, secret: str, ts: str | None = None) -> int:
    ts = ts or str(int(time.time()))
    sig = (
        "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=body,
            headers={
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sig,
                "Content-Type": "application/json",
            },
        ) as resp,
    ):
        return resp.status


async def test_forged_or_stale_signatures_get_401_and_nothing_is_stored(net):
    assert net.emu is not None
    node = net.nodes[CT]
    ws = net.emu.workspace(node.agency.team)
    url = ws.delivery.url
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": node.agency.team,
            "event_id": "EvForged1",
            "event": {
                "type": "message",
                "channel": node.agency.channel("bolo"),
                "user": OFFICER,
                "text": "BOLO: green Subaru Outback, CT reg AB-12345, Route 9 NB.",
                "ts": "1.000001",
            },
        }
    ).encode()
    assert await _post_raw(url, body, "wrong-secret") == 401
    stale = str(int(time.time()) - 600)
    assert await _post_raw(url, body, ws.signing_secret, ts=stale) == 401
    assert node.relay.store.pending_events() == []
    assert await _post_raw(url, body, ws.signing_secret) == 200
    assert await _post_raw(url, body, ws.signing_secret) == 200, "a Slack retry"
    await node.relay.wait_idle()
    await net.settle(CT, 0)
    assert len(relayed(net, MA)) == 1, "the retry is posted once"


async def test_429s_are_waited_out(net):
    assert net.emu is not None
    net.emu.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    net.post(CT, "bolo", OFFICER, "BOLO: blue Ford Ranger, NY reg KRT-4412, Route 9 NB.")
    await net.settle(CT, 1)
    assert len(relayed(net, MA)) == 1
    assert len(relayed(net, NY)) == 1


async def test_message_posted_while_the_relay_was_down_is_caught_up(net):
    assert net.emu is not None
    team = net.nodes[CT].agency.team
    net.emu.set_delivery_failing(team, True)
    net.post(CT, "bolo", OFFICER, "BOLO: maroon minivan, MA reg 9PWX71, Canal St.")
    await net.emu.wait_for_settled_events(team, 1, timeout=10)  # Slack gave up
    assert relayed(net, MA) == []
    net.emu.set_delivery_failing(team, False)
    assert await net.nodes[CT].relay.catch_up() == 1
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 1)
    assert len(relayed(net, MA)) == 1
    assert await net.nodes[CT].relay.catch_up() == 0, "caught up once, not twice"


async def test_periodic_catch_up_takes_what_slack_gave_up_on_without_a_restart(net):
    """Slack stops retrying after three attempts; the relay's periodic catch-up still takes
    the message, once, while the relay keeps running."""
    assert net.emu is not None
    team = net.nodes[CT].agency.team
    net.emu.set_delivery_failing(team, True)
    net.post(CT, "bolo", OFFICER, "BOLO: maroon minivan, MA reg 9PWX71, Canal St.")
    await net.emu.wait_for_settled_events(team, 1, timeout=10)  # Slack gave up
    net.emu.set_delivery_failing(team, False)
    task = asyncio.create_task(net.nodes[CT].relay.parts.slack.catch_up.run(0.2))
    try:
        ma = net.nodes[MA].agency
        await net.emu.wait_for_posts(ma.team, ma.channel("bolo"), 1, timeout=30)
        for _ in range(3):  # later rounds find it taken
            await net.nodes[CT].relay.catch_up()
        await net.settle(CT, 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(relayed(net, MA)) == 1


async def test_canary_in_a_blocked_paragraph_appears_nowhere(net, caplog):
    assert net.emu is not None
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-7Q4Z"
    net.post(
        CT,
        "bolo",
        OFFICER,
        f"BOLO: our CI is {canary} Delrey, DOB 03/14/1991, drives a blue Kia Soul.",
    )
    await net.settle(CT, 1)
    for ori in (MA, NY):
        assert relayed(net, ori) == []
        assert all(canary not in json.dumps(p) for p in posts(net, ori))
        store = net.nodes[ori].relay.store
        assert all(canary not in repr(r) for r in store.refusals())
    ephemeral = net.emu.ephemeral(net.nodes[CT].agency.team)
    assert ephemeral, "the author was told"
    assert all(canary not in json.dumps(e) for e in ephemeral)
    assert "informant.source" in json.dumps(ephemeral)
    assert canary not in caplog.text


async def test_catch_up_finds_replies_in_older_threads_and_edits(net):
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OFFICER, "BOLO: maroon minivan, MA reg 9PWX71, Canal St.")
    await net.settle(CT, 1)
    assert len(relayed(net, MA)) == 1
    net.emu.set_delivery_failing(ct.team, True)
    net.post(
        CT, "bolo", OFFICER, "Update: minivan seen again on Route 9 southbound.", thread_ts=root
    )
    net.emu.edit_as_user(
        ct.team,
        ct.channel("bolo"),
        OFFICER,
        root,
        "BOLO: maroon minivan, MA reg 9PWX71, now on Route 9.",
    )
    await net.emu.wait_for_settled_events(ct.team, 3, timeout=10)  # Slack gave up on both
    net.emu.set_delivery_failing(ct.team, False)
    assert await net.nodes[CT].relay.catch_up() == 2
    await net.nodes[CT].relay.wait_idle()
    await net.settle(CT, 3)
    copies = relayed(net, MA)
    assert len(copies) == 2, "the reply arrived in the thread"
    assert copies[1]["thread_ts"] == copies[0]["ts"]
    assert "now on Route 9" in copies[0]["text"], "the edit arrived"
    assert await net.nodes[CT].relay.catch_up() == 0
