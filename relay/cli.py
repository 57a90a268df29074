"""The ``relay`` command. Exit codes: 0 ok, 1 runtime failure, 2 bad input or configuration
(:func:`relay.errors.exit_code`, for every command).

Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from relay import __version__
from relay.commands import (
    audit,
    bench,
    chaos,
    config,
    demo,
    emulator,
    envelope,
    lab,
    policy,
    queue,
    run,
    status,
)
from relay.errors import EXIT_FAILURE, EXIT_INPUT, LoadError, RelayError, exit_code

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors: one line, exit 2 (argparse prints usage first by default)."""
        self.exit(EXIT_INPUT, f"relay: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="relay", description=__doc__)
    parser.add_argument("--version", action="version", version=f"relay {__version__}")
    sub: Any = parser.add_subparsers(dest="command", required=True)
    policy.add_parser(sub)
    bench.add_parser(sub)
    envelope.add_parser(sub)
    run.add_parser(sub)
    queue.add_parser(sub)
    audit.add_parser(sub)
    demo.add_parser(sub)
    chaos.add_parser(sub)
    config.add_parser(sub)
    status.add_parser(sub)
    emulator.add_parser(sub)
    lab.add_parser(sub)
    try:
        from relay import cli_keygen
    except ImportError:  # pragma: no cover - present in every release
        pass
    else:
        cli_keygen.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from relay.logs import configure_logging

    configure_logging("auto", "warning")  # stderr; ``relay run`` takes relay.yaml's logging:
    try:
        return int(args.func(args))
    except RelayError as exc:  # a command that let one through: its line(s), its exit code
        message = str(exc) if isinstance(exc, LoadError) else f"relay: {exc.message}"
        print(message, file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILURE
