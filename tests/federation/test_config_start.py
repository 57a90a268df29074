"""relay.yaml: problems named as file:line, and two relays started from their config files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from relay.config import ConfigLoadError, load_config
from relay.lab.relayyaml import Listen, Slack
from tests.helpers import (
    CT,
    MA,
    NOWHERE,
    bolo_event,
    publish_and_drain,
    relay_config,
    start_pair,
    write_bolo_policies,
    write_config,
    write_relay,
)


async def test_two_relays_started_from_relay_yaml_exchange_a_bolo(tmp_path: Path) -> None:
    ca = trustme.CA()
    ct, ma = write_relay(tmp_path, CT, ca), write_relay(tmp_path, MA, ca)
    write_bolo_policies(ct, ma)
    ct_relay, ma_relay, delivered = await start_pair(ct, ma)
    try:
        await publish_and_drain(ct_relay, ma_relay, bolo_event("3.1"))
        delivery = delivered.get_nowait()
    finally:
        await ct_relay.stop()
        await ma_relay.stop()
    assert delivery.envelope.issuer == CT
    assert "CT reg 7KX219" in delivery.envelope.lines[0].text


def test_config_problems_are_named_by_line(tmp_path):
    text = """agency: ct9990100
policy: p.yaml
signing_key: k.pem
signing_kid: "XX#1"
federation:
  listen: {host: 127.0.0.1, port: 99999}
  tls: {cert: a, key: b, ca: c}
  hop_limt: 3
partners:
  - ori: MA9990200
    url: http://relay.millbrook.example
    tls_sha256: [nothex]
    keys:
      - kid: "RI9990400#k1"
        public_key: short
        not_before: 2027-01-01
        not_after: 2026-01-01
"""
    with pytest.raises(ConfigLoadError) as err:
        load_config(text, source="relay.yaml", base_dir=tmp_path)
    lines = err.value.lines()
    expected = {
        "relay.yaml:1:",  # agency not an ORI
        "relay.yaml:4:",  # signing_kid
        "relay.yaml:6:",  # port range
        "relay.yaml:8:",  # unknown key hop_limt
        "relay.yaml:11:",  # http url
        "relay.yaml:12:",  # fingerprint
        "relay.yaml:15:",  # public key
    }
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)
    assert any("not_before must be before not_after" in line for line in lines)
    assert any("is not a key of MA9990200" in line for line in lines)


async def test_relays_from_relay_yaml_with_slack_events_api_and_socket_mode(tmp_path, monkeypatch):
    """Havenport takes events over HTTP, Millbrook over Socket Mode; tokens come from the
    environment and a file, never from the YAML."""
    from relay.lab.emulator import ChannelSpec, Emulator, UserSpec, WorkspaceSpec

    specs = [
        WorkspaceSpec(
            team_id="T0HAVENPT1",
            name="Havenport PD",
            users=(UserSpec(id="U0OKAFOR01", name="okafor"),),
            channels=(ChannelSpec(id="C0HBOLO01", name="bolo"),),
        ),
        WorkspaceSpec(
            team_id="T0MILLBRK1",
            name="Millbrook PD",
            channels=(ChannelSpec(id="C0MBOLO01", name="bolo"),),
        ),
    ]
    ca = trustme.CA()
    ct, ma = write_relay(tmp_path, CT, ca), write_relay(tmp_path, MA, ca)
    write_bolo_policies(ct, ma)
    async with Emulator(specs) as emu:
        hws, mws = emu.workspace("T0HAVENPT1"), emu.workspace("T0MILLBRK1")
        monkeypatch.setenv("CT_BOT_TOKEN", hws.bot_token)
        monkeypatch.setenv("CT_SIGNING_SECRET", hws.signing_secret)
        monkeypatch.setenv("MA_BOT_TOKEN", mws.bot_token)
        (ma.dir / "app-token").write_text(mws.app_token + "\n")
        emu.use_socket_mode("T0MILLBRK1")
        slack_ma = Slack(
            team_id="T0MILLBRK1",
            mode="socket",
            api_url=emu.api_url,
            bot_token_env="MA_BOT_TOKEN",
            app_token_file="app-token",
            channels={"C0MBOLO01": "bolo"},
        )
        slack_ct = Slack(
            team_id="T0HAVENPT1",
            api_url=emu.api_url,
            bot_token_env="CT_BOT_TOKEN",
            signing_secret_env="CT_SIGNING_SECRET",
            listen=Listen("127.0.0.1", 0),
            channels={"C0HBOLO01": "bolo"},
        )
        ct_relay, ma_relay, _ = await start_pair(
            ct, ma, ct_extra={"slack": slack_ct}, ma_extra={"slack": slack_ma}
        )
        try:
            assert ct_relay.slack_url is not None
            emu.set_event_url("T0HAVENPT1", ct_relay.slack_url)
            await emu.wait_for_socket_connections("T0MILLBRK1", 1, timeout=5)
            emu.post_as_user(
                "T0HAVENPT1",
                "C0HBOLO01",
                "U0OKAFOR01",
                "BOLO: stolen white F-150, CT reg 7KX219, Route 9 northbound.",
            )
            [post] = await emu.wait_for_posts("T0MILLBRK1", "C0MBOLO01", 1, timeout=10)
        finally:
            await ct_relay.stop()
            await ma_relay.stop()
    assert "CT reg 7KX219" in post["text"]
    assert post["metadata"]["event_payload"]["origin"] == CT


def test_secrets_are_refused_in_the_yaml(tmp_path):
    text = """agency: CT9990100
