"""``relay config check``: the whole configuration checked, problems as ``FILE:LINE``.

A valid configuration is built in ``tmp_path`` with relay's own key generator and ``trustme``
TLS material; every class of mistake is then introduced once and must give ``file:line``, an
``error:`` or ``warning:`` line, the summary line and exit 2 (or 0 for warnings only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from relay.cli import main
from relay.cli_keygen import run_keygen
from relay.commands.config import PLACEHOLDERS
from relay.config import read_config
from relay.core.policy.yamlnodes import Loc, Problems, parse_yaml

ROOT: Final = Path(__file__).resolve().parents[2]
BOT_TOKEN: Final = "xoxb-TOKEN-VALUE-MUST-NOT-SHOW"
SIGNING_SECRET: Final = "SIGNING-SECRET-MUST-NOT-SHOW"
PG_PASSWORD: Final = "PG-PASSWORD-MUST-NOT-SHOW"
LINE: Final = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<sev>error|warning): (?P<msg>.+)$")
NOW: Final = dt.datetime.now(dt.UTC)

CONFIG: Final = """\
agency: CT9990100
policy: {policy}
signing_key: keys/CT9990100-2027-k9.key.pem
signing_kid: "CT9990100#2027-k9"
store: sqlite:///state/relay.db
admin:
  listen: {{host: 127.0.0.1, port: 9469}}
logging: {{format: json, level: info}}
federation:
  listen: {{host: 0.0.0.0, port: 8443}}
  tls:
    cert: tls/relay.crt
    key: tls/relay.key
    ca: tls/ca.pem
partners:
  - ori: MA9990200
    url: https://relay.millbrook.test:8443
    tls_sha256:
      - "{pin}"
    keys:
      - kid: "MA9990200#2027-k1"
        public_key: {partner_x}
        not_before: 2026-01-01T00:00:00Z
        not_after: {not_after}
        revoked: false
slack:
  team_id: T0TESTWS01
  mode: events
  api_url: https://slack.com/api/
  bot_token_file: secrets/bot-token
  signing_secret_env: RELAY_TEST_SIGNING_SECRET
  listen: {{host: 127.0.0.1, port: 3000}}
  channels:
    C0TESTBOLO: bolo
    C0TESTINTL: ctwide-intel
    C0TESTNARC: narcotics
    C0TESTBURG: dd-burglaries
    C0TESTPATT: pattern-crime
