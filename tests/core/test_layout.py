"""The layout's rules hold for every change: modules stay small, and the production path does
not load the lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RELAY = Path(__file__).resolve().parents[2] / "relay"
MAX_LINES = 400


def test_every_module_under_relay_is_at_most_400_lines() -> None:
    long = {
        str(path.relative_to(RELAY.parent)): n
        for path in RELAY.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_cli_and_a_running_relay_load_no_lab_tool() -> None:
    """``relay`` and the modules ``relay run`` builds a relay from import no test or lab tool
    (the crash points, inert unless a test names one, are the one exception)."""
    code = (
        "import sys, relay.cli, relay.app, relay.assemble\n"
        "print(sorted(m for m in sys.modules if m.startswith('relay.lab')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "['relay.lab', 'relay.lab.crashpoints']"
