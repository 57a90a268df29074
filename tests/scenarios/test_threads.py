"""One conversation across agencies: a reply made in the thread of a partner's copy lands in
the origin's thread under the original BOLO and in the thread of every other copy, through
the origin (and the fusion center) as hops. Real relays, real HTTPS, the emulator's Slack;
no sleeps."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.commands.demo import agencies
from relay.lab.emulator.model import Json
from relay.lab.network import Network

CT, MA, NY, FC = "CT9990100", "MA9990200", "NY9990300", "CT999FC00"
OKAFOR, DUNNE = "U0OKAFOR01", "U0MILLBR01"
BOLO = (
    "BOLO: armed robbery at the Sunoco on Whitney Ave. "
    "Suspect vehicle grey Honda Civic, CT reg 3KD-119."
)
IDENTIFIED = "That is J. Brandt, we arrested him last year for the same thing. Drives the Civic."


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, agencies()) as network:
        yield network


def _bolo(net: Network, ori: str) -> list[Json]:
    assert net.emu is not None
    agency = net.nodes[ori].agency
    return net.emu.messages(agency.team, agency.channel("bolo"))


def _origin(m: Json) -> str | None:
    payload = (m.get("metadata") or {}).get("event_payload") or {}
    return payload.get("origin")


def _copy_of(net: Network, ori: str, text: str) -> Json:
    [found] = [m for m in _bolo(net, ori) if text[:20] in m.get("text", "") and _origin(m)]
    return found


def _replies(net: Network, ori: str, root_ts: str) -> list[Json]:
    return [m for m in _bolo(net, ori) if m.get("thread_ts") == root_ts and m["ts"] != root_ts]


async def test_a_partners_reply_lands_in_the_origins_thread_and_every_copys(net: Network) -> None:
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma_copy = _copy_of(net, MA, BOLO)
    net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=ma_copy["ts"])
    await net.settle(MA, 2)  # Millbrook's workspace: the copy's post and the reply

    [at_origin] = _replies(net, CT, root)
    assert "J. Brandt" in at_origin["text"]
    assert _origin(at_origin) == MA
    assert "Millbrook PD" in at_origin["username"]
    for ori in (FC, NY):  # through Havenport (and the fusion center) as hops
        copy = _copy_of(net, ori, BOLO)
        [reply] = _replies(net, ori, copy["ts"])
        assert "J. Brandt" in reply["text"], ori
        assert _origin(reply) == MA
    # nothing landed as a new top-level message anywhere
    for ori in (CT, FC, NY):
        tops = [m for m in _bolo(net, ori) if m.get("thread_ts", m["ts"]) == m["ts"]]
        assert len(tops) == 1, ori

    # the origin's officer answers in their own thread: Millbrook sees it in its copy's thread
    net.post(
        CT, "bolo", OKAFOR, "Thanks, that matches our footage. Picking him up.", thread_ts=root
    )
    await net.settle(CT, 3)
    answers = _replies(net, MA, ma_copy["ts"])
    assert [("Picking him up" in a["text"]) for a in answers] == [False, True]


async def test_edits_and_deletes_of_a_reply_follow_it_everywhere(net: Network) -> None:
    assert net.emu is not None
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma = net.nodes[MA].agency
    ma_copy = _copy_of(net, MA, BOLO)
    reply = net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=ma_copy["ts"])
    await net.settle(MA, 2)
    net.emu.edit_as_user(
        ma.team, ma.channel("bolo"), DUNNE, reply, IDENTIFIED + " Last seen Elm St."
    )
    await net.settle(MA, 3)
    [edited] = _replies(net, CT, root)
    assert "Elm St" in edited["text"]
    ny_copy = _copy_of(net, NY, BOLO)
    [ny_edited] = _replies(net, NY, ny_copy["ts"])
    assert "Elm St" in ny_edited["text"]

    net.emu.delete_as_user(ma.team, ma.channel("bolo"), DUNNE, reply)
    await net.settle(MA, 4)
    assert _replies(net, CT, root) == []
    assert _replies(net, NY, ny_copy["ts"]) == []


async def test_a_broadcast_reply_is_broadcast_in_the_origins_thread(net: Network) -> None:
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma_copy = _copy_of(net, MA, BOLO)
    net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=ma_copy["ts"], broadcast=True)
    await net.settle(MA, 2)
    [at_origin] = _replies(net, CT, root)
    assert at_origin.get("subtype") == "thread_broadcast"


async def test_a_reply_whose_root_never_reached_a_partner_says_so(net: Network) -> None:
    """The fusion center withholds lines with a direct phone number: this root never
    reached Eastfield, and the reply reaches it with a context line, not as a new BOLO."""
    call = "Call Det. Okafor direct at 203-555-0142 about the Route 9 crew tonight."
    net.post(CT, "bolo", OKAFOR, call)
    await net.settle(CT, 1)
    assert [m for m in _bolo(net, NY) if _origin(m)] == []
    ma_copy = _copy_of(net, MA, call)
    net.post(
        MA, "bolo", DUNNE, "Same crew hit our lot on Tuesday, white van.", thread_ts=ma_copy["ts"]
    )
    await net.settle(MA, 2)
    [orphan] = [m for m in _bolo(net, NY) if _origin(m)]
    assert "white van" in orphan["text"]
    assert "thread that was not shared" in str(orphan["blocks"])


async def test_a_reply_the_replying_agencys_policy_blocks_goes_nowhere(net: Network) -> None:
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma_copy = _copy_of(net, MA, BOLO)
    net.post(
        MA,
        "bolo",
        DUNNE,
        "(S//NF) Source reporting places him at 17 Grove St.",
        thread_ts=ma_copy["ts"],
    )
    await net.settle(MA, 2)
    assert _replies(net, CT, root) == []
    ny_copy = _copy_of(net, NY, BOLO)
    assert _replies(net, NY, ny_copy["ts"]) == []


async def test_a_reply_delivered_before_its_bolo_follows_it_into_its_thread(
    net: Network,
) -> None:
    """Found by relay chaos: the BOLO's event was given up on (the relay was away) and the
    reply's came first. The BOLO is read from Slack and shared first, then the reply in its
    thread, never as an orphan."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    net.emu.set_delivery_failing(ct.team, True)
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.emu.wait_for_settled_events(ct.team, 1, timeout=10)
    net.emu.set_delivery_failing(ct.team, False)
    net.post(CT, "bolo", OKAFOR, "Plate may be switched to CT reg 3KD-118.", thread_ts=root)
    await net.settle(CT, 2)
    ma_copy = _copy_of(net, MA, BOLO)
    [reply] = _replies(net, MA, ma_copy["ts"])
    assert "3KD-118" in reply["text"]
    assert "thread that was not shared" not in str(reply["blocks"])
    assert len([m for m in _bolo(net, MA) if _origin(m) == CT]) == 2


