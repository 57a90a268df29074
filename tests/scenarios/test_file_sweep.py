"""A photo BOLO's file is held at the partner only while an envelope naming it is still to be
worked: delivered and settled, it is gone after the next sweep, and the gauges say so. Real
relays, real HTTPS, the emulator's Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.commands.demo import photo
from relay.lab.network import Network
from tests.scenarios.pair import havenport_and_millbrook

CT, MA = "CT9990100", "MA9990200"
OFFICER = "U0OKAFOR01"
BOLO = "BOLO: armed robbery at the Sunoco on Whitney Ave. Suspect in a grey hoodie."


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with Network(tmp_path, havenport_and_millbrook(OFFICER)) as network:
        yield network


async def test_a_delivered_photos_file_is_deleted_at_the_next_sweep(net: Network) -> None:
    assert net.emu is not None
    net.post(CT, "bolo", OFFICER, BOLO, files=[("suspect.jpg", photo("s"), "Suspect", "")])
    await net.settle(CT, 1)
    ma = net.nodes[MA]
    shares = [
        p for p in net.emu.messages(ma.agency.team, ma.agency.channel("bolo")) if p.get("files")
    ]
    assert len(shares) == 1, "the photo was posted with the BOLO"
    parts = ma.relay.parts
    [held] = await parts.aio.blob_usage()
    assert (held.peer, held.count) == (CT, 1)
    swept = await parts.files.sweep()
    assert (swept.deleted, swept.size) == (1, held.size)
    assert await parts.aio.blob_usage() == []
    registry = parts.metrics.registry
    assert registry.get_sample_value("relay_blobs_held_bytes", {"holder": CT}) is None
    # At the sender, its own copy goes once no outbox row still has to send it.
    ct = net.nodes[CT].relay.parts
    assert await ct.aio.queue_entries(state="pending") == []
    await ct.files.sweep()
    assert await ct.aio.blob_usage() == []
