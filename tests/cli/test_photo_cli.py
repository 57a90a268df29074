"""Photos on the command line (issue 17): `relay policy test` cases with `"image": PATH`,
`relay policy apply --image NAME=PATH`, and `relay bench ocr`'s one line. The real CLI in a
subprocess, the real OCR engine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from relay.lab.photos import drawn_photos, png

ROOT = Path(__file__).resolve().parents[2]
NOW_ARG = ("--now", "2026-12-06T00:00:00+00:00")
BASELINE = str(ROOT / "policies" / "baseline.yaml")


def relay(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cases")
    (root / "img").mkdir()
    for p in drawn_photos():
        (root / "img" / p.name).write_bytes(png(p.image))
    text = "BOLO: blue Honda Civic seen at the Ridge Road lot, see the board."
    docs = {
        "board_01": {
            "files": [{"name": "IMG_1.png", "title": "Briefing", "image": "img/whiteboard.png"}],
            "expected": {
                "action": "redact",
                "must_strip": ["Okafor", "555-0142"],
                "must_keep": ["Honda Civic", "Ridge Road"],
            },
        },
        "ncic_01": {
            "files": [{"name": "IMG_2.png", "image": "img/ncic_return.png"}],
            "expected": {"action": "block"},
        },
        "form_01": {
            "files": [{"name": "IMG_3.png", "image": "img/intake_form_rotated.png"}],
            "expected": {"action": "redact", "must_strip": ["987-65-4321"]},
        },
        "plate_01": {
            "files": [{"name": "IMG_4.png", "image": "img/plate.png"}],
            "expected": {"action": "forward", "must_keep": ["CONNECTICUT"]},
        },
    }
    for name, doc in docs.items():
        case = {"text": text, "channel": "#bolo", **doc}
        (root / f"{name}.json").write_text(json.dumps(case), encoding="utf-8")
    return root


def test_policy_test_judges_the_images_of_its_cases(cases: Path) -> None:
    proc = relay("policy", "test", BASELINE, str(cases), "--score", *NOW_ARG)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out
    assert "total: leaks 0/3, over-redaction 0/3 (0.0%), actions 4/4 (100.0%)" in out
    assert "Okafor" not in out + proc.stderr.decode(), "recognised text is never printed"


def test_a_case_whose_image_shows_a_source_fails_without_the_image(cases: Path) -> None:
    """The same case without its image cannot see the source: what the image adds is the
    point (and the decision says the file was not checked)."""
    doc = json.loads((cases / "board_01.json").read_text(encoding="utf-8"))
    del doc["files"][0]["image"]
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "C1",
        "user": "U1",
        "ts": "1.0",
        "text": doc["text"],
        "files": [
            {"id": "F1", "name": "IMG_1.png", "mimetype": "image/png", "size": 9, "mode": "hosted"}
        ],
    }
    args = ("policy", "apply", BASELINE, "--peer", "MA9990200", "--topic", "bolo", *NOW_ARG)
    without = json.loads(relay(*args, stdin=json.dumps(event).encode()).stdout)
    assert without["action"] == "forward"
    assert without["reasons"] == [{"rule": "photo_text.not_checked", "count": 1}]
    image = f"IMG_1.png={cases / 'img' / 'whiteboard.png'}"
    proc = relay(*args, "--image", image, stdin=json.dumps(event).encode())
    got = json.loads(proc.stdout)
    assert got["action"] == "redact"
    assert got["reasons"] == [{"rule": "photo_text.informant.source", "count": 1}]
    assert got["message"]["files"][0]["blacked_out"] == 4
    bad = relay(*args, "--image", "IMG_1.png", stdin=json.dumps(event).encode())
    assert bad.returncode == 2
    assert bad.stderr.decode().strip() == "relay: --image must be NAME=PATH"


def test_bench_ocr_prints_one_line() -> None:
    proc = relay("bench", "ocr", "--seconds", "0.5")
    assert proc.returncode == 0
    assert re.fullmatch(
        r"OCR: \d+\.\d images/s, p50 \d+ ms, p99 \d+ ms\n", proc.stdout.decode()
    ), proc.stdout
