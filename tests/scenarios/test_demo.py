"""README command 1: ``relay demo`` on its embedded defaults."""

from __future__ import annotations

import re

import pytest

from relay.commands.demo import run_demo


async def test_the_demo_shares_blocks_and_keeps_verified_ledgers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_demo(as_json=False) == 0
    out = capsys.readouterr().out.splitlines()
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
    ledgers = out[-2]
    assert ledgers.startswith("audit ledgers: ")
    found = re.findall(r"([A-Z]{2}[A-Z0-9]{7}) (\d+) records (\w+)", ledgers)
    assert len(found) == 3
    assert all(int(n) > 0 and state == "verified" for _, n, state in found)