policy: p.yaml
signing_key: k.pem
signing_kid: "CT9990100#k1"
federation:
  tls: {cert: a, key: b, ca: c}
slack:
  team_id: T0HAVENPT1
  bot_token: xoxb-123-456
  channels: {C0BOLO0001: bolo}
"""
    with pytest.raises(ConfigLoadError) as err:
        load_config(text, source="relay.yaml", base_dir=tmp_path)
    lines = err.value.lines()
    assert any(
        line.startswith("relay.yaml:9:") and "must not be written" in line for line in lines
    )
    assert all("xoxb-123-456" not in line for line in lines)


def test_delivery_and_catch_up_settings_are_checked_by_line(tmp_path):
    text = """agency: CT9990100
policy: p.yaml
signing_key: k.pem
signing_kid: "CT9990100#1"
federation:
  listen: {host: 127.0.0.1, port: 0}
  tls: {cert: a, key: b, ca: c}
partners: []
delivery:
  lease_seconds: 0
  retry_cap_seconds: -1
  max_age_hours: 2
  batchsize: 3
slack:
  team_id: T0HAVENPT1
  bot_token_env: X
  signing_secret_env: Y
  catch_up_seconds: 0
  channels: {C0HBOLO01: bolo}
"""
    with pytest.raises(ConfigLoadError) as err:
        load_config(text, source="relay.yaml", base_dir=tmp_path)
    lines = err.value.lines()
    for prefix, what in (
        ("relay.yaml:10:", "lease_seconds"),
        ("relay.yaml:11:", "retry_cap_seconds"),
        ("relay.yaml:13:", "batchsize"),
        ("relay.yaml:18:", "catch_up_seconds"),
    ):
        assert any(line.startswith(prefix) and what in line for line in lines), (prefix, lines)
    good = (
        text.replace("  lease_seconds: 0\n  retry_cap_seconds: -1\n", "")
        .replace("  batchsize: 3\n", "")
        .replace("catch_up_seconds: 0", "catch_up_seconds: 30")
    )
    config = load_config(good, source="relay.yaml", base_dir=tmp_path)
    assert config.delivery.max_age.total_seconds() == 2 * 3600
    assert config.delivery.lease == 30.0  # the default
    assert config.slack is not None
    assert config.slack.catch_up_seconds == 30.0


def test_relay_run_with_a_policy_that_does_not_load_names_its_line_and_exits_2(
    tmp_path: Path,
) -> None:
    """Fail closed, and say where: the policy's own file:line lines, exit 2."""
    ca = trustme.CA()
    ct, ma = write_relay(tmp_path, CT, ca), write_relay(tmp_path, MA, ca)
    write_bolo_policies(ct, ma)
    policy = ct.dir / "policy.yaml"
    policy.write_text(policy.read_text() + "detectors:\n  - id: broken\n    action: explode\n")
    path = write_config(ct, relay_config(ct, [(ma, NOWHERE)]))
    result = subprocess.run(
        [sys.executable, "-m", "relay", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines
    assert all(line.startswith(f"{policy}:") for line in lines), lines
    assert "Traceback" not in result.stderr


def test_relay_run_refuses_the_example_pins_by_line_and_starts_nothing(tmp_path: Path) -> None:
    """A relay.yaml still holding relay.example.yaml's all-zero fingerprint and a ``.example``
    partner URL: exit 2 with ``FILE:LINE`` for each, no relay_started line, no store made."""
    ca = trustme.CA()
    ct, ma = write_relay(tmp_path, CT, ca), write_relay(tmp_path, MA, ca)
    write_bolo_policies(ct, ma)
    path = write_config(ct, relay_config(ct, [(ma, "https://relay.millbrook.example:8443")]))
    text = path.read_text()
    pin = ma.fingerprint
    assert pin in text
    path.write_text(text.replace(pin, f"'{'0' * 64}'"))
    lines = path.read_text().splitlines()
    expected = {
        n for n, line in enumerate(lines, 1) if "0" * 64 in line or "millbrook.example" in line
    }
    assert len(expected) == 2
    result = subprocess.run(
        [sys.executable, "-m", "relay", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    got = result.stderr.strip().splitlines()
    assert {int(line.split(":")[1]) for line in got} == expected, got
    assert all(line.startswith(f"{path}:") for line in got), got
    assert "Traceback" not in result.stderr
    assert not (ct.dir / "relay.db").exists()
