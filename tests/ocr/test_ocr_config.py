"""``ocr:`` in relay.yaml (issue 17): the pool's size, the time budget and the cache."""

from __future__ import annotations

from relay.config_ocr import ocr_section
from relay.core.policy.yamlnodes import Problems, parse_yaml
from relay.ocr.reader import OcrSettings


def _section(text: str) -> tuple[OcrSettings, list[str]]:
    problems = Problems()
    doc = parse_yaml(text, problems)
    assert doc is not None
    got = ocr_section(doc.value.get("ocr"), problems)
    return got, [message for _, message in problems.items]


def test_absent_gives_the_defaults() -> None:
    assert _section("agency: CT9990100\n") == (OcrSettings(), [])


def test_the_keys_are_read() -> None:
    got, problems = _section("ocr:\n  workers: 2\n  budget_seconds: 5\n  cache_entries: 0\n")
    assert problems == []
    assert (got.workers, got.budget, got.cache) == (2, 5.0, 0)


def test_wrong_values_are_reported() -> None:
    _, problems = _section("ocr:\n  workers: 0\n  budget_seconds: fast\n  engine: x\n")
    assert problems == [
        "'workers' must be at least 1",
        "'budget_seconds' has the wrong type",
        "unknown key 'engine' in ocr",
    ]