async def test_replies_made_while_the_origins_relay_is_down_arrive_after_it_is_back(
    net: Network,
) -> None:
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma_copy = _copy_of(net, MA, BOLO)
    assert net.emu is not None
    await net.kill(CT)
    net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=ma_copy["ts"])
    await net.emu.wait_for_settled_events(net.nodes[MA].agency.team, 2, timeout=10)
    await net.nodes[MA].relay.drain()  # Millbrook tries, Havenport is away: kept, retried
    assert _replies(net, CT, root) == []
    await net.restart(CT)
    ct = net.nodes[CT].agency
    # Millbrook's outbox retries on its backoff: the reply is Havenport's first bot post
    await net.emu.wait_for_posts(ct.team, ct.channel("bolo"), 1, timeout=30)
    await net.settle(MA, 2)
    [at_origin] = _replies(net, CT, root)
    assert "J. Brandt" in at_origin["text"]
    ny_copy = _copy_of(net, NY, BOLO)
    assert len(_replies(net, NY, ny_copy["ts"])) == 1


async def test_a_reply_is_judged_by_the_replying_agencys_policy_sentence_by_sentence(
    net: Network,
) -> None:
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma_copy = _copy_of(net, MA, BOLO)
    reply = (
        "Our CI-2231 says he sleeps at his cousin's place on Elm St. "
        "He drives the grey Civic with a dented rear bumper."
    )
    net.post(MA, "bolo", DUNNE, reply, thread_ts=ma_copy["ts"])
    await net.settle(MA, 2)
    [at_origin] = _replies(net, CT, root)
    assert "dented rear bumper" in at_origin["text"]
    assert "CI-2231" not in at_origin["text"]
    assert "cousin" not in at_origin["text"]


