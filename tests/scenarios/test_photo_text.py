"""The text in photos end to end (issue 17): a whiteboard photo naming a source crosses to the
partner with the source's line blacked out in the pixels, and the rest readable; an NCIC
screenshot blocks the message; a photo the OCR cannot read is withheld with a line saying
so. Real relays, real HTTPS, the emulator's Slack, the real OCR engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from relay.lab.network import Agency, Network
from relay.lab.photos import drawn_photos, png
from relay.ocr import PhotoReader
from tests.scenarios.pair import havenport_and_millbrook

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "examples"
CT, MA = "CT9990100", "MA9990200"
OFFICER = "U0OKAFOR01"
BOLO = "BOLO: blue Honda Civic seen at the Ridge Road lot. Whiteboard from the briefing."
PHOTOS = {p.name: p for p in drawn_photos()}


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, havenport_and_millbrook(OFFICER)) as network:
        yield network


def _partner_posts(net: Network) -> list[dict[str, object]]:
    assert net.emu is not None
    ma = net.nodes[MA]
    return list(net.emu.messages(ma.agency.team, ma.agency.channel("bolo")))


async def test_a_sources_line_on_a_whiteboard_is_blacked_out_at_the_partner(
    net: Network,
) -> None:
    board = PHOTOS["whiteboard.png"]
    net.post(CT, "bolo", OFFICER, BOLO, files=[("IMG_0412.png", png(board.image), "", "")])
    await net.settle(CT, 1)
    [post] = [p for p in _partner_posts(net) if p.get("files")]
    assert net.emu is not None
    files = post["files"]
    assert isinstance(files, list)
    assert len(files) == 1
    stored = net.emu.workspace(net.nodes[MA].agency.team).files[files[0]["id"]]
    assert stored.content is not None
    reader = PhotoReader()
    try:
        seen = reader.read_now(stored.content)
    finally:
        reader.close()
    words = {w.text for line in seen.lines for w in line.words}
    assert not words & set(board.must_go), "the source's name and phone are not readable"
    assert set(board.must_stay) <= words, "the vehicle line still reads"
    # recognised text is message content: never in an audit record or a metric
    for node in net.nodes.values():
        kept = repr(node.relay.store.audit_rows()) + generate_latest(
            node.relay.metrics.registry
        ).decode(errors="replace")
        assert "Okafor" not in kept
        assert "Lantern" not in kept
    ct = net.nodes[CT].relay.metrics.registry
    assert (
        ct.get_sample_value(
            "relay_rule_hits_total",
            {"direction": "outbound", "rule": "photo_text.informant.source", "action": "redact"},
        )
        == 2.0
    ), "the rule id is what is counted (one decision per partner)"
    read = ct.get_sample_value("relay_ocr_photos_total", {"outcome": "read"})
    assert read is not None
    assert read >= 2, "the photo, then the painted photo"


async def test_an_ncic_screenshot_blocks_the_message(net: Network) -> None:
    ncic = PHOTOS["ncic_return.png"]
    net.post(CT, "bolo", OFFICER, BOLO, files=[("IMG_0413.png", png(ncic.image), "", "")])
    await net.settle(CT, 1)
    assert _partner_posts(net) == [], "nothing of it reached the partner"


async def test_without_the_ocr_engine_the_photo_is_withheld_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: the engine missing (no language data found), the photo does not leave;
    the partner sees the text and a line saying a photo was withheld, the author a note
    naming the rule. The only test that runs without the engine, on purpose."""
    monkeypatch.setattr("relay.ocr.reader.tessdata_path", lambda configured=None: None)
    async with Network(tmp_path, havenport_and_millbrook(OFFICER)) as net:
        plate = PHOTOS["plate.png"]
        net.post(CT, "bolo", OFFICER, BOLO, files=[("IMG_0414.png", png(plate.image), "", "")])
        await net.settle(CT, 1)
        [post] = _partner_posts(net)
        assert not post.get("files"), "the photo did not leave"
        assert "photo(s) withheld by the relay" in str(post["text"])
        assert "blue Honda Civic" in str(post["text"])
        assert net.emu is not None
        notes = [e["text"] for e in net.emu.ephemeral(net.nodes[CT].agency.team)]
        assert any("photo_text.unread" in n for n in notes), "the author is told"
        ct = net.nodes[CT].relay.metrics.registry
        assert ct.get_sample_value("relay_ocr_photos_total", {"outcome": "ocr_unavailable"})


async def test_a_held_post_released_by_a_supervisor_sends_its_photo_blacked_out(
    tmp_path: Path,
) -> None:
    """Held for review (a dissemination caveat), released without the flagged parts: the
    photo goes too, read like any other, its source's line blacked out."""
    from tests.scenarios.test_review import CAVEAT, SERGEANT, _agencies, _Reviewed, one_card
    from tests.scenarios.test_review import release as click_release

    board = PHOTOS["whiteboard.png"]
    async with _Reviewed(tmp_path, _agencies()) as net:
        net.post(
            CT,
            "bolo",
            OFFICER,
            BOLO + "\n" + CAVEAT,
            files=[("IMG_0415.png", png(board.image), "", "")],
        )
        await net.settle(CT, 1)
        assert [p for p in _partner_posts(net) if p.get("files")] == []  # held
        card = await one_card(net)
        await click_release(net, card, SERGEANT, "without_flagged", "officer_safety")
        await net.settle(CT, 2)
        [post] = [p for p in _partner_posts(net) if p.get("files")]
        files = post["files"]
        assert isinstance(files, list)
        assert net.emu is not None
        stored = net.emu.workspace(net.nodes[MA].agency.team).files[files[0]["id"]]
        assert stored.content is not None
        reader = PhotoReader()
        try:
            seen = reader.read_now(stored.content)
        finally:
            reader.close()
        words = {w.text for line in seen.lines for w in line.words}
        assert "Okafor" not in words
        assert "Honda" in words


async def test_the_receiving_relay_reads_the_photo_itself(tmp_path: Path) -> None:
    """Havenport's policy does not read photos (``photo_text: not_checked``): the whiteboard
    leaves unread. Millbrook's relay reads the pixels it received, its own policy finds the
    source's line, and the photo is kept back there with a line saying so."""
    text = (EXAMPLES / "ct9990100-havenport.yaml").read_text(encoding="utf-8")
    lax = tmp_path / "havenport-unread.yaml"
    lax.write_text(
        text.replace(
            "extends: ../baseline.yaml", f"extends: {ROOT / 'policies' / 'baseline.yaml'}"
        )
        + "\nphoto_text: not_checked\n",
        encoding="utf-8",
    )
    agencies = [
        Agency(
            CT, "Havenport PD", "T0HAVENPT1", lax, officers=((OFFICER, "Det. Sgt. R. Okafor"),)
        ),
        Agency(MA, "Millbrook PD", "T0MILLBRK1", EXAMPLES / "ma9990200-millbrook.yaml"),
    ]
    board = PHOTOS["whiteboard.png"]
    async with Network(tmp_path / "net", agencies) as net:
        net.post(CT, "bolo", OFFICER, BOLO, files=[("IMG_0416.png", png(board.image), "", "")])
        await net.settle(CT, 1)
        await net.nodes[MA].relay.drain()
        [post] = _partner_posts(net)
        assert not post.get("files"), "kept back by the receiving agency's policy"
        assert "photo(s) withheld by this agency's policy" in str(post["text"])
        assert "blue Honda Civic" in str(post["text"])
