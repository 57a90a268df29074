"""Structured logs (an adapter): JSON lines in production, readable lines on a terminal.

::

    from relay.logs import configure_logging, get_logger

    configure_logging("json", "info")            # once, at start (``relay run``)
    log = get_logger("flow")                     # the stdlib logger "relay.flow"
    log.info("delivered", partner="MA9990200", envelope_id="...", attempts=2)

``json`` writes one object per line: ``timestamp`` (RFC 3339, UTC), ``level``, ``event``,
``logger`` and the key/values given. ``console`` uses structlog's ``ConsoleRenderer``; ``auto``
picks ``console`` when the stream is a terminal, else ``json``.

Log ids, counts and reason codes only, never message text. To keep it that way for code we do
not own, every record (ours and the stdlib's, e.g. aiohttp's) goes through the same processors,
and an exception is reduced to its class name (``exc_type``) and where it was raised
(``exc_at``, ``file.py:LINE``): exception messages and tracebacks may echo request or message
text. Other libraries' loggers (aiohttp, asyncio, psycopg) are shown at WARNING and above only;
on the relay's listeners, aiohttp's refusals of malformed requests are one line each, at most
ten a minute, and counted (:mod:`relay.http_edge`).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["configure_logging", "get_logger"]

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_FORMATS: Final = ("auto", "json", "console")
_ROOT_NAME: Final = "relay"


class _RelayHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler this module installs (found again and replaced on reconfiguration)."""


def _exc_tuple(
    value: Any,
) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    if value is True:
        info = sys.exc_info()
        return None if info[0] is None else info
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    return None


def _reduce_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``exc_info`` -> ``exc_type`` (class name) and ``exc_at``: no message, no traceback."""
    event_dict.pop("stack_info", None)
    raw = event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    info = _exc_tuple(raw) if raw else None
    if info is not None:
        exc_type, _exc, tb = info
        event_dict["exc_type"] = exc_type.__name__
        frames = traceback.extract_tb(tb) if tb is not None else []
        if frames:
            last = frames[-1]
            event_dict["exc_at"] = f"{Path(last.filename).name}:{last.lineno}"
    return event_dict


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _reduce_exception,
    ]


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def configure_logging(
    fmt: str = "auto", level: str = "info", stream: IO[str] | None = None
) -> None:
    """Send every log record, structlog's and the stdlib's, to ``stream`` (stderr).

    ``fmt``: ``json``, ``console`` or ``auto``; ``level``: ``debug``, ``info``, ``warning`` or
    ``error`` for the relay's own loggers (``relay.*``); other loggers are shown from WARNING
    (or ``level``, if higher). Calling it again replaces the earlier configuration."""
    if fmt not in _FORMATS:
        raise ValueError(f"log format must be one of {', '.join(_FORMATS)}")
    if level not in _LEVELS:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}")
    out = stream if stream is not None else sys.stderr
    console = fmt == "console" or (fmt == "auto" and _is_tty(out))
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=_is_tty(out))
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    shared = _shared()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _RelayHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _RelayHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    threshold = _LEVELS[level]
    root.setLevel(max(threshold, logging.WARNING))
    logging.getLogger(_ROOT_NAME).setLevel(threshold)
    logging.captureWarnings(False)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for one part of the relay; ``name`` is put under ``relay.`` unless it is."""
    full = name if name == _ROOT_NAME or name.startswith(f"{_ROOT_NAME}.") else f"relay.{name}"
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(full)
    return logger
