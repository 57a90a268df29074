"""``relay policy test --score``: leaks, over-redaction and actions per case class (a contract).

Each test builds a small case directory and runs the real command against the baseline policy
with messages whose decision is obvious: a plain BOLO forwards, a ``CI-1234 says ...`` line is
removed. Scores are lines other tools parse, so their format is checked exactly.
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

import relay.commands.policy as policy_command
import relay.commands.policy.cases as policy_cases
import relay.commands.policy.files as policy_files
from relay.cli import main
from relay.core.policy.engine import evaluate_outbound

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "policies" / "baseline.yaml"
NOW_ARG = ["--now", "2026-12-06T00:00:00+00:00"]
SCORE_LINE = re.compile(
    r"^[a-z0-9-]+: leaks \d+/\d+, over-redaction \d+/\d+ \(\d+\.\d%\), "
    r"actions \d+/\d+ \(\d+\.\d%\)$"
)
HEADER = ["CASE", "EXPECTED", "GOT", "RESULT"]

PLAIN = "BOLO: gray 2012 Honda Civic, CT reg XY-98765, last seen Route 9 northbound."
INFORMANT = (
    "BOLO: white Ford Transit van on Route 9.\n"
    "CI-1234 says the van is stolen.\n"
    "Contact Havenport PD, 555-0142."
)
NAMED = "BOLO: MARCUS DELREY wanted for robbery, blue Ford F-150, Route 9."
ZERO_WIDTH = "BOLO: gray Honda Civic, driver Marcus Del\u200brey, last seen Route 9."


def case(
    text: str,
    action: str | None = None,
    must_strip: list[str] | None = None,
    must_keep: list[str] | None = None,
    channel: str = "#bolo",
) -> dict[str, Any]:
    expected: dict[str, Any] = {}
    if action is not None:
        expected["action"] = action
    if must_strip is not None:
        expected["must_strip"] = must_strip
    if must_keep is not None:
        expected["must_keep"] = must_keep
    return {"text": text, "channel": channel, "expected": expected}


def plain_ok() -> dict[str, Any]:
    return case(PLAIN, "forward", [], ["gray 2012 Honda Civic", "CT reg XY-98765"])


def informant_ok() -> dict[str, Any]:
    return case(
        INFORMANT,
        "redact",
        ["CI-1234", "van is stolen"],
        ["white Ford Transit van", "on Route 9"],
    )


def write_cases(directory: Path, cases: dict[str, Any]) -> Path:
    for name, body in cases.items():
        text = body if isinstance(body, str) else json.dumps(body)
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
    return directory


def relay_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        text=True,
    )


_read_policy = functools.lru_cache(maxsize=4)(policy_command.read_policy)


def relay(*args: str) -> subprocess.CompletedProcess[str]:
    """``relay.cli.main`` in this process (the policy compiled once: loading the baseline
    costs more than scoring a directory), with stdout and stderr captured as a process's."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        mp.setattr(policy_files, "read_policy", _read_policy)
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def policy_test(cases_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return relay("policy", "test", str(BASELINE), str(cases_dir), *NOW_ARG, *extra)


def score_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if SCORE_LINE.match(line)]


def row(out: str, stem: str) -> str:
    rows = [line for line in out.splitlines() if line.split()[:1] == [stem]]
    assert len(rows) == 1, out
    return rows[0]


def assert_no_text(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    seen = (proc.stdout + proc.stderr).casefold()
    assert "traceback" not in seen
    for secret in secrets:
        assert secret.casefold() not in seen


# --- format and classes -------------------------------------------------------------------


def test_score_prints_the_table_then_a_line_per_class_sorted_then_total(tmp_path):
    write_cases(
        tmp_path,
        {
            "informant_01_ci": informant_ok(),
            "bolo_01_plain": plain_ok(),
            "bolo_02_plain": case(PLAIN, "forward", ["Marcus"], ["Route 9 northbound"]),
        },
    )
    # the real command line, in its own process, once; the other tests run it in-process
    proc = relay_process("policy", "test", str(BASELINE), str(tmp_path), *NOW_ARG, "--score")
    assert proc.returncode == 0, proc.stdout
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].split() == HEADER
    assert re.match(r"^bolo_01_plain\s+forward\s+forward\s+pass$", lines[1])
    assert re.match(r"^bolo_02_plain\s+forward\s+forward\s+pass$", lines[2])
    assert re.match(r"^informant_01_ci\s+redact\s+redact\s+pass$", lines[3])
    assert lines[4:] == [
        "bolo: leaks 0/1, over-redaction 0/3 (0.0%), actions 2/2 (100.0%)",
        "informant: leaks 0/2, over-redaction 0/2 (0.0%), actions 1/1 (100.0%)",
        "total: leaks 0/3, over-redaction 0/5 (0.0%), actions 3/3 (100.0%)",
    ]
    assert all(SCORE_LINE.match(line) for line in lines[4:])
    assert not any(line.startswith("policy cases:") for line in lines)
    assert_no_text(proc, "CI-1234", "van is stolen")


