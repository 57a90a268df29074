"""Policy files on the command line: :func:`read_policy` (``extends`` resolved beside the file)
and ``relay policy check``, which loads each file and prints its ``FILE:LINE: message`` lines."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from relay.core.policy.load import PolicyLoadError, load_policy
from relay.core.policy.model import Policy

__all__ = ["load_or_report", "now_of", "read_policy", "run_check"]


def read_policy(path: str, today: dt.date) -> Policy:
    """Read and load a policy file; ``extends`` resolves relative to the file."""
    base_dir = Path(path).parent

    def resolve(name: str) -> tuple[str, str]:
        target = base_dir / name
        return target.read_text(encoding="utf-8"), str(target)

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(path, [(1, f"cannot read file ({type(exc).__name__})")]) from None
    return load_policy(text, source=path, today=today, resolve=resolve)


def now_of(args: argparse.Namespace) -> dt.datetime:
    """The hidden ``--now`` (tests), else the current time; in UTC."""
    if args.now:
        return dt.datetime.fromisoformat(args.now).astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def load_or_report(path: str, today: dt.date) -> Policy | None:
    """:func:`read_policy`; a file that does not load is its problem lines on stderr and None."""
    try:
        return read_policy(path, today)
    except PolicyLoadError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return None


def run_check(args: argparse.Namespace) -> int:
    """``relay policy check FILE...``: exit 0 when every file loads, else 2."""
    today = now_of(args).date()
    failed = False
    for path in args.files:
        if load_or_report(path, today) is None:
            failed = True
    return 2 if failed else 0
