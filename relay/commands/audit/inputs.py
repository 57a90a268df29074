"""What ``relay audit`` checks of its arguments before anything is opened: the ``--since`` and
``--until`` window and the ORIs of ``--partner`` and ``--issuer`` (bad input is exit 2)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Final

from relay.commands.common import CommandError

__all__ = ["check_args", "fail", "window"]

_ORI: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{7}", re.ASCII)
_DATE: Final = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)


def fail(command: str, message: str, code: int) -> CommandError:
    return CommandError(f"relay audit {command}: {message}", code)


def _when(value: str | None, flag: str, command: str) -> float | None:
    """A date (midnight UTC) or an RFC 3339 time with an offset, as POSIX seconds."""
    if value is None:
        return None
    try:
        if _DATE.fullmatch(value):
            moment = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        else:
            if "T" not in value.upper():
                raise ValueError("no time")
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no offset")
    except ValueError:
        raise fail(
            command,
            f"bad {flag} {value!r} (expected a date such as 2026-11-01 or an RFC 3339 time "
            "such as 2026-11-01T00:00:00Z)",
            2,
        ) from None
    return moment.timestamp()


def window(args: argparse.Namespace) -> tuple[float | None, float | None]:
    command = args.audit_command
    since = _when(args.since, "--since", command)
    until = _when(args.until, "--until", command)
    if since is not None and until is not None and since >= until:
        raise fail(command, "--since must be before --until", 2)
    return since, until


def _ori(value: str, flag: str, command: str) -> str:
    if _ORI.fullmatch(value) is None:
        raise fail(command, f"bad {flag} {value!r} (expected an ORI such as CT9990100)", 2)
    return value


def check_args(args: argparse.Namespace) -> None:
    """Bad input is exit 2 before anything is opened."""
    command = args.audit_command
    if command in ("export", "disseminations"):
        window(args)
    if command == "disseminations":
        _ori(args.partner, "--partner", command)
    if command == "checkpoints":
        _ori(args.issuer, "--issuer", command)