def test_score_with_nothing_expected_is_0_0_percent_over_and_100_percent_actions(tmp_path):
    write_cases(tmp_path, {"empty_01": {"text": PLAIN, "channel": "#bolo"}})
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[-2:] == [
        "empty: leaks 0/0, over-redaction 0/0 (0.0%), actions 0/0 (100.0%)",
        "total: leaks 0/0, over-redaction 0/0 (0.0%), actions 0/0 (100.0%)",
    ]


# --- leaks --------------------------------------------------------------------------------


def test_a_plain_leak_fails_with_its_index_and_no_text(tmp_path):
    write_cases(
        tmp_path,
        {
            "bolo_01_ok": plain_ok(),
            "bolo_02_leak": case(PLAIN, "forward", ["XY-98765", "Pine St"], []),
        },
    )
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert re.search(r"FAIL: must_strip\[0\] leaked$", row(proc.stdout, "bolo_02_leak"))
    assert score_lines(proc.stdout)[-1].startswith("total: leaks 1/2, ")
    assert_no_text(proc, "XY-98765", "Pine St")


def test_a_case_disguised_leak_is_a_leak(tmp_path):
    """must_strip 'marcus delrey' against 'MARCUS DELREY' in the output."""
    write_cases(tmp_path, {"names_01": case(NAMED, "forward", ["marcus delrey"], [])})
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert re.search(r"FAIL: must_strip\[0\] leaked$", row(proc.stdout, "names_01"))
    assert score_lines(proc.stdout) == [
        "names: leaks 1/1, over-redaction 0/0 (0.0%), actions 1/1 (100.0%)",
        "total: leaks 1/1, over-redaction 0/0 (0.0%), actions 1/1 (100.0%)",
    ]
    assert_no_text(proc, "marcus", "delrey")


def test_a_leak_split_by_a_zero_width_character_in_the_output_is_a_leak(tmp_path):
    write_cases(tmp_path, {"names_01": case(ZERO_WIDTH, "forward", ["Marcus Delrey"], [])})
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert score_lines(proc.stdout)[-1].startswith("total: leaks 1/1, ")
    assert_no_text(proc, "marcus", "delrey", "del\u200brey")


def test_a_leak_written_with_compatibility_forms_and_odd_spacing_is_a_leak(tmp_path):
    """Fullwidth letters (NFKC) and a line break in the expectation still find the name."""
    write_cases(
        tmp_path, {"names_01": case(NAMED, "forward", ["ＭＡＲＣＵＳ\n  Delrey", "  "], [])}
    )
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert score_lines(proc.stdout)[-1].startswith("total: leaks 1/2, ")


def test_what_the_evaluation_writes_to_stderr_is_a_leak_and_never_shown(tmp_path, monkeypatch):
    real = evaluate_outbound

    def chatty(message: Any, *args: Any, **kwargs: Any) -> Any:
        print("debug: Quarry Rd garage", file=sys.stderr)
        return real(message, *args, **kwargs)

    monkeypatch.setattr(policy_cases, "evaluate_outbound", chatty)
    write_cases(tmp_path, {"bolo_01": case(PLAIN, "forward", ["quarry rd"], [])})
    code, out, err = run_in_process(["--score"], tmp_path)
    assert code == 1
    assert score_lines(out)[-1].startswith("total: leaks 1/1, ")
    assert "Quarry" not in out + err


def test_an_internal_error_is_a_failed_row_naming_only_the_error_class(tmp_path, monkeypatch):
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("CI-1234 says the van is stolen")

    monkeypatch.setattr(policy_cases, "evaluate_outbound", broken)
    write_cases(tmp_path, {"bolo_01": plain_ok()})
    code, out, err = run_in_process(["--score"], tmp_path)
    assert code == 1
    assert re.search(r"FAIL: internal error \(RuntimeError\)$", row(out, "bolo_01"))
    assert score_lines(out)[-1] == (
        "total: leaks 0/0, over-redaction 2/2 (100.0%), actions 0/1 (0.0%)"
    )
    assert "CI-1234" not in out + err
    assert "Traceback" not in err


# --- over-redaction -----------------------------------------------------------------------


