"""What the store commands (``relay queue``, ``relay status``, ``relay audit``) share.

Errors are one line on stderr with an exit code (:class:`~relay.errors.CommandError`,
:func:`~relay.errors.exit_code`), never a traceback and
never the store URL (it may hold a password). A store is opened only if it exists: a missing
SQLite file is reported, not created (an empty store would show empty queues).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from relay.config import RelayConfig, read_config
from relay.errors import EXIT_FAILURE, EXIT_INPUT, CommandError, ConfigLoadError, exit_code
from relay.store.contract import Store

__all__ = [
    "CommandError",
    "duration",
    "load_config",
    "one_line_errors",
    "open_existing_store",
    "printable",
    "using_store",
]

_SQLITE: Final = "sqlite:///"
_BACKENDS: Final = {"sqlite": "SQLite ", "postgresql": "PostgreSQL ", "postgres": "PostgreSQL "}


def load_config(path: str | Path) -> RelayConfig:
    """``relay.yaml``; one that does not load is exit 2 with its own lines."""
    try:
        return read_config(path)
    except ConfigLoadError as exc:
        raise CommandError("\n".join(exc.lines()), EXIT_INPUT) from None


def open_existing_store(
    url: str, base_dir: Path, *, prog: str, name_backend: bool = True
) -> Store:
    """Open an existing store; a failure is ``{prog}: ...`` (exit 1), never the URL.

    ``name_backend``: say which kind of store could not be opened (``the SQLite store``)."""
    from relay.store.open import open_store

    if url.startswith(_SQLITE) and url != _SQLITE:
        path = Path(url.removeprefix(_SQLITE))
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            # Opening would create an empty store and show an empty queue: say so instead.
            raise CommandError(f"{prog}: no SQLite store at {path}", EXIT_FAILURE)
    backend = _BACKENDS.get(url.partition("://")[0], "") if name_backend else ""
    try:
        return open_store(url, base_dir=base_dir)
    except Exception as exc:  # noqa: BLE001 - driver text may echo the URL and its password
        # open_store's own ValueError and the schema-version RuntimeError name no URL.
        detail = str(exc) if type(exc) in (ValueError, RuntimeError) else type(exc).__name__
        raise CommandError(
            f"{prog}: cannot open the {backend}store: {detail}", EXIT_FAILURE
        ) from None


@contextlib.contextmanager
def using_store(
    url: str,
    base_dir: Path,
    *,
    prog: str,
    error_prog: str | None = None,
    name_backend: bool = True,
) -> Iterator[Store]:
    """An existing store (:func:`open_existing_store`), closed afterwards; an unexpected error
    inside is ``{error_prog or prog}: store error (TypeName)``, exit 1. A
    :class:`CommandError` or ``BrokenPipeError`` passes through."""
    store = open_existing_store(url, base_dir, prog=prog, name_backend=name_backend)
    try:
        yield store
    except (CommandError, BrokenPipeError):
        raise
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback or the URL
        message = f"{error_prog or prog}: store error ({type(exc).__name__})"
        raise CommandError(message, EXIT_FAILURE) from None
    finally:
        with contextlib.suppress(Exception):  # closing cannot change the answer
            store.close()


def one_line_errors(
    run: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """A subcommand: a :class:`CommandError` is its one line on stderr and its exit code; a
    reader that went away (``| head``) is exit 1, with no complaint at exit."""

    def command(args: argparse.Namespace) -> int:
        try:
            code = run(args)
            sys.stdout.flush()
        except CommandError as fail:
            print(fail.message, file=sys.stderr)
            return exit_code(fail)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FAILURE
        return code

    return command


# -- output ------------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    """``45s``, ``3m12s``, ``2h05m``, ``4d03h`` (negative is ``0s``)."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def printable(value: str) -> str:
    """A stored value as one safe table cell: no control characters reach the terminal."""
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")