"""


def _keygen(agency: str, out: Path, suffix: str) -> Path:
    args = argparse.Namespace(agency=agency, out=out, kid_suffix=suffix)
    assert run_keygen(args) == 0
    return out / f"{agency}-{suffix}.jwk.json"


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "relay.yaml"
        self.ca = trustme.CA()

    def write_cert(self, **kwargs: Any) -> None:
        leaf = self.ca.issue_cert("relay.havenport.test", **kwargs)
        tls = self.root / "tls"
        tls.mkdir(exist_ok=True)
        leaf.cert_chain_pems[0].write_to_path(str(tls / "relay.crt"))
        leaf.private_key_pem.write_to_path(str(tls / "relay.key"))
        (tls / "relay.key").chmod(0o600)
        self.ca.cert_pem.write_to_path(str(tls / "ca.pem"))

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def replace(self, old: str, new: str) -> None:
        assert old in self.text, old
        self.path.write_text(self.text.replace(old, new, 1), encoding="utf-8")

    def line_of(self, needle: str, text: str | None = None) -> int:
        for number, line in enumerate((text or self.text).splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(needle)


@pytest.fixture
def setup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Setup:
    s = Setup(tmp_path)
    _keygen("CT9990100", tmp_path / "keys", "2027-k9")
    partner = json.loads(_keygen("MA9990200", tmp_path / "partner", "2027-k1").read_text())
    s.write_cert()
    other = trustme.CA().issue_cert("relay.millbrook.test")
    der = other.cert_chain_pems[0].bytes()
    from cryptography import x509

    pin = hashlib.sha256(
        x509.load_pem_x509_certificate(der).public_bytes(serialization.Encoding.DER)
    ).hexdigest()
    (tmp_path / "state").mkdir()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "bot-token").write_text(BOT_TOKEN + "\n", encoding="utf-8")
    (secrets / "bot-token").chmod(0o600)
    monkeypatch.setenv("RELAY_TEST_SIGNING_SECRET", SIGNING_SECRET)
    s.path.write_text(
        CONFIG.format(
            policy=ROOT / "policies" / "baseline.yaml",
            pin=pin,
            partner_x=partner["x"],
            not_after=(NOW + dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
        encoding="utf-8",
    )
    capsys.readouterr()  # keygen's own output
    return s


def _check(
    capsys: pytest.CaptureFixture[str], path: Path, *extra: str
) -> tuple[int, list[dict[str, str]], str]:
    code = main(["config", "check", str(path), *extra])
    captured = capsys.readouterr()
    for secret in (BOT_TOKEN, SIGNING_SECRET, PG_PASSWORD):
        assert secret not in captured.out + captured.err
    assert "Traceback" not in captured.err
    problems = []
    for line in captured.err.splitlines():
        match = LINE.match(line)
        assert match, line
        problems.append(match.groupdict())
    (summary,) = captured.out.splitlines()
    return code, problems, summary


def test_supervisors_and_the_cancel_reaction_are_read(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.replace(
        "    C0TESTPATT: pattern-crime\n",
        "    C0TESTPATT: pattern-crime\n  supervisors:\n    users: [U0SGTBAKR1, W0LTMORAN1]\n"
        "    usergroup: S0SUPERVS1\n  cancel_reaction: x\n  status_reaction: eyes\n",
    )
    code, problems, _ = _check(capsys, setup.path)
    assert (code, _errors(problems)) == (0, [])
    slack = read_config(setup.path).slack
    assert slack is not None
    assert slack.supervisors.users == {"U0SGTBAKR1", "W0LTMORAN1"}
    assert (slack.supervisors.usergroup, slack.cancel_reaction) == ("S0SUPERVS1", "x")
    assert slack.status_reaction == "eyes"


def _errors(problems: list[dict[str, str]]) -> list[dict[str, str]]:
    return [p for p in problems if p["sev"] == "error"]


def test_a_valid_configuration_passes(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, problems, summary = _check(capsys, setup.path)
    assert _errors(problems) == []
    assert code == 0
    assert re.fullmatch(r"config ok: CT9990100, 1 partners, policy [0-9a-f]{12}", summary)
    # The baseline policy also shares with agencies this relay.yaml has no link for.
    assert {p["msg"] for p in problems} >= {
        "policy partner NY9990300 has no entry under partners:"
    }


def test_connect_opens_the_sqlite_store(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, problems, _ = _check(capsys, setup.path, "--connect")
    assert (code, _errors(problems)) == (0, [])
    assert (setup.root / "state" / "relay.db").is_file()


def test_the_unmodified_example_fails_on_its_placeholders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = ROOT / "relay.example.yaml"
    text = example.read_text(encoding="utf-8")
    code, problems, summary = _check(capsys, example)
    assert code == 2
    assert summary == f"config invalid: {len(_errors(problems))} errors"
    placeholder = {int(p["line"]) for p in _errors(problems) if "relay.example.yaml" in p["msg"]}
    for value in PLACEHOLDERS:
        lines = [n for n, line in enumerate(text.splitlines(), 1) if value in line]
        assert lines, f"{value} is not in relay.example.yaml any more"
        assert set(lines) <= placeholder, value
    hosts = [p for p in problems if "relay.millbrook.example" in p["msg"]]
    assert hosts
    assert hosts[0]["line"] == str(
        text.splitlines().index(
            next(
                line
                for line in text.splitlines()
                if "url: https://relay.millbrook.example" in line
            )
        )
        + 1
    )
    assert all(p["file"] == str(example) for p in problems)


def test_placeholders_are_the_example_values() -> None:
    """PLACEHOLDERS are values of relay.example.yaml (scalars or mapping keys)."""
    doc = parse_yaml((ROOT / "relay.example.yaml").read_text(encoding="utf-8"), Problems())
    assert doc is not None
    values: set[str] = set()

    def walk(node: Loc) -> None:
        if isinstance(node.value, dict):
            values.update(node.value)
            for child in node.value.values():
                walk(child)
        elif isinstance(node.value, list):
            for child in node.value:
                walk(child)
        else:
            values.add(str(node.value))

    walk(doc)
    assert set(PLACEHOLDERS) <= values


Mutation = Callable[[Setup], object]


def _ec_signing_key(s: Setup) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = s.root / "keys" / "CT9990100-2027-k9.key.pem"
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _mismatched_tls_key(s: Setup) -> None:
    other = s.ca.issue_cert("other.test")
    other.private_key_pem.write_to_path(str(s.root / "tls" / "relay.key"))


def _broken_policy(s: Setup) -> None:
    (s.root / "policy.yaml").write_text("version: '1'\nversion: '2'\n", encoding="utf-8")
    s.replace(str(ROOT / "policies" / "baseline.yaml"), "policy.yaml")


def _other_agency_policy(s: Setup) -> None:
    s.replace(
        str(ROOT / "policies" / "baseline.yaml"),
        str(ROOT / "policies" / "examples" / "ma9990200-millbrook.yaml"),
    )


def _key_window(days: int) -> Mutation:
    def mutate(s: Setup) -> None:
        stamp = (NOW + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        s.replace("not_after: ", f"not_after: {stamp} #")
        if days < 0:
            s.replace("not_before: 2026-01-01T00:00:00Z", "not_before: 2020-01-01T00:00:00Z")

    return mutate


def _example_key_path(s: Setup) -> None:
    keys = s.root / "keys"
    (keys / "CT9990100-2027-k9.key.pem").rename(keys / "CT9990100-2026-k1.key.pem")
    s.replace("CT9990100-2027-k9.key.pem", "CT9990100-2026-k1.key.pem")


def _expired_cert(s: Setup) -> None:
    s.write_cert(not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=2))


def _expiring_cert(s: Setup) -> None:
    s.write_cert(not_before=NOW - dt.timedelta(days=30), not_after=NOW + dt.timedelta(days=10))


# (mutation, the text on the line the problem names (None: the policy file), severity, words)
CASES: Final[dict[str, tuple[Mutation, str | None, str, str]]] = {
    "loader_unknown_key": (
        lambda s: s.replace("logging: {", "loging: {"),
        "loging:",
        "error",
        "unknown key 'loging'",
    ),
    "policy_duplicate_key": (_broken_policy, None, "error", "duplicate key 'version'"),
    "policy_other_agency": (_other_agency_policy, "policy:", "error", "is for MA9990200"),
    "signing_key_missing": (
        lambda s: (s.root / "keys" / "CT9990100-2027-k9.key.pem").unlink(),
        "signing_key:",
        "error",
        "file not found",
    ),
    "signing_key_not_ed25519": (_ec_signing_key, "signing_key:", "error", "not an Ed25519 key"),
    "signing_key_world_readable": (
        lambda s: (s.root / "keys" / "CT9990100-2027-k9.key.pem").chmod(0o644),
        "signing_key:",
        "warning",
        "readable by others",
    ),
    "tls_ca_missing": (
        lambda s: (s.root / "tls" / "ca.pem").unlink(),
        "ca: tls/ca.pem",
        "error",
        "file not found",
    ),
    "tls_cert_garbage": (
        lambda s: (s.root / "tls" / "relay.crt").write_text("not a cert\n"),
        "cert: tls/relay.crt",
        "error",
        "not a PEM certificate",
    ),
    "tls_key_mismatch": (_mismatched_tls_key, "cert: tls/relay.crt", "error", "do not match"),
    "tls_cert_expired": (_expired_cert, "cert: tls/relay.crt", "error", "expired 2 days ago"),
    "tls_cert_expiring": (_expiring_cert, "cert: tls/relay.crt", "warning", "expires in 9 days"),
    "pin_all_zero": (
        lambda s: s.replace(s.text.split('      - "')[1].split('"')[0], "0" * 64),
        '      - "0000',
        "error",
        "all-zero certificate fingerprint",
    ),
    "pin_not_hex": (
        lambda s: s.replace('      - "', '      - "xyz'),
        '      - "xyz',
        "error",
        "64 hex",
    ),
    "partner_key_placeholder": (
        lambda s: s.replace("public_key: ", "public_key: " + "A" * 43 + " #"),
        "public_key: AAAA",
        "error",
        "placeholder public key",
    ),
    "partner_key_not_a_point": (
        lambda s: s.replace("public_key: ", "public_key: " + "_" * 42 + "w #"),
        "public_key: ____",
        "error",
        "not a valid Ed25519 public key",
    ),
    "partner_key_expired": (_key_window(-3), "not_after:", "error", "expired"),
    "partner_key_expiring": (_key_window(5), "not_after:", "warning", "expires in 4 days"),
    "partner_keys_all_revoked": (
        lambda s: s.replace("revoked: false", "revoked: true"),
        "- kid:",
        "error",
        "no unrevoked signing key",
    ),
    "partner_url_example_host": (
        lambda s: s.replace("relay.millbrook.test", "relay.millbrook.example"),
        "url: https://relay.millbrook.example",
        "error",
        "reserved .example host",
    ),
    "partner_url_http": (
        lambda s: s.replace("https://relay.millbrook.test", "http://relay.millbrook.test"),
        "url: http://",
        "error",
        "https://",
    ),
    "store_scheme": (
        lambda s: s.replace("sqlite:///state/relay.db", "mysql://db/relay"),
        "store:",
        "error",
        "scheme 'mysql' is not supported",
    ),
    "store_directory_missing": (
        lambda s: s.replace("sqlite:///state/", "sqlite:///nowhere/"),
        "store:",
        "error",
        "does not exist",
    ),
    "store_password_in_url": (
        lambda s: s.replace(
            "sqlite:///state/relay.db", f"postgresql://relay:{PG_PASSWORD}@db.test:5432/relay"
        ),
        "store:",
        "error",
        "holds a password",
    ),
    "slack_env_missing": (
        lambda s: s.replace("RELAY_TEST_SIGNING_SECRET", "RELAY_TEST_UNSET_SECRET"),
        "signing_secret_env:",
        "error",
        "RELAY_TEST_UNSET_SECRET is not set",
    ),
    "slack_token_file_missing": (
        lambda s: (s.root / "secrets" / "bot-token").unlink(),
        "bot_token_file:",
        "error",
        "cannot read",
    ),
    "slack_team_placeholder": (
        lambda s: s.replace("T0TESTWS01", "T0EXAMPLE01"),
        "team_id:",
        "error",
        "example Slack team id",
    ),
    "slack_channel_placeholder": (
        lambda s: s.replace("C0TESTBOLO", "C0BOLO0001"),
        "C0BOLO0001",
        "error",
        "example Slack channel id",
    ),
    "signing_key_example_path": (
        _example_key_path,
        "signing_key:",
        "error",
        "example signing key path",
    ),
    "listener_clash": (
        lambda s: s.replace("{host: 127.0.0.1, port: 9469}", "{host: 127.0.0.1, port: 8443}"),
        "{host: 127.0.0.1, port: 8443}",
        "error",
        "both use 127.0.0.1:8443",
    ),
    "slack_supervisor_not_a_user_id": (
        lambda s: s.replace(
            "    C0TESTPATT: pattern-crime\n",
            "    C0TESTPATT: pattern-crime\n  supervisors:\n    users: [U0SGTBAKR1, sgt.baker]\n",
        ),
        "users: [U0SGTBAKR1, sgt.baker]",
        "error",
        "'sgt.baker' is not a Slack user id",
    ),
    "slack_supervisor_group_not_a_group_id": (
        lambda s: s.replace(
            "    C0TESTPATT: pattern-crime\n",
            "    C0TESTPATT: pattern-crime\n  supervisors:\n    usergroup: '@supervisors'\n",
        ),
        "usergroup: '@supervisors'",
        "error",
        "is not a Slack user group id",
    ),
    "slack_cancel_reaction_with_colons": (
        lambda s: s.replace(
            "    C0TESTPATT: pattern-crime\n",
            "    C0TESTPATT: pattern-crime\n  cancel_reaction: ':no_entry:'\n",
        ),
        "cancel_reaction:",
        "error",
        "emoji name without colons",
    ),
    "slack_status_reaction_not_an_emoji_name": (
        lambda s: s.replace(
            "    C0TESTPATT: pattern-crime\n",
            "    C0TESTPATT: pattern-crime\n  status_reaction: 'what happened?'\n",
        ),
        "status_reaction:",
        "error",
        "slack.status_reaction must be an emoji name",
    ),
    "slack_cancel_and_status_reaction_the_same": (
        lambda s: s.replace(
            "    C0TESTPATT: pattern-crime\n",
            "    C0TESTPATT: pattern-crime\n  cancel_reaction: x\n  status_reaction: x\n",
        ),
        "status_reaction: x",
        "error",
        "must differ",
    ),
    "slack_cancel_reaction_is_a_relay_mark": (
        lambda s: s.replace(
            "    C0TESTPATT: pattern-crime\n",
            "    C0TESTPATT: pattern-crime\n  cancel_reaction: warning\n",
        ),
        "cancel_reaction: warning",
        "error",
        "the relay's own marks",
    ),
    "slack_port_out_of_range": (
        lambda s: s.replace("port: 3000", "port: 70000"),
        "port: 70000",
        "error",
        "not 0-65535",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mistake_names_file_and_line(
    setup: Setup, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    mutate, needle, severity, words = CASES[case]
    mutate(setup)
    code, problems, summary = _check(capsys, setup.path)
    found = [p for p in problems if words in p["msg"] and p["sev"] == severity]
    assert found, problems
    if needle is None:
        assert found[0]["file"] == str(setup.root / "policy.yaml")
        assert found[0]["line"] == "2"
    else:
        assert found[0]["file"] == str(setup.path)
        assert found[0]["line"] == str(setup.line_of(needle))
    if severity == "error":
        assert code == 2
        assert summary == f"config invalid: {len(_errors(problems))} errors"
    else:
        assert code == 0
        assert summary.startswith("config ok: CT9990100, 1 partners, policy ")


def test_connect_to_an_unreachable_postgres_is_an_error(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.replace("sqlite:///state/relay.db", "postgresql://relay@127.0.0.1:1/relay")
    code, problems, _ = _check(capsys, setup.path, "--connect")
    assert code == 2
    (problem,) = _errors(problems)
    assert problem["line"] == str(setup.line_of("store:"))
    assert problem["msg"].startswith("store: cannot open (")
    assert "127.0.0.1:1" not in problem["msg"]


def test_a_missing_file_and_a_yaml_syntax_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, problems, summary = _check(capsys, tmp_path / "absent.yaml")
    assert (code, summary) == (2, "config invalid: 1 errors")
    assert problems[0]["msg"].startswith("cannot read file")
    bad = tmp_path / "relay.yaml"
    bad.write_text("agency: CT9990100\npartners: [\n", encoding="utf-8")
    code, problems, _ = _check(capsys, bad)
    assert code == 2
    assert any("YAML syntax error" in p["msg"] for p in problems)


def test_as_a_process_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "relay.yaml"
    bad.write_text("agency: 12\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "relay", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("config invalid: ")
    assert all(LINE.match(line) for line in result.stderr.splitlines())


# -- audit.previous_keys -------------------------------------------------------------------------
def _with_previous_key(s: Setup, kid: str, x: str) -> None:
    with s.path.open("a", encoding="utf-8") as out:
        out.write(
            "audit:\n"
            "  retention_days: 400\n"
            "  previous_keys:\n"
            f'    - kid: "{kid}"\n'
            f"      public_key: {x}\n"
            "      not_before: 2025-01-01T00:00:00Z\n"
            "      not_after: 2026-06-01T00:00:00Z\n"
        )


def test_previous_keys(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    old = json.loads(_keygen("CT9990100", setup.root / "old", "2026-k1").read_text())
    current = json.loads((setup.root / "keys" / "CT9990100-2027-k9.jwk.json").read_text())
    capsys.readouterr()
    original = setup.text
    _with_previous_key(setup, "CT9990100#2026-k1", old["x"])
    code, problems, _ = _check(capsys, setup.path)
    assert (code, _errors(problems)) == (0, [])
    assert not [p for p in problems if "previous" in p["msg"]]

    cases = [  # (kid, x, severity, words, the line it is reported at)
        ("CT9990100#2026-k1", current["x"], "warning", "is the current signing key", "public_key"),
        ("MA9990200#2026-k1", old["x"], "error", "is not a key of CT9990100", "- kid"),
        ("CT9990100#2027-k9", old["x"], "error", "is the current signing_kid", "- kid"),
        ("CT9990100", old["x"], "error", "kid must look like ORI#suffix", "- kid"),
        ("CT9990100#2026-k1", "not-a-key", "error", "43-character base64url", "public_key"),
    ]
    for kid, x, severity, words, needle in cases:
        setup.path.write_text(original, encoding="utf-8")
        _with_previous_key(setup, kid, x)
        code, problems, _ = _check(capsys, setup.path)
        found = [p for p in problems if words in p["msg"]]
        assert found, (kid, problems)
        assert found[0]["sev"] == severity
        lines = setup.text.splitlines()
        start = lines.index("audit:")
        at = next(n for n, line in enumerate(lines[start:], start + 1) if needle in line)
        assert found[0]["line"] == str(at)
        assert code == (0 if severity == "warning" else 2)


def test_an_accepted_topic_without_a_channel_is_an_error(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Envelopes of such a topic would be refused (``topic_not_mapped``): said before it bites."""
    text = setup.path.read_text(encoding="utf-8")
    setup.path.write_text(text.replace("    C0TESTBURG: dd-burglaries\n", ""), encoding="utf-8")
    code, problems, _ = _check(capsys, setup.path)
    assert code == 2
    errors = [p["msg"] for p in _errors(problems)]
    assert errors
    assert all("dd-burglaries" in e and "topic_not_mapped" in e for e in errors)


