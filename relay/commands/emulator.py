"""`relay emulator [--port 0] [--host 127.0.0.1] [--workspaces FILE]`: the Slack emulator alone.

Prints one JSON line first (a contract, see ``docs/lab.md``)::

    {"emulator": URL, "api_url": URL, "workspaces": [{"team", "name", "bot_token",
     "signing_secret", "channels": {name: id}, "users": {name: {"id", "token"}}}]}

then serves until SIGTERM or SIGINT and exits 0. Without ``--workspaces`` it holds the demo's
three workspaces (``relay demo``) with no event target. A bad workspaces file or a port that
cannot be bound: one line on stderr, exit 2.

A workspace's ``interactivity_url`` in the file is where clicks and modal submissions go
(``docs/emulator.md``, Interactivity). The emulator has no control API over HTTP: clicks and
submissions are driven from Python (``emu.click``, ``emu.submit_view``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "serve_emulator"]


async def serve_emulator(specs: tuple[Any, ...], host: str, port: int) -> int:
    from relay.lab.emulator import Emulator
    from relay.lab.workspaces import emulator_line

    emu = Emulator(specs, host=host, port=port)
    try:
        await emu.start()
    except OSError as exc:
        await emu.close()
        reason = exc.strerror or type(exc).__name__
        print(f"relay emulator: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 2
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(json.dumps(emulator_line(emu)), flush=True)
        await stop.wait()
    finally:
        await emu.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    from relay.lab.workspaces import WorkspacesError, demo_workspaces, read_workspaces

    host, port = args.host, args.port
    if args.workspaces is not None:
        try:
            loaded = read_workspaces(Path(args.workspaces))
        except WorkspacesError as exc:
            print(f"relay emulator: {exc}", file=sys.stderr)
            return 2
        specs = loaded.specs
        host = host if host is not None else loaded.host
        port = port if port is not None else loaded.port
    else:
        specs = demo_workspaces()
    if port is not None and not 0 <= port <= 65535:
        print(f"relay emulator: --port {port} is not 0-65535", file=sys.stderr)
        return 2
    return asyncio.run(serve_emulator(specs, host or "127.0.0.1", port or 0))


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("emulator", help="run the Slack emulator alone (tests, labs)")
    p.add_argument(
        "--port", type=int, default=None, help="port (default: the file's port, else 0: free)"
    )
    p.add_argument(
        "--host", default=None, help="address (default: the file's host, else 127.0.0.1)"
    )
    p.add_argument(
        "--workspaces",
        default=None,
        metavar="FILE",
        help="JSON workspaces file (docs/lab.md); default: the demo's three workspaces",
    )
    p.set_defaults(func=_run)
