"""The two-agency lab network several scenarios start from: Havenport (one officer) and
Millbrook, each with its example policy."""

from __future__ import annotations

from pathlib import Path

from relay.lab.network import Agency

__all__ = ["EXAMPLES", "havenport_and_millbrook"]

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"


def havenport_and_millbrook(officer: str, name: str = "Det. Sgt. R. Okafor") -> list[Agency]:
    return [
        Agency(
            "CT9990100",
            "Havenport PD",
            "T0HAVENPT1",
            EXAMPLES / "ct9990100-havenport.yaml",
            officers=((officer, name),),
        ),
        Agency("MA9990200", "Millbrook PD", "T0MILLBRK1", EXAMPLES / "ma9990200-millbrook.yaml"),
    ]
