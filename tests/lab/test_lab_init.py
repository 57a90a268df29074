"""``relay lab init``: a complete, self-contained lab that ``relay config check`` accepts, and
its error cases (one line, exit 2); ``relay lab up``'s refusals before anything starts."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
import yaml

from relay.cli import main
from relay.commands.config import check_config
from relay.lab.labinit import CATALOGUE, init_lab
from relay.lab.workspaces import read_workspaces
from tests.lab.procs import relay


def test_nine_agencies_every_relay_yaml_passes_config_check(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    made = init_lab(lab, 9)
    assert [a.ori for a in made] == [a.ori for a in CATALOGUE]
    loaded = read_workspaces(lab / "emulator.json")
    specs = {s.team_id: s for s in loaded.specs}
    ports = [loaded.port]
    for agency in made:
        home = lab / agency.ori
        if agency in (made[0], made[-1]):  # written alike; each check loads the policy (slow)
            problems, summary, code = check_config(str(home / "relay.yaml"))
            assert (code, problems) == (0, []), problems
            assert summary.startswith(f"config ok: {agency.ori}, 8 partners, policy ")
        config = yaml.safe_load((home / "relay.yaml").read_text(encoding="utf-8"))
        slack = config["slack"]
        spec = specs[slack["team_id"]]
        assert {c.id: c.name for c in spec.channels} == slack["channels"]
        assert spec.bot_token == (home / slack["bot_token_file"]).read_text().strip()
        assert spec.signing_secret == (home / slack["signing_secret_file"]).read_text().strip()
        assert slack["api_url"] == f"http://127.0.0.1:{loaded.port}/api/"
        assert spec.delivery is not None
        assert spec.delivery.url == (  # type: ignore[union-attr]
            f"http://127.0.0.1:{slack['listen']['port']}/slack/events"
        )
        ports += [
            slack["listen"]["port"],
            config["federation"]["listen"]["port"],
            config["admin"]["listen"]["port"],
        ]
        for secret in ("keys/" + agency.ori + "-lab-k1.key.pem", "tls/relay.key"):
            assert stat.S_IMODE((home / secret).stat().st_mode) == 0o600
        jwk = json.loads((home / "keys" / f"{agency.ori}-lab-k1.jwk.json").read_text())
        assert jwk["kid"] == f"{agency.ori}#lab-k1"
        policy = yaml.safe_load((home / "policy.yaml").read_text(encoding="utf-8"))
        assert policy["extends"] == "../policies/baseline.yaml"
        assert len(policy["partners"]) == 8
    assert len(set(ports)) == len(ports) == 1 + 3 * 9
    assert (lab / "policies" / "baseline.yaml").is_file()


def test_init_cli_default_three_agencies(tmp_path: Path) -> None:
    result = relay("lab", "init", str(tmp_path / "lab"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "lab").iterdir()) == [
        "CT9990100",
        "MA9990200",
        "NY9990300",
        "ca",
        "emulator.json",
        "policies",
    ]
    check = relay("config", "check", str(tmp_path / "lab" / "CT9990100" / "relay.yaml"))
    assert check.returncode == 0, check.stderr
    assert check.stderr == ""
    assert check.stdout.startswith("config ok: CT9990100, 2 partners, policy ")
    for ori in ("MA9990200", "NY9990300"):
        problems, _, code = check_config(str(tmp_path / "lab" / ori / "relay.yaml"))
        assert (code, problems) == (0, []), problems


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``relay ARGS`` in this process (the same ``main`` as the console script)."""

    def run(*args: str) -> _Result:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return _Result(code, out, err)

    return run


def _one_error(result: _Result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines


def test_init_errors(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("x")
    _one_error(cli("lab", "init", str(full)), str(full), "not empty")
    assert sorted(p.name for p in full.iterdir()) == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_error(cli("lab", "init", str(afile)), str(afile), "not a directory")
    for n in ("1", "10", "0"):
        _one_error(cli("lab", "init", str(tmp_path / f"n{n}"), "--agencies", n), "2 to 9")
        assert not (tmp_path / f"n{n}").exists()
    _one_error(cli("lab", "init", str(tmp_path / "x"), "--agencies", "three"), "--agencies")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("lab", "init", str(empty), "--agencies", "2").returncode == 0


def test_up_refuses_a_non_lab_and_a_taken_port(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _one_error(cli("lab", "up", str(tmp_path)), str(tmp_path), "not a lab")
    _one_error(cli("lab", "up", str(tmp_path / "nope")), "not a directory")
    lab = tmp_path / "lab"
    init_lab(lab, 2)
    config = yaml.safe_load((lab / "MA9990200" / "relay.yaml").read_text(encoding="utf-8"))
    port = config["federation"]["listen"]["port"]
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen()
        result = cli("lab", "up", str(lab))
    _one_error(result, f"port {port} (MA9990200 federation", "in use")
    assert result.stdout == ""
    assert not (lab / "CT9990100" / "relay.log").exists()
    (lab / "CT9990100" / "relay.yaml").write_text("agency: [\n")
    _one_error(cli("lab", "up", str(lab)), "CT9990100/relay.yaml:")
