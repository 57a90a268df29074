"""`relay bench soak` as tools call it: one JSON line, real relay processes, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

KEYS = [
    "seconds",
    "rate",
    "officer_messages",
    "sent",
    "edits",
    "replies",
    "deletes",
    "expected_posts",
    "delivered",
    "lost",
    "duplicates",
    "mismatched",
    "faults",
    "restart_failures",
    "warm_up_s",
    "relays",
    "restarted",
    "growth_pct",
    "hop_latency_ms",
]
PER_RELAY = [
    "rss_warm_kib",
    "rss_end_kib",
    "rss_growth_pct",
    "fds_warm",
    "fds_end",
    "fds_growth_pct",
    "processes",
    "fds_before",
    "fds_idle",
]


def _logs(home: Path) -> str:
    """The relays' warnings and errors by event (to read when the run lost something)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for log in sorted(home.glob("*/relay.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a one-line error or a faulthandler dump: counted, not shown
                counts[(log.parent.name, "raw", "not JSON")] += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                counts[(log.parent.name, str(entry["level"]), str(entry.get("event")))] += 1
    return "\n".join(f"{n} {key}" for key, n in sorted(counts.items()))


def test_a_short_soak_prints_one_json_line_and_loses_nothing(tmp_path: Path) -> None:
    """Eight seconds at 10 messages a second, with faults: too short to judge growth (the
    exit code may be 1 for it), long enough for the line's shape and for nothing lost. The
    exit code says whether the run met its targets: nothing lost, no duplicate, growth under
    10 %. (A Millbrook kill can still, rarely, leave one duplicate copy: an open defect the
    README's soak section states; `relay chaos`'s seeded runs hold duplicates at 0.)"""
    soak = ["bench", "soak", "--seconds", "8", "--rate", "10", "--idle", "1"]
    soak += ["--keep", str(tmp_path / "soak")]
    done = subprocess.run(
        [sys.executable, "-m", "relay", *soak],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    assert list(result) == KEYS
    assert result["sent"] > 0
    why = f"{done.stderr}\n{_logs(tmp_path / 'soak')}"
    assert result["delivered"] == result["expected_posts"] > 0, why
    assert result["lost"] == 0, why
    assert isinstance(result["duplicates"], int)
    assert result["duplicates"] >= 0
    assert set(result["relays"]) == {"CT9990100", "MA9990200", "NY9990300", "CT999FC00"}
    for figures in result["relays"].values():
        assert list(figures) == PER_RELAY
        assert figures["rss_warm_kib"] > 0
        assert figures["fds_warm"] > 0
    (minute,) = result["hop_latency_ms"]
    assert list(minute) == ["minute", "p50_ms", "p99_ms", "n"]
    assert minute["n"] > 0
    assert "exited on its own" not in done.stderr, _logs(tmp_path / "soak")
    met = result["growth_pct"] < 10 and result["duplicates"] == 0
    assert (done.returncode == 0) == met
    assert "Traceback" not in done.stderr


def test_a_soak_of_no_time_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "relay", "bench", "soak", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""


def test_a_soak_that_would_keep_its_relays_in_a_used_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("an operator's file\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay",
            "bench",
            "soak",
            "--seconds",
            "5",
            "--keep",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not an empty directory" in done.stderr
    assert done.stdout == ""
    assert (tmp_path / "notes.txt").read_text() == "an operator's file\n"
