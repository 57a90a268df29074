"""``relay policy diff``: a new policy against the old over cases (offline) and over the
agency's own recent messages in the emulator's workspace (read only), as a summary and as
JSON; exit 0 with no change, 1 with changes, 2 on bad input; never a message's text."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.cli import main
from relay.lab.network import Agency, Network
from tests.scenarios.test_shadow_policy import CANARY, HAVENPORT, MEDICAL, PLAIN, candidate_file

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "policies" / "baseline.yaml"
CASES = ROOT / "policies" / "cases" / "baseline"
CT, MA, FC = "CT9990100", "MA9990200", "CT999FC00"
OFFICER, MA_OFFICER = "U0OKAFOR01", "U0DUNNE001"
NOW = ["--now", "2026-11-26T12:00:00+00:00"]
# the baseline's medical sentences block instead of being stripped
STRICTER = (
    "  - id: medical.detail\n    action: strip",
    "  - id: medical.detail\n    action: block",
)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["policy", "diff", *args, *NOW])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


@pytest.fixture
def stricter(tmp_path: Path) -> Path:
    text = BASELINE.read_text(encoding="utf-8").replace(*STRICTER)
    path = tmp_path / "stricter.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    d = tmp_path / "cases"
    d.mkdir()
    for name, text in (("bolo_medical.json", MEDICAL), ("bolo_plain.json", PLAIN)):
        (d / name).write_text(json.dumps({"text": text, "channel": "#bolo"}), encoding="utf-8")
    return d


def test_the_same_policy_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(BASELINE), str(BASELINE), str(CASES))
    assert code == 0
    assert out.splitlines()[0] == (
        "policy diff: 20 cases judged, 60 decisions compared, 0 changed"
    )


def test_a_stricter_policy_names_partners_kinds_rules_and_cases(
    capsys: pytest.CaptureFixture[str], stricter: Path, cases: Path
) -> None:
    code, out, err = _run(capsys, str(BASELINE), str(stricter), str(cases))
    assert code == 1
    assert out.splitlines() == [
        "policy diff: 2 cases judged, 6 decisions compared, 3 changed",
        "changed by partner and kind:",
        "  MA9990200  more_blocked   1",
        "  NY9990300  more_blocked   1",
        "  RI9990400  more_blocked   1",
        "rules started firing: none",
        "rules stopped firing: none",
        "changes:",
        "  bolo_medical.json  MA9990200  bolo  more_blocked  medical.detail",
        "  bolo_medical.json  NY9990300  bolo  more_blocked  medical.detail",
        "  bolo_medical.json  RI9990400  bolo  more_blocked  medical.detail",
    ]
    assert CANARY not in out + err
    code, out, _ = _run(capsys, str(stricter), str(BASELINE), str(cases), "--peer", MA)
    assert code == 1
    assert "  MA9990200  less_blocked   1" in out.splitlines()
    assert "NY9990300" not in out


def test_json_is_one_document_of_the_documented_shape(
    capsys: pytest.CaptureFixture[str], stricter: Path, cases: Path
) -> None:
    code, out, _ = _run(capsys, str(BASELINE), str(stricter), str(cases), "--json")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {
        "format",
        "source",
        "old",
        "new",
        "judged",
        "decisions",
        "changed",
        "by_partner",
        "rules",
        "changes",
    }
    assert (doc["format"], doc["source"], doc["judged"], doc["changed"]) == (1, "cases", 2, 3)
    assert doc["old"]["file"] == str(BASELINE)
    assert len(doc["new"]["digest"]) == 64
    assert doc["by_partner"][MA] == {"more_blocked": 1}
    assert doc["rules"] == {"started": {}, "stopped": {}}
    assert doc["changes"][0] == {
        "case": "bolo_medical.json",
        "partner": MA,
        "topic": "bolo",
        "kinds": ["more_blocked"],
        "rules": {"more_blocked": ["medical.detail"]},
        "started": [],
        "stopped": [],
    }
    assert CANARY not in out


def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stricter: Path, cases: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nagency: {ori: CT9990100}\nshar_with: []\n", encoding="utf-8")
    code, out, err = _run(capsys, str(BASELINE), str(broken), str(cases))
    assert (code, out) == (2, "")
    assert err.startswith(f"{broken}:")
    assert all(line.split(":")[1].isdigit() for line in err.splitlines())

    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(capsys, str(BASELINE), str(stricter), str(empty))[0] == 2
    (cases / "bolo_bad.json").write_text("{not json " + CANARY, encoding="utf-8")
    code, _, err = _run(capsys, str(BASELINE), str(stricter), str(cases))
    assert code == 2
    assert err == "relay policy diff: bolo_bad.json: unreadable case\n"
    assert _run(capsys, str(BASELINE), str(stricter))[0] == 2  # neither cases nor --config
    code, _, err = _run(capsys, str(BASELINE), str(stricter), "--config", "relay.yaml")
    assert code == 2
    assert "--since" in err
    other = ROOT / "policies" / "examples" / "ma9990200-millbrook.yaml"
    assert _run(capsys, str(BASELINE), str(other), str(cases))[0] == 2
    (cases / "bolo_bad.json").unlink()
    for flag, value in (("--peer", "ZZ0000000"), ("--topic", "no-such-topic")):
        code, _, err = _run(capsys, str(BASELINE), str(stricter), str(cases), flag, value)
        assert code == 2, flag
        assert "of neither policy" in err


def _agencies() -> list[Agency]:
    return [
        Agency(CT, "Havenport PD", "T0HAVENPT1", HAVENPORT, officers=((OFFICER, "Det. Okafor"),)),
        Agency(
            MA,
            "Millbrook PD",
            "T0MILLBRK1",
            ROOT / "policies" / "examples" / "ma9990200-millbrook.yaml",
            officers=((MA_OFFICER, "Sgt. Dunne"),),
        ),
    ]


async def _diff(*args: str) -> tuple[int, str, str]:
    """The command as a process (its own event loop; the relays' logs stay out of its
    output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relay",
        "policy",
        "diff",
        *args,
        *NOW,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert b"Traceback" not in err
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_workspace_replay_reads_federated_messages_and_links_each_change(
    tmp_path: Path,
) -> None:
    new = candidate_file(tmp_path)
    async with Network(tmp_path / "net", _agencies()) as net:
        assert net.emu is not None
        root = net.post(CT, "bolo", OFFICER, PLAIN)
        reply = net.post(CT, "bolo", OFFICER, MEDICAL, thread_ts=root)
        medical = net.post(CT, "bolo", OFFICER, MEDICAL)
        net.post(MA, "bolo", MA_OFFICER, "BOLO: blue Ford Transit, MA reg 7TX-402, Route 9.")
        await net.settle(CT, 3)
        await net.settle(MA, 1)
        config = net.configs[CT].source
        writes = len([c for c in net.emu.calls() if not c.method.startswith(_READS)])

        code, out, err = await _diff(
            str(HAVENPORT), str(new), "--config", config, "--since", "2000-01-01", "--json"
        )
        assert (code, err) == (1, "")
        doc = json.loads(out)
        assert doc["source"] == "workspace"
        assert doc["judged"] == 3, "the relay's copy of Millbrook's post is not ours to judge"
        changed = {(c["ts"], c["partner"]): c for c in doc["changes"]}
        assert set(changed) == {(ts, p) for ts in (reply, medical) for p in (MA, FC)}
        channel = net.nodes[CT].agency.channel("bolo")
        link = changed[(medical, MA)]["link"]
        assert link.endswith(f"/archives/{channel}/p{medical.replace('.', '')}")
        assert changed[(reply, MA)]["link"].endswith(f"?thread_ts={root}&cid={channel}")
        assert changed[(medical, MA)]["kinds"] == ["more_blocked"]
        assert CANARY not in out

        code, out, _ = await _diff(
            str(HAVENPORT), str(new), "--config", config, "--since", "2026-11-01"
        )
        assert code == 1
        assert "3 messages judged" in out.splitlines()[0]
        assert f"/p{medical.replace('.', '')}  {MA}  bolo  more_blocked" in out
        assert CANARY not in out

        code, out, _ = await _diff(
            str(HAVENPORT), str(new), "--config", config, "--since", "2100-01-01"
        )
        assert (code, out.splitlines()[0]) == (
            0,
            "policy diff: 0 messages judged, 0 decisions compared, 0 changed",
        )
        after = len([c for c in net.emu.calls() if not c.method.startswith(_READS)])
        assert after == writes, "nothing written to Slack"

        code, _, err = await _diff(
            str(HAVENPORT), str(new), "--config", config, "--since", "last week"
        )
        assert code == 2
        assert "bad --since" in err


_READS: Any = ("auth.test", "conversations.", "chat.getPermalink", "users.info", "files.info")