def _order_keys(tmp_path: Path, ori: str, table: str, where: str = "") -> dict[str, str]:
    with sqlite3.connect(tmp_path / ori / "relay.db") as db:
        return dict(db.execute(f"SELECT envelope_id, order_key FROM {table} {where}"))  # noqa: S608


async def test_a_thread_queues_under_one_key_at_every_relay(net: Network, tmp_path: Path) -> None:
    """Found by relay chaos: a partner's reply (and a hop's own reply to a relayed BOLO)
    queued under another key than its BOLO at the hop and at the receiver, so it could
    overtake the BOLO and land as a reply in a thread "that was not shared". One thread,
    one key: the thread's first envelope id, whoever wrote the message."""
    ct, ma = net.nodes[CT].agency, net.nodes[MA].agency
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    reply = net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=_copy_of(net, MA, BOLO)["ts"])
    await net.settle(MA, 2)
    ma_root = net.post(MA, "bolo", DUNNE, "BOLO: blue Jeep Cherokee, MA reg 7XY-201, Route 2.")
    await net.settle(MA, 3)
    answer = net.post(
        CT,
        "bolo",
        OKAFOR,
        "Seen on I-84 WB.",
        thread_ts=_copy_of(net, CT, "BOLO: blue Jeep")["ts"],
    )
    await net.settle(CT, 3)
    ct_root, ma_reply = f"{CT}.{ct.channel('bolo')}.{root}", f"{MA}.{ma.channel('bolo')}.{reply}"
    ma_thread, ct_answer = (
        f"{MA}.{ma.channel('bolo')}.{ma_root}",
        f"{CT}.{ct.channel('bolo')}.{answer}",
    )
    at_ct = _order_keys(tmp_path, CT, "outbox", f"WHERE partner = '{FC}'")
    assert at_ct[ma_reply] == at_ct[ct_root] == ct_root
    assert at_ct[ct_answer] == at_ct[ma_thread] == ma_thread
    for ori in (FC, NY):
        received = _order_keys(tmp_path, ori, "inbound")
        assert received[ma_reply] == received[ct_root], ori
        assert received[ct_answer] == received[ma_thread], ori


async def test_an_edited_orphan_reply_still_says_its_thread_was_not_shared(net: Network) -> None:
    """Found by relay chaos: the edit of a reply posted as an orphan rendered the copy
    again without the context line, so it looked like a new top-level message."""
    assert net.emu is not None
    call = "Call Det. Okafor direct at 203-555-0142 about the Route 9 crew tonight."
    net.post(CT, "bolo", OKAFOR, call)
    await net.settle(CT, 1)
    ma = net.nodes[MA].agency
    reply = net.post(
        MA,
        "bolo",
        DUNNE,
        "Same crew hit our lot on Tuesday.",
        thread_ts=_copy_of(net, MA, call)["ts"],
    )
    await net.settle(MA, 2)
    net.emu.edit_as_user(
        ma.team, ma.channel("bolo"), DUNNE, reply, "Same crew, white van, Tuesday."
    )
    await net.settle(MA, 3)
    [orphan] = [m for m in _bolo(net, NY) if _origin(m)]
    assert "white van" in orphan["text"]
    assert "thread that was not shared" in str(orphan["blocks"])


async def test_a_reply_to_a_bolo_deleted_meanwhile_is_posted_as_an_orphan(net: Network) -> None:
    """Havenport's officer deleted the BOLO while Havenport's relay was away; Millbrook's
    reply reaches Havenport after: Slack refuses the gone thread (invalid_thread_ts), and the
    reply is shown as one whose thread is not here, not retried until it dies."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    root = net.post(CT, "bolo", OKAFOR, BOLO)
    await net.settle(CT, 1)
    ma_copy = _copy_of(net, MA, BOLO)
    await net.kill(CT)
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OKAFOR, root)
    net.post(MA, "bolo", DUNNE, IDENTIFIED, thread_ts=ma_copy["ts"])
    await net.emu.wait_for_settled_events(net.nodes[MA].agency.team, 2, timeout=10)
    await net.restart(CT)
    [orphan] = await net.emu.wait_for_posts(ct.team, ct.channel("bolo"), 1, timeout=30)
    assert "J. Brandt" in orphan["text"]
    assert orphan.get("thread_ts") in (None, orphan["ts"])
    assert "thread that was not shared" in str(orphan["blocks"])
