"""``policy_candidate`` in ``relay.yaml``: read, and checked by ``relay config check`` like the
policy in force (its own ``FILE:LINE`` problems, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.config import read_config
from relay.core import defaults
from tests.cli.test_config_check import ROOT, Setup, _check, _errors, setup

__all__ = ["setup"]  # the fixture, shared with test_config_check

BASELINE = ROOT / "policies" / "baseline.yaml"


def _name_candidate(setup: Setup, path: Path, extra: str = "") -> None:
    setup.replace("signing_key:", f"policy_candidate: {path}\n{extra}signing_key:")


def test_a_candidate_that_loads_passes_and_is_read(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    assert read_config(setup.path).policy_candidate is None
    _name_candidate(setup, BASELINE, "policy_candidate_sample_minutes: 2.5\n")
    code, problems, _ = _check(capsys, setup.path)
    assert (code, _errors(problems)) == (0, [])
    config = read_config(setup.path)
    assert config.policy_candidate == BASELINE
    assert config.policy_candidate_sample_minutes == 2.5


def test_the_sample_interval_defaults_and_must_be_positive(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    _name_candidate(setup, BASELINE)
    assert read_config(setup.path).policy_candidate_sample_minutes == (
        defaults.SHADOW_SAMPLE_MINUTES
    )
    setup.replace("signing_key:", "policy_candidate_sample_minutes: 0\nsigning_key:")
    code, problems, _ = _check(capsys, setup.path)
    assert code == 2
    (error,) = _errors(problems)
    assert error["msg"] == "policy_candidate_sample_minutes must be > 0"
    assert error["line"] == str(setup.line_of("policy_candidate_sample_minutes"))


def test_a_candidate_that_does_not_load_names_its_own_file_and_line(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = setup.root / "candidate.yaml"
    text = BASELINE.read_text(encoding="utf-8").replace(
        "  - id: pii.ssn", "  - id: pii.ssn\n    x: 1"
    )
    bad.write_text(text, encoding="utf-8")
    _name_candidate(setup, bad)
    code, problems, summary = _check(capsys, setup.path)
    assert code == 2
    assert summary.startswith("config invalid:")
    errors = _errors(problems)
    assert [e["file"] for e in errors] == [str(bad)]
    assert errors[0]["line"] == str(setup.line_of("    x: 1", text))


def test_a_missing_candidate_or_another_agencys_is_an_error(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    original = setup.text
    _name_candidate(setup, setup.root / "nope.yaml")
    code, problems, _ = _check(capsys, setup.path)
    assert code == 2
    (error,) = _errors(problems)
    assert error["msg"].endswith("nope.yaml: file not found")
    assert error["line"] == str(setup.line_of("policy_candidate:"))

    setup.path.write_text(original, encoding="utf-8")
    _name_candidate(setup, ROOT / "policies" / "examples" / "ma9990200-millbrook.yaml")
    code, problems, _ = _check(capsys, setup.path)
    assert code == 2
    assert any("is for MA9990200, not CT9990100" in e["msg"] for e in _errors(problems))
