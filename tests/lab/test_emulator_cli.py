"""``relay emulator``: the first line's shape, slack-sdk against its api_url, SIGTERM exits 0,
a workspaces file (with its host and port) and its errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from slack_sdk import WebClient

from tests.lab.procs import Running, relay


def test_demo_workspaces_first_line_web_api_and_sigterm() -> None:
    emu = Running("emulator", "--port", "0")
    try:
        first = emu.line(timeout=60)
        assert set(first) == {"emulator", "api_url", "workspaces"}
        assert first["emulator"].startswith("http://127.0.0.1:")
        assert first["api_url"] == first["emulator"] + "/api/"
        teams = [w["team"] for w in first["workspaces"]]
        assert teams == ["T0HAVENPT1", "T0MILLBRK1", "T0EASTFLD1", "T0CTFUSC01"]
        for ws in first["workspaces"]:
            assert set(ws) == {"team", "name", "bot_token", "signing_secret", "channels", "users"}
            assert set(ws["channels"]) == {
                "bolo",
                "ctwide-intel",
                "narcotics",
                "pattern-crime",
                "dd-burglaries",
            }
            for user in ws["users"].values():
                assert set(user) == {"id", "token"}
                assert user["token"].startswith("xoxp-")
        havenport = first["workspaces"][0]
        assert havenport["users"]["r.okafor"]["id"] == "U0OKAFOR01"
        bolo = havenport["channels"]["bolo"]
        bot = WebClient(token=havenport["bot_token"], base_url=first["api_url"])
        assert bot.auth_test()["team_id"] == "T0HAVENPT1"
        officer = WebClient(
            token=havenport["users"]["r.okafor"]["token"], base_url=first["api_url"]
        )
        posted = officer.chat_postMessage(channel=bolo, text="BOLO: grey sedan, Route 9")
        assert posted["message"]["user"] == "U0OKAFOR01"
        history = bot.conversations_history(channel=bolo)  # the bot is in every channel
        assert [m["text"] for m in history["messages"]] == ["BOLO: grey sedan, Route 9"]
        code, err = emu.stop()
        assert code == 0, err
        assert emu.rest() == []
    finally:
        emu.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_workspaces_file_sets_tokens_channels_and_port(tmp_path: Path) -> None:
    port = _free_port()
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "workspaces": [
            {
                "team": "T0FILE0001",
                "name": "File PD",
                "bot_token": "xoxb-file-bot",
                "signing_secret": "s3cret",
                "events_url": None,
                "channels": {"bolo": "C0FILEBOLO", "intel": "G0FILEINTL"},
                "users": {"a.officer": {"id": "U0FILE0001", "token": "xoxp-file-user"}},
            }
        ],
    }
    path = tmp_path / "workspaces.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    emu = Running("emulator", "--workspaces", str(path))
    try:
        first = emu.line(timeout=60)
        assert first["emulator"] == f"http://127.0.0.1:{port}"
        (ws,) = first["workspaces"]
        assert ws == {
            "team": "T0FILE0001",
            "name": "File PD",
            "bot_token": "xoxb-file-bot",
            "signing_secret": "s3cret",
            "channels": {"bolo": "C0FILEBOLO", "intel": "G0FILEINTL"},
            "users": {"a.officer": {"id": "U0FILE0001", "token": "xoxp-file-user"}},
        }
        user = WebClient(token="xoxp-file-user", base_url=first["api_url"])
        assert user.chat_postMessage(channel="G0FILEINTL", text="private note")["ok"]
        code, err = emu.stop()
        assert code == 0, err
    finally:
        emu.kill()


def test_bad_workspaces_files_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = {
        "missing.json": None,
        "notjson.json": "{",
        "empty.json": "[]",
        "team.json": json.dumps([{"team": "bad", "name": "X", "channels": {"b": "C0B0001"}}]),
        "key.json": json.dumps(
            [{"team": "T0X0001", "name": "X", "channels": {"b": "C0B0001"}, "colour": 1}]
        ),
        "dup.json": json.dumps(
            [
                {"team": "T0X0001", "name": "X", "channels": {"b": "C0B0001"}},
                {"team": "T0X0001", "name": "Y", "channels": {"b": "C0B0001"}},
            ]
        ),
    }
    expected = {
        "missing.json": "file not found",
        "notjson.json": "not JSON",
        "empty.json": "non-empty list",
        "team.json": "workspaces[0].team",
        "key.json": "unknown key 'colour'",
        "dup.json": "duplicate team T0X0001",
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text, encoding="utf-8")
        result = relay("emulator", "--workspaces", str(path), timeout=60)
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (name, result.stderr)
        assert lines[0].startswith(f"relay emulator: {path}: "), lines
        assert expected[name] in lines[0], lines
        assert result.stdout == ""


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = relay("emulator", "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"relay emulator: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr
