"""``relay policy check|apply|test``: the command-line contract (relay/commands/policy/).

Exit codes, one ``FILE:LINE: message`` line per problem, exactly one JSON line from ``apply``,
one-line errors and never a traceback, and nothing stripped on stdout or stderr.
"""

from __future__ import annotations

import functools
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relay.commands.policy as policy_command
import relay.commands.policy.files as policy_files
from relay.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "policies" / "baseline.yaml"
CASES = ROOT / "policies" / "cases" / "baseline"
NOW_ARG = ["--now", "2026-11-26T00:00:00+00:00"]
APPLY = ["policy", "apply", str(BASELINE), "--peer", "MA9990200", "--topic", "bolo", *NOW_ARG]
WIRE_KEYS = {"action", "message", "reasons"}

BROKEN = """\
version: "1"
agency: {ori: CT9990100, name: Havenport PD, state: CT}
topics: [bolo]
partners:
  - ori: MA9990200
    name: Millbrook PD
    kind: law_enforcement
    agreement: {id: IEA-1, expires: 2025-01-31}
    share: [bolo, homicide]
    accept: [bolo]
patterns:
  source: {regex: ['\\bCI-\\d+\\b']}
detectors:
  - {id: informant.source, action: strip, when: [source]}
"""


TINY = """\
version: "1"
agency: {ori: CT9990100, name: Havenport PD, state: CT}
topics: [bolo, ctwide-intel, narcotics, pattern-crime]
partners:
  - ori: MA9990200
    name: Millbrook PD
    kind: law_enforcement
    agreement: {id: IEA-1, expires: 2028-06-30}
    share: [bolo, ctwide-intel, narcotics, pattern-crime]
    accept: [bolo]
patterns:
  source: {regex: ['\\bCI-\\d+\\b']}
detectors:
  - {id: informant.source, action: strip, when: [source]}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-rule policy (strip ``CI-nnnn``): quick to load where the rules don't matter."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def tiny_apply(tiny: str) -> list[str]:
    return ["policy", "apply", tiny, "--peer", "MA9990200", "--topic", "bolo", *NOW_ARG]


def relay(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def example(name: str) -> dict[str, Any]:
    path = next(CASES.glob(f"{name}_*.json"))
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def example_event(name: str) -> dict[str, Any]:
    return policy_command.simple_case_to_event(example(name))


def assert_one_error_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("relay: ")
    return lines[0]


# --- check --------------------------------------------------------------------------------


def test_check_passes_the_baseline_silently():
    proc = relay("policy", "check", str(BASELINE), *NOW_ARG)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


def test_check_reports_each_problem_as_file_line_message(tmp_path):
    path = tmp_path / "agency.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    proc = relay("policy", "check", str(path), *NOW_ARG)
    assert proc.returncode == 2
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): \S.*$")
    assert all(pattern.match(line) for line in lines), lines
    numbers = [int(pattern.match(line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert numbers == [8, 9]
    assert "expired" in lines[0]
    assert "homicide" in lines[1]


def test_check_several_files_reports_only_the_broken_one(tmp_path, tiny):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    proc = relay("policy", "check", tiny, str(path), *NOW_ARG)
    assert proc.returncode == 2
    lines = proc.stderr.decode().splitlines()
    assert lines
    assert all(line.startswith(f"{path}:") for line in lines)


def test_check_missing_file_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "nope.yaml"
    proc = relay("policy", "check", str(path))
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [f"{path}:1: cannot read file (FileNotFoundError)"]


def test_check_yaml_syntax_error_names_its_line(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text(BROKEN.replace("  - ori: MA9990200", "  - ori: MA9990200: x"), "utf-8")
    proc = relay("policy", "check", str(path), *NOW_ARG)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith(f"{path}:5: YAML syntax error")


# --- apply --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def applied_04() -> subprocess.CompletedProcess[bytes]:
    """``relay policy apply`` of example 04 as a bare event (run once, read by several tests)."""
    return relay(*APPLY, stdin=json.dumps(example_event("04")).encode())


def test_apply_prints_exactly_one_json_line_and_strips_the_informant(applied_04):
    """Example 04: 'CI-1234' goes, and appears on neither stdout nor stderr."""
    proc = applied_04
    assert proc.returncode == 0
    assert proc.stderr == b""
    out = proc.stdout.decode()
    assert out.endswith("\n")
    assert out.count("\n") == 1
    wire = json.loads(out)
    assert set(wire) == WIRE_KEYS
    assert wire["action"] == "redact"
    assert wire["reasons"] == [{"rule": "informant.source", "count": 1}]
    assert set(wire["message"]) == {"kind", "text", "files"}
    assert "white Ford Transit cargo van" in wire["message"]["text"]
    for secret in example("04")["expected"]["must_strip"]:
        assert secret.encode() not in proc.stdout + proc.stderr


def test_apply_wrapped_and_bare_events_print_the_same_line(applied_04):
    wrapped = {"type": "event_callback", "team_id": "T0AGENCYA1", "event": example_event("04")}
    proc = relay(*APPLY, stdin=json.dumps(wrapped).encode())
    assert proc.returncode == applied_04.returncode == 0
    assert proc.stdout == applied_04.stdout


@pytest.mark.parametrize(
    "stdin",
    [
        pytest.param(b'{"type": "message", "text": ', id="truncated"),
        pytest.param(b"{bad json}", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{}", id="not_utf8"),
        pytest.param(b"[1, 2, 3]", id="array"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"message"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[" * 100000 + b"]" * 100000, id="deeply_nested"),
    ],
)
def test_apply_bad_input_is_one_error_line_exit_2(stdin, tiny_apply):
    assert_one_error_line(relay(*tiny_apply, stdin=stdin))


def test_apply_bad_json_error_does_not_echo_the_input(tiny_apply):
    proc = relay(*tiny_apply, stdin=b'{"text": "CI-4471 meets him at the Quarry Rd lot", oops}')
    line = assert_one_error_line(proc)
    assert "CI-4471" not in line
    assert "Quarry" not in line


def test_apply_with_a_broken_policy_reports_file_lines_exit_2(tmp_path):
    path = tmp_path / "agency.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    args = ["policy", "apply", str(path), "--peer", "MA9990200", "--topic", "bolo", *NOW_ARG]
    proc = relay(*args, stdin=json.dumps(example_event("01")).encode())
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert all(line.startswith(f"{path}:") for line in proc.stderr.decode().splitlines())


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"attachments": 5}, id="attachments_not_a_list"),
        pytest.param({"blocks": [{"type": "rich_text", "elements": 5}]}, id="elements_not_a_list"),
        pytest.param(
            {"text": "Gray sedan seen at the diner on Route 9 \ud800"}, id="lone_surrogate"
        ),
    ],
)
def test_apply_odd_but_valid_json_never_prints_a_traceback(event, tiny_apply):
    doc = {"type": "message", "user": "U0X", "ts": "1.1", "text": "Gray sedan on Route 9 today"}
    doc.update(event)
    proc = relay(*tiny_apply, stdin=json.dumps(doc).encode())
    assert b"Traceback" not in proc.stderr
    assert proc.returncode in (0, 2)
    if proc.returncode == 0:
        assert set(json.loads(proc.stdout)) == WIRE_KEYS
    else:
        assert_one_error_line(proc)


# --- test ---------------------------------------------------------------------------------


def test_policy_test_passes_every_reference_case_with_a_table():
    proc = relay("policy", "test", str(BASELINE), str(CASES), *NOW_ARG)
    assert proc.returncode == 0, proc.stdout.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[0].split() == ["CASE", "EXPECTED", "GOT", "RESULT"]
    rows = [line for line in lines[1:] if re.match(r"^\d\d_", line)]
    assert len(rows) == 20
    assert all(line.split()[-1] == "pass" for line in rows)
    assert lines[-1] == "policy cases: 20 passed, 0 failed"


def test_policy_test_fails_with_exit_1_naming_failures_by_index_not_text(tmp_path, tiny):
    wrong = example("04")
    wrong["expected"]["action"] = "forward"
    leaky = example("01")
    leaky["expected"]["must_strip"] = ["Subaru Outback"]
    (tmp_path / "01_wrong.json").write_text(json.dumps(wrong), encoding="utf-8")
    (tmp_path / "02_right.json").write_text(json.dumps(example("12")), encoding="utf-8")
    (tmp_path / "03_leaky.json").write_text(json.dumps(leaky), encoding="utf-8")
    proc = relay("policy", "test", tiny, str(tmp_path), *NOW_ARG)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert re.search(r"^01_wrong\s+forward\s+redact\s+FAIL: action redact", out, re.M)
    assert re.search(r"^02_right\s+forward\s+forward\s+pass$", out, re.M)
    assert re.search(r"^03_leaky\s+forward\s+forward\s+FAIL: must_strip\[0\] leaked$", out, re.M)
    assert out.splitlines()[-1] == "policy cases: 1 passed, 2 failed"
    assert "CI-1234" not in out + proc.stderr.decode()
    assert "Subaru" not in out


def test_policy_test_unreadable_case_fails_without_a_traceback(tmp_path, tiny):
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "list.json").write_text("[1]", encoding="utf-8")
    proc = relay("policy", "test", tiny, str(tmp_path), *NOW_ARG)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert proc.stdout.decode().count("unreadable case") == 2


def test_policy_test_empty_case_dir_is_exit_2(tmp_path, tiny):
    assert_one_error_line(relay("policy", "test", tiny, str(tmp_path), *NOW_ARG))


# --- arbitrary JSON in-process ------------------------------------------------------------

_read_policy = functools.lru_cache(maxsize=4)(policy_command.read_policy)


def run_in_process(argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    """``relay.cli.main`` with stdin/stdout/stderr swapped for buffers.

    stdout is strict UTF-8 like a real pipe. The policy file is loaded once and cached (the
    real loader, called through ``read_policy``), so hundreds of runs stay fast. Any exception
    escaping ``main`` fails the test: that is the traceback a user would see.
    """
    out_bytes, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        mp.setattr(policy_files, "read_policy", _read_policy)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out_bytes.getvalue().decode("utf-8"), err.getvalue()


def assert_contract(code: int, out: str, err: str) -> None:
    assert "Traceback" not in err
    if code == 0:
        assert err == ""
        assert out.count("\n") == 1
        assert out.endswith("\n")
        wire = json.loads(out)
        assert set(wire) == WIRE_KEYS
        assert wire["action"] in {"forward", "redact", "block"}
    else:
        assert code == 2
        assert out == ""
        assert len(err.splitlines()) == 1
        assert err.startswith("relay: ")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

CLI_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_in_process_runner_matches_the_real_cli(applied_04):
    code, out, err = run_in_process(APPLY, json.dumps(example_event("04")).encode())
    proc = applied_04
    assert (code, out, err) == (proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def test_apply_blocked_message_prints_null_message_and_rule_ids_only():
    code, out, err = run_in_process(APPLY, json.dumps(example_event("07")).encode())
    assert (code, err) == (0, "")
    wire = json.loads(out)
    assert wire["action"] == "block"
    assert wire["message"] is None
    # the source's sentences go; only a signature is left (domain brief §6: example 07)
    assert {r["rule"] for r in wire["reasons"]} == {"informant.source", "nothing_left"}
    for secret in example("07")["expected"]["must_strip"]:
        assert secret not in out


@CLI_SETTINGS
@given(json_values)
def test_apply_arbitrary_json_never_produces_a_traceback(doc):
    assert_contract(*run_in_process(APPLY, json.dumps(doc).encode()))


@CLI_SETTINGS
@given(st.binary(max_size=200))
def test_apply_arbitrary_bytes_never_produce_a_traceback(data):
    assert_contract(*run_in_process(APPLY, data))


BLOCK_TYPES = ["rich_text", "section", "context", "header", "image", "markdown", "divider"]
block_like = st.fixed_dictionaries(
    {"type": st.sampled_from(BLOCK_TYPES)},
    optional={k: json_values for k in ("elements", "text", "fields", "alt_text", "title")},
)
message_like = st.fixed_dictionaries(
    {"type": st.just("message")},
    optional={
        "subtype": st.sampled_from(
            ["", "file_share", "thread_broadcast", "message_changed", "message_deleted"]
        ),
        "text": st.one_of(st.text(max_size=40), json_values),
        "blocks": st.one_of(st.lists(block_like, max_size=3), json_values),
        "attachments": json_values,
        "files": json_values,
        "metadata": json_values,
        "message": json_values,
        "thread_ts": json_values,
        "deleted_ts": json_values,
        "user": json_values,
    },
)
event_like = st.one_of(
    message_like,
    st.builds(lambda e: {"type": "event_callback", "event": e}, message_like),
)


@CLI_SETTINGS
@given(event_like)
def test_apply_event_shaped_json_with_odd_field_types_never_produces_a_traceback(doc):
    """Message events whose fields hold any JSON value: refused or judged, never a crash."""
    assert_contract(*run_in_process(APPLY, json.dumps(doc).encode()))