def test_over_redaction_counts_lost_must_keeps_and_max_over_sets_the_bar(tmp_path):
    """One of two must_keep strings is on the removed informant line: 1/2 = 50.0%."""
    write_cases(
        tmp_path,
        {"ci_01": case(INFORMANT, "redact", ["CI-1234"], ["white Ford Transit van", "the van"])},
    )
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert re.search(r"FAIL: must_keep\[1\] missing$", row(proc.stdout, "ci_01"))
    assert score_lines(proc.stdout)[-1] == (
        "total: leaks 0/1, over-redaction 1/2 (50.0%), actions 1/1 (100.0%)"
    )
    assert policy_test(tmp_path, "--score", "--max-over", "50").returncode == 0
    assert policy_test(tmp_path, "--score", "--max-over", "49.9").returncode == 1


def test_must_keep_is_case_sensitive_but_whitespace_and_nfkc_folded(tmp_path):
    write_cases(
        tmp_path,
        {
            "keep_01": case(PLAIN, "forward", [], ["gray 2012  Honda\nCivic", "ＣＴ reg"]),
            "keep_02": case(PLAIN, "forward", [], ["GRAY 2012 HONDA CIVIC"]),
        },
    )
    proc = policy_test(tmp_path, "--score")
    assert re.search(r"\spass$", row(proc.stdout, "keep_01"))
    assert re.search(r"FAIL: must_keep\[0\] missing$", row(proc.stdout, "keep_02"))
    assert score_lines(proc.stdout)[-1] == (
        "total: leaks 0/0, over-redaction 1/3 (33.3%), actions 2/2 (100.0%)"
    )


# --- actions ------------------------------------------------------------------------------


def test_wrong_actions_and_min_actions(tmp_path):
    write_cases(
        tmp_path,
        {
            "bolo_01_ok": plain_ok(),
            "bolo_02_wrong": case(PLAIN, "block", [], []),
        },
    )
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert re.search(
        r"^bolo_02_wrong\s+block\s+forward\s+FAIL: action forward \(expected block\)$",
        row(proc.stdout, "bolo_02_wrong"),
    )
    assert score_lines(proc.stdout)[-1] == (
        "total: leaks 0/0, over-redaction 0/2 (0.0%), actions 1/2 (50.0%)"
    )
    assert policy_test(tmp_path, "--score", "--min-actions", "50").returncode == 0
    assert policy_test(tmp_path, "--score", "--min-actions", "50.1").returncode == 1


def test_unreadable_cases_are_failed_actions_with_every_must_keep_lost(tmp_path):
    bad_strip = case(PLAIN, "forward", must_keep=["gray", "Route 9"])
    bad_strip["expected"]["must_strip"] = "not a list"
    write_cases(
        tmp_path,
        {"bolo_01_ok": plain_ok(), "bolo_02_bad": bad_strip, "junk_01": "{not json"},
    )
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert re.search(r"^bolo_02_bad\s+forward\s+-\s+FAIL: unreadable case$", proc.stdout, re.M)
    assert re.search(r"^junk_01\s+-\s+-\s+FAIL: unreadable case$", proc.stdout, re.M)
    assert score_lines(proc.stdout) == [
        "bolo: leaks 0/0, over-redaction 2/4 (50.0%), actions 1/2 (50.0%)",
        "junk: leaks 0/0, over-redaction 0/0 (0.0%), actions 0/1 (0.0%)",
        "total: leaks 0/0, over-redaction 2/4 (50.0%), actions 1/3 (33.3%)",
    ]


# --- full Slack events --------------------------------------------------------------------


def full_event(text: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "user": "U0TEST0001",
        "ts": "1764115200.000100",
        "channel": "C0BOLO0001",
        "text": text,
    }
    event.update(extra)
    return event


def test_full_event_cases_take_their_topic_from_case_channel_or_a_hash_channel(tmp_path):
    expected = informant_ok()["expected"]
    wrapped = {
        "type": "event_callback",
        "team_id": "T0AGENCYA1",
        "event": full_event(INFORMANT),
        "case_channel": "#bolo",
        "expected": expected,
    }
    write_cases(
        tmp_path,
        {
            "event_01_case_channel": {
                **full_event(INFORMANT),
                "case_channel": "#bolo",
                "note": "an informant line inside a BOLO",
                "expected": expected,
            },
            "event_02_hash_channel": {
                **full_event(INFORMANT, channel="#bolo"),
                "expected": expected,
            },
            "event_03_wrapped": wrapped,
        },
    )
    proc = policy_test(tmp_path, "--score")
    assert proc.returncode == 0, proc.stdout
    assert score_lines(proc.stdout) == [
        "event: leaks 0/6, over-redaction 0/6 (0.0%), actions 3/3 (100.0%)",
        "total: leaks 0/6, over-redaction 0/6 (0.0%), actions 3/3 (100.0%)",
    ]


