"""`relay run --config relay.yaml`: start the relay's federation listener from ``relay.yaml``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import sys
from collections.abc import Callable
from typing import Any

from relay.config import read_config
from relay.errors import EXIT_FAILURE, EXIT_OK, LoadError, exit_code

__all__ = ["add_parser"]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """asyncio's own event loop. (uvloop, used before, aborts the process when TLS
    connections are reset during the handshake: a partner, a firewall or an outsider on the
    path could stop the relay. ``tests/ops/test_event_loop.py`` keeps that from coming back.)"""
    return asyncio.new_event_loop


def _run(args: argparse.Namespace) -> int:
    # A crash below Python (a segfault or abort in a C extension) still leaves the threads'
    # Python stacks on stderr: file and function names, never data.
    with contextlib.suppress(ValueError, OSError, AttributeError):  # stderr without a fd
        faulthandler.enable()
    try:
        config = read_config(args.config, refuse_examples=True)
        from relay.app import run_forever
        from relay.logs import configure_logging

        configure_logging(config.logging.format, config.logging.level)

        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(run_forever(config))
    except LoadError as exc:  # relay.yaml or the policy it names: file:line, exit 2
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exit_code(exc)
    except OSError as exc:
        print(f"relay: cannot start: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (or a secret in it)
        print(f"relay: stopped: {type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run one relay for real from relay.yaml")
    p.add_argument("--config", required=True, metavar="FILE")
    p.set_defaults(func=_run)
