"""``federation.files`` in relay.yaml: defaults when absent, values read, bad ones reported at
their lines."""

from __future__ import annotations

from pathlib import Path

from relay.config_files import FilesConfig, files_section
from relay.core.policy.yamlnodes import Loc, Problems

ROOT = Path(__file__).resolve().parents[2]


def _loc(**values: object) -> Loc:
    return Loc({k: Loc(v, 10 + i) for i, (k, v) in enumerate(values.items())}, 9)


def test_absent_means_the_defaults() -> None:
    problems = Problems()
    assert files_section(None, problems, 1) == FilesConfig()
    assert FilesConfig().partner_quota_bytes == 200 << 20
    assert FilesConfig().orphan_grace == 3600.0
    assert problems.items == []


def test_values_are_read_and_bad_ones_reported_at_their_line() -> None:
    problems = Problems()
    got = files_section(_loc(partner_quota_bytes=50 << 20, orphan_grace_seconds=120), problems, 1)
    assert (got.partner_quota_bytes, got.orphan_grace) == (50 << 20, 120.0)
    assert problems.items == []
    files_section(
        _loc(partner_quota_files=0, orphan_grace_seconds=5, max_bytes="big", quota=1), problems, 1
    )
    assert sorted(line for line, _ in problems.items) == [10, 11, 12, 13]
    problems = Problems()
    files_section(_loc(max_bytes=20 << 20, partner_quota_bytes=10 << 20), problems, 1)
    assert problems.items == [(9, "files: partner_quota_bytes must be at least max_bytes")]


def test_the_example_relay_yaml_spells_the_defaults() -> None:
    text = (ROOT / "relay.example.yaml").read_text()
    assert "partner_quota_bytes: 209715200" in text
    assert "orphan_grace_seconds: 3600" in text
