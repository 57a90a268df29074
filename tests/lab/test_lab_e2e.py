"""``relay lab init`` then ``relay lab up`` as a real process: an officer of Havenport posts a
BOLO through the emulator's Web API with their user token, Millbrook's workspace gets the
partner copy in its #bolo (read with Millbrook's bot token), SIGTERM stops everything, exit 0."""

from __future__ import annotations

import time
from pathlib import Path

from slack_sdk import WebClient

from tests.lab.procs import Running, relay

BOLO = (
    "BOLO - stolen white Ford Transit cargo van, CT reg XY-98765, ladder rack.\n"
    "Last seen northbound on Route 9 toward Millbrook at 1400 hrs.\n"
    "Havenport PD case 25-004411."
)


def test_lab_up_carries_an_officers_bolo_to_a_partner(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    made = relay("lab", "init", str(lab), timeout=120)
    assert made.returncode == 0, made.stderr
    up = Running("lab", "up", str(lab))
    try:
        first = up.line(timeout=60)
        assert set(first) == {"emulator", "api_url", "workspaces"}
        agencies = [up.line(timeout=150) for _ in range(3)]
        assert [a["agency"] for a in agencies] == ["CT9990100", "MA9990200", "NY9990300"]
        for a in agencies:
            assert set(a) == {"agency", "federation", "slack_events", "admin", "team", "dir"}
            assert a["federation"].startswith("https://127.0.0.1:")
            assert a["slack_events"].endswith("/slack/events")
            assert Path(a["dir"]) == (lab / a["agency"]).resolve()
        ws = {w["team"]: w for w in first["workspaces"]}
        havenport, millbrook = ws[agencies[0]["team"]], ws[agencies[1]["team"]]
        officer = WebClient(
            token=havenport["users"]["r.okafor"]["token"], base_url=first["api_url"]
        )
        posted = officer.chat_postMessage(channel=havenport["channels"]["bolo"], text=BOLO)
        assert posted["message"]["user"] == "U0OKAFOR01"
        partner = WebClient(token=millbrook["bot_token"], base_url=first["api_url"])
        copy = None
        deadline = time.monotonic() + 90
        while copy is None and time.monotonic() < deadline:
            history = partner.conversations_history(
                channel=millbrook["channels"]["bolo"], include_all_metadata=True
            )
            copy = next((m for m in history["messages"] if "XY-98765" in m["text"]), None)
            if copy is None:
                time.sleep(0.25)
        assert copy is not None, "no partner copy in Millbrook #bolo within 90 s"
        assert "Route 9" in copy["text"]
        assert copy["metadata"]["event_payload"]["origin"] == "CT9990100"
        code, err = up.stop(timeout=90)
        assert code == 0, err
        assert up.rest() == []
        for ori in ("CT9990100", "MA9990200", "NY9990300"):
            log = (lab / ori / "relay.log").read_text(encoding="utf-8")
            assert '"event": "relay_started"' in log
    finally:
        up.kill()
