"""`relay lab init DIR [--agencies N]` and `relay lab up DIR`: a lab of agencies on loopback.

``init`` writes a complete lab (throwaway CA, keys, certificates, policies, relay.yaml files and
the emulator's workspaces); ``up`` runs it: the Slack emulator and one ``relay run`` process
per agency, until SIGTERM. Formats and layout: ``docs/lab.md`` (a contract).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _init(args: argparse.Namespace) -> int:
    from relay.lab.labinit import LabInitError, init_lab

    directory = Path(args.dir)
    try:
        made = init_lab(directory, args.agencies)
    except LabInitError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    oris = ", ".join(a.ori for a in made)
    print(
        f"lab written: {directory} ({len(made)} agencies: {oris}); "
        f"run it: relay lab up {directory}"
    )
    return 0


def _up(args: argparse.Namespace) -> int:
    from relay.lab.labup import LabUpError, run_lab

    try:
        return asyncio.run(run_lab(Path(args.dir)))
    except LabUpError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code


def add_parser(subparsers: Any) -> None:
    lab = subparsers.add_parser("lab", help="a lab of agencies on loopback: init, up")
    sub = lab.add_subparsers(dest="lab_command", required=True)
    init = sub.add_parser("init", help="write a lab into a new or empty directory")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--agencies", type=int, default=3, metavar="N", help="2 to 9 (default 3)")
    init.set_defaults(func=_init)
    up = sub.add_parser("up", help="run a lab: the Slack emulator and one relay per agency")
    up.add_argument("dir", metavar="DIR")
    up.set_defaults(func=_up)
