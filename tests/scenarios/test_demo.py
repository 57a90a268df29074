"""README command 1: ``relay demo`` on its embedded defaults."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from relay.assemble import keyring_from_config
from relay.commands.demo import CT, FC, MA, NY, OKAFOR, agencies, run_demo
from relay.commands.demo_report import relay_posts
from relay.core.envelope import verify_envelope
from relay.core.model import AgencyId
from relay.core.reasons import Reason
from relay.errors import VerificationError
from relay.lab.network import Network

BOLO = (
    "BOLO - stolen blue Ford Ranger, NY reg KRT-4412, last seen on Route 9 northbound.\n"
    "Contact Det. Sgt. R. Okafor, 555-0142."
)


async def test_the_demo_shares_blocks_and_keeps_verified_ledgers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_demo(as_json=False) == 0
    # the report's lines (a log line a relay writes while the network stops is not the report)
    out = [
        line
        for line in capsys.readouterr().out.splitlines()
        if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[", line)
    ]
    summary = re.fullmatch(
        r"summary: (\d+) messages posted in partner workspaces, "
        r"(\d+) blocked and (\d+) redacted decisions\.",
        out[-1],
    )
    assert summary is not None
    posted, blocked, redacted = map(int, summary.groups())
    assert posted > 0
    assert blocked > 0
    assert redacted > 0
    assert out[-3] == (
        f"conversation: Sgt. P. Dunne (Millbrook PD) identified the suspect in the thread of "
        f"Millbrook PD's copy of {_photo_bolo(out)}; the reply is in that thread at "
        f"Havenport PD (directly), CT State Fusion Center (via {CT}), "
        f"Eastfield PD (via {CT}, {FC})."
    )
    ledgers = out[-2]
    assert ledgers.startswith("audit ledgers: ")
    found = re.findall(r"([A-Z]{2}[A-Z0-9]{7}) (\d+) records (\w+)", ledgers)
    assert len(found) == 4
    assert all(int(n) > 0 and state == "verified" for _, n, state in found)
    assert re.fullmatch(
        r"photo text: read and blacked out in the pixels before it left: "
        r"CT9990100\.\S+ \(photo_text\.informant\.source\) to Millbrook PD, "
        r"CT State Fusion Center",
        out[-4],
    ), "the whiteboard photo's source line is blacked out at the partners (issue 17)"
    text = "\n".join(out)
    assert "[photo: Briefing board; text in it blacked out in 4 places]" in text
    assert "path CT9990100 → CT999FC00 → NY9990300, its own policy: forward" in text
    assert "x 1 line withheld by CT999FC00" in text


def _photo_bolo(out: list[str]) -> str:
    """The envelope id of Havenport's BOLO with the suspect's photo, as the report shows it."""
    at = out.index("                          [photo: Quickstop suspect still]")
    return next(line.split()[1] for line in reversed(out[:at]) if line.startswith("envelope "))


KEYS = ["workspace", "channel", "text", "files", "thread_of", "origin", "envelope_id", "via"]


async def test_the_demos_json_lines_tell_the_conversation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One line per post any relay made, the origin's workspace included: Millbrook's
    identification is in Havenport's, the fusion center's and Eastfield's workspaces, each
    line naming the origin's root (Havenport's photo BOLO) as ``thread_of``."""
    assert await run_demo(as_json=True) == 0
    out = capsys.readouterr().out.splitlines()
    *lines, last = [json.loads(line) for line in out if line.startswith("{")]  # not the log
    assert all(list(line) == KEYS for line in lines)
    assert list(last) == ["summary"]
    assert last["summary"]["posted"] == len(lines)
    assert last["summary"]["blocked"] > 0
    assert last["summary"]["redacted"] > 0
    for line in lines:
        assert line["envelope_id"].startswith(line["origin"] + ".")
        assert line["thread_of"] is None or line["thread_of"].startswith(f"{CT}.")
        assert line["workspace"] != line["origin"], "a relay posts only what others wrote"

    [photo] = {
        line["envelope_id"] for line in lines if line["files"] == ["Quickstop suspect still"]
    }
    replies = {line["workspace"]: line for line in lines if line["origin"] == MA}
    assert set(replies) == {CT, FC, NY}
    assert {line["envelope_id"] for line in replies.values()} == {replies[CT]["envelope_id"]}
    assert replies[CT]["envelope_id"].startswith(f"{MA}.")
    for ori, path in ((CT, []), (FC, [CT]), (NY, [CT, FC])):
        reply = replies[ori]
        assert reply["thread_of"] == photo, ori
        assert reply["via"] == path, ori
        assert (reply["channel"], reply["files"]) == ("bolo", [])
        assert "That is Dale Kessling, we arrested him last year" in reply["text"]
    # Havenport's own thread replies (the update, the cancellation) name its root everywhere
    update = [line for line in lines if line["text"].startswith("UPDATE to BOLO 24-018732")]
    assert {line["workspace"] for line in update} == {MA, FC, NY}
    [root] = {line["thread_of"] for line in update}
    assert str(root).startswith(f"{CT}.CHAVE00.")
    assert [line for line in lines if line["envelope_id"] == root and line["thread_of"]] == []
    assert [line["origin"] for line in lines if line["workspace"] == CT] == [MA]


async def test_eastfield_hears_from_havenport_only_through_the_fusion_center(
    tmp_path: Path,
) -> None:
    """The hop partner's copies come through the fusion center: the origin's signature
    intact (verified against Havenport's key pinned under ``origins:``, refused without it),
    the fusion center's own rule applied (the line with a phone number withheld), and
    ``via`` says so; Millbrook's direct copy keeps the line and has ``via: []``."""
    async with Network(tmp_path, agencies()) as net:
        assert set(net.configs[NY].partners) == {FC}
        assert set(net.configs[NY].origins) == {CT, MA}
        assert set(net.configs[CT].partners) == {MA, FC}
        net.post(CT, "bolo", OKAFOR, BOLO)
        await net.settle(CT, 1)
        posts = {p["workspace"]: p for p in relay_posts(net)}
        assert set(posts) == {MA, FC, NY}
        assert posts[MA]["via"] == []
        assert posts[FC]["via"] == []
        assert posts[NY]["via"] == [FC]
        assert "555-0142" in posts[MA]["text"]
        assert "555-0142" not in posts[NY]["text"]
        assert "Route 9" in posts[NY]["text"]
        assert posts[NY]["origin"] == CT
        envelope_id = posts[NY]["envelope_id"]

        delivery = net.received[(NY, CT, envelope_id)]
        got = delivery.envelope
        assert (got.issuer, got.origin_kid.split("#")[0]) == (CT, CT)
        assert [h.signer for h in got.hops] == [FC]
        assert got.withheld == 1, "one line withheld by the hop"
        assert not any("555-0142" in line.text for line in got.lines)
        now = dt.datetime.now(dt.UTC)
        keyring = keyring_from_config(net.configs[NY])
        again = verify_envelope(got.envelope, keyring, now=now, receiver=AgencyId(NY))
        assert again.issuer == CT, "the origin signature verifies against the pinned key"
        unpinned = keyring_from_config(dataclasses.replace(net.configs[NY], origins={}))
        with pytest.raises(VerificationError) as refused:
            verify_envelope(got.envelope, unpinned, now=now, receiver=AgencyId(NY))
        assert refused.value.code == Reason.KEY_NOT_PINNED