def test_full_event_case_keys_are_stripped_and_the_topic_resolved():
    doc = {**full_event(PLAIN), "case_channel": "#bolo", "note": "n", "expected": {}}
    assert policy_command.simple_case_to_event(doc) == full_event(PLAIN)
    assert policy_command.case_topic(doc) == "bolo"
    assert policy_command.case_topic(full_event(PLAIN, channel="#ctwide-intel")) == "ctwide-intel"
    assert policy_command.case_topic(full_event(PLAIN)) == ""
    assert policy_command.case_topic({"text": PLAIN, "channel": "#narcotics"}) == "narcotics"


# --- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        pytest.param("MARCUS DELREY", "marcus delrey", id="case"),
        pytest.param("Ｃ Ｉ－１２３４", "c i-1234", id="nfkc"),
        pytest.param(
            "Del\u200brey\u00ad\u2060\u034f\u115f\u1160\u3164\uffa0\u2800",
            "delrey",
            id="invisible",
        ),
        pytest.param("Quarry \t\n\u00a0 Rd", "quarry rd", id="whitespace"),
        pytest.param("STRASSE Straße", "strasse strasse", id="casefold"),
    ],
)
def test_fold_case_folded(raw, folded):
    assert policy_command.fold(raw, casefold=True) == folded


def test_fold_for_must_keep_keeps_case():
    assert policy_command.fold("Route\u200b 9\n North", casefold=False) == "Route 9 North"


def test_leak_haystacks_join_every_string_of_the_decision():
    """A name split across rich-text elements, and one behind a mrkdwn entity, still leak."""
    wire = {
        "action": "forward",
        "message": {
            "kind": "post",
            "text": "Route 9 &amp; Main",
            "blocks": [{"elements": [{"text": "Marcus "}, {"text": "Del"}, {"text": "rey"}]}],
            "files": [],
        },
        "reasons": [],
    }
    haystacks = policy_command.leak_haystacks(wire, "")
    assert any("marcus delrey" in h for h in haystacks)
    assert any("route 9 & main" in h for h in haystacks)
    assert not any("marcus delrey" in h for h in haystacks[:2])


# --- without --score, and bad arguments ---------------------------------------------------


def test_without_score_the_output_and_exit_codes_are_as_before(tmp_path):
    write_cases(tmp_path, {"bolo_01_ok": plain_ok(), "ci_01_ok": informant_ok()})
    proc = policy_test(tmp_path)
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].split() == HEADER
    assert len(lines) == 4
    assert lines[-1] == "policy cases: 2 passed, 0 failed"
    assert score_lines(proc.stdout) == []
    scored = policy_test(tmp_path, "--score").stdout.splitlines()
    assert scored[:3] == lines[:3]

    write_cases(tmp_path, {"bolo_02_wrong": case(PLAIN, "block", [], [])})
    proc = policy_test(tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "policy cases: 2 passed, 1 failed"
    assert score_lines(proc.stdout) == []


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--max-over", "5"], id="max_over_without_score"),
        pytest.param(["--min-actions", "90"], id="min_actions_without_score"),
        pytest.param(["--score", "--max-over", "nan"], id="nan"),
        pytest.param(["--score", "--min-actions", "101"], id="above_100"),
        pytest.param(["--score", "--max-over", "five"], id="not_a_number"),
    ],
)
def test_bad_threshold_arguments_are_one_line_exit_2(tmp_path, extra):
    write_cases(tmp_path, {"bolo_01": plain_ok()})
    proc = policy_test(tmp_path, *extra)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith("relay: ")


def test_score_empty_dir_and_missing_policy_are_exit_2(tmp_path):
    proc = policy_test(tmp_path, "--score")
    assert (proc.returncode, proc.stdout) == (2, "")
    write_cases(tmp_path, {"bolo_01": plain_ok()})
    missing = tmp_path / "nope.yaml"
    proc = relay("policy", "test", str(missing), str(tmp_path), "--score", *NOW_ARG)
    assert (proc.returncode, proc.stdout) == (2, "")


# --- in process ---------------------------------------------------------------------------


def run_in_process(extra: list[str], cases_dir: Path) -> tuple[int, str, str]:
    """``relay.cli.main`` with stdout/stderr swapped for buffers (for monkeypatched runs)."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["policy", "test", str(BASELINE), str(cases_dir), *NOW_ARG, *extra]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()