def test_partner_channels_are_checked(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    original = setup.path.read_text(encoding="utf-8")

    def check(routes: str) -> list[str]:
        text = original.replace("    C0TESTBURG: dd-burglaries\n", "").replace(
            "    C0TESTPATT: pattern-crime\n",
            f"    C0TESTPATT: pattern-crime\n  partner_channels:\n{routes}",
        )
        setup.path.write_text(text, encoding="utf-8")
        code, problems, _ = _check(capsys, setup.path)
        assert code == 2
        return [p["msg"] for p in _errors(problems)]

    errors = check("    dd-burglaries: C0PARTBURG\n    bolo: {XX: C0PARTXXXX}\n")
    assert any("'XX' is not 'default' or an ORI" in e for e in errors)
    errors = check(
        "    dd-burglaries: C0PARTBURG\n"
        "    bolo: {default: C0PARTBOLO, MA9990999: C0PARTMAXX}\n"
        "    no-such-topic: C0PARTNONE\n"
    )
    assert not any("topic_not_mapped" in e for e in errors), "dd-burglaries lands somewhere"
    assert any("'no-such-topic' is not a topic of the policy" in e for e in errors)
    assert any("MA9990999 is not a partner in the policy" in e for e in errors)


# -- origins: keys of agencies heard from only through a hop -------------------------------------
def _with_origins(s: Setup, entries: str) -> None:
    with s.path.open("a", encoding="utf-8") as out:
        out.write("origins:\n" + entries)


def _origin(ori: str, kid: str, x: str, *, extra: str = "", not_after: str = "") -> str:
    end = not_after or (NOW + dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"  - ori: {ori}\n{extra}"
        "    keys:\n"
        f'      - kid: "{kid}"\n'
        f"        public_key: {x}\n"
        "        not_before: 2026-01-01T00:00:00Z\n"
        f"        not_after: {end}\n"
    )


def test_origins_pin_the_keys_of_agencies_heard_through_a_hop(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    from relay.assemble import keyring_from_config
    from relay.config import read_config

    ny = json.loads(_keygen("NY9990300", setup.root / "ny", "2027-k1").read_text())
    capsys.readouterr()
    _with_origins(setup, _origin("NY9990300", "NY9990300#2027-k1", ny["x"]))
    code, problems, summary = _check(capsys, setup.path)
    assert (code, _errors(problems)) == (0, []), problems
    assert summary.startswith("config ok: CT9990100, 1 partners, ")
    # The baseline policy's partner NY9990300 is heard through a hop: no missing-link warning.
    assert not [p for p in problems if "NY9990300 has no entry" in p["msg"]]
    config = read_config(setup.path)
    assert set(config.origins) == {"NY9990300"}
    assert set(config.partners) == {"MA9990200"}, "an origin is no partner: no link, no TLS pin"
    pinned = {k.kid: k.agency for k in keyring_from_config(config).keys}
    assert pinned == {"MA9990200#2027-k1": "MA9990200", "NY9990300#2027-k1": "NY9990300"}


def test_each_origins_mistake_names_file_and_line(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    ny = json.loads(_keygen("NY9990300", setup.root / "ny", "2027-k1").read_text())
    ma = setup.text.split("public_key: ")[1].split("\n")[0]
    capsys.readouterr()
    original = setup.text
    good = _origin("NY9990300", "NY9990300#2027-k1", ny["x"])
    past = (NOW - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cases = [  # (origins entries, words, the text on the line it is reported at)
        (_origin("MA9990200", "MA9990200#2027-k1", ma), "is a partner", "  - ori: MA9990200"),
        (_origin("CT9990100", "CT9990100#x", ny["x"]), "is this agency", "  - ori: CT9990100"),
        (good + good, "duplicate origin 'NY9990300'", None),
        (_origin("NY9990300", "RI9990400#k1", ny["x"]), "is not a key of NY9990300", "- kid"),
        (_origin("ny999", "NY9990300#k1", ny["x"]), "origin ori must match", "  - ori: ny999"),
        (
            _origin("NY9990300", "NY9990300#k1", ny["x"], extra="    url: https://ny.test\n"),
            "unknown key 'url' in origin",
            "    url:",
        ),
        ("  - ori: NY9990300\n", "origin needs at least one pinned signing key", "  - ori: NY"),
        ("  NY9990300: x\n", "origins must be a list", "  NY9990300: x"),
        (
            _origin("NY9990300", "NY9990300#k1", "_" * 42 + "w"),
            "origin key NY9990300#k1: not a valid Ed25519 public key",
            "public_key: ____",
        ),
        (
            _origin("NY9990300", "NY9990300#k1", ny["x"], not_after=past),
            "origin key NY9990300#k1 expired",
            "not_after: " + past[:10],
        ),
    ]
    for entries, words, needle in cases:
        setup.path.write_text(original, encoding="utf-8")
        _with_origins(setup, entries)
        code, problems, summary = _check(capsys, setup.path)
        found = [p for p in _errors(problems) if words in p["msg"]]
        assert found, (words, problems)
        assert found[0]["file"] == str(setup.path)
        lines = setup.text.splitlines()
        start = lines.index("origins:")
        if needle is None:  # the second entry
            at = [n for n, line in enumerate(lines, 1) if line.startswith("  - ori:")][-1]
        else:
            at = next(n for n, line in enumerate(lines[start:], start + 1) if needle in line)
        assert found[0]["line"] == str(at), (words, found)
        assert code == 2
        assert summary == f"config invalid: {len(_errors(problems))} errors"


_ENVELOPE_BOUNDS: Final = {
    # (what replaces the tls: line's end, the line the problem names, words)
    "age_under_queue_and_skew": (
        "    ca: tls/ca.pem\n  envelope_max_age_hours: 24\n",
        "envelope_max_age_hours: 24",
        "shorter than delivery.max_age_hours + clock_skew_seconds",
    ),
    "age_under_a_longer_queue": (
        "    ca: tls/ca.pem\n  envelope_max_age_hours: 48\ndelivery:\n  max_age_hours: 72\n",
        "envelope_max_age_hours: 48",
        "too_old",
    ),
    "age_zero": (
        "    ca: tls/ca.pem\n  envelope_max_age_hours: 0\n",
        "envelope_max_age_hours: 0",
        "must be > 0",
    ),
    "lifetime_under_ttl": (
        "    ca: tls/ca.pem\n  envelope_ttl_days: 30\n  envelope_max_lifetime_days: 7\n",
        "envelope_max_lifetime_days: 7",
        "shorter than envelope_ttl_days",
    ),
    "lifetime_wrong_type": (
        "    ca: tls/ca.pem\n  envelope_max_lifetime_days: soon\n",
        "envelope_max_lifetime_days: soon",
        "wrong type",
    ),
}


@pytest.mark.parametrize("case", sorted(_ENVELOPE_BOUNDS))
def test_envelope_bounds_that_contradict_the_rest_name_file_and_line(
    setup: Setup, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """``relay config check`` (and so ``relay run``, through the same loader) refuses bounds
    that would refuse what a partner may still send, or what this relay signs itself."""
    replacement, needle, words = _ENVELOPE_BOUNDS[case]
    setup.replace("    ca: tls/ca.pem\n", replacement)
    code, problems, summary = _check(capsys, setup.path)
    found = [p for p in _errors(problems) if words in p["msg"]]
    assert found, problems
    assert (found[0]["file"], found[0]["line"]) == (str(setup.path), str(setup.line_of(needle)))
    assert code == 2
    assert summary.startswith("config invalid: ")


def test_envelope_bounds_are_read_with_their_defaults(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = read_config(setup.path).federation
    assert fed.envelope_max_age == dt.timedelta(hours=48)
    assert fed.envelope_max_lifetime == dt.timedelta(days=30)
    setup.replace(
        "    ca: tls/ca.pem\n",
        "    ca: tls/ca.pem\n  envelope_max_age_hours: 30\n  envelope_max_lifetime_days: 60\n",
    )
    code, problems, _ = _check(capsys, setup.path)
    assert (code, _errors(problems)) == (0, [])
    fed = read_config(setup.path).federation
    assert (fed.envelope_max_age, fed.envelope_max_lifetime) == (
        dt.timedelta(hours=30),
        dt.timedelta(days=60),
    )
