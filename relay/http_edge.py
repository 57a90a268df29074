"""What both HTTP listeners (federation, ``/slack/events``) share below their routes: no
compressed bodies, and aiohttp's own refusals of a malformed request counted, not logged as
tracebacks.

- A body is never decompressed (``auto_decompress`` off): a ``Content-Encoding`` other than
  ``identity`` is refused by the route before the body is read
  (:func:`content_coded`: 415 ``unsupported_media_type``). No gzip bomb, no codec error.
- What aiohttp refuses before any route runs (a bad chunk size, a broken request line, a body
  cut off) it logs at ERROR with a traceback, one per request, from anyone who can connect.
  :func:`listener_args` gives each listener a logger that writes one line instead (no
  traceback, no message: the exception's class only), at most :data:`LINES_PER_MINUTE` a
  minute, and counts each in ``relay_http_bad_requests_total{listener}``. (Whatever else
  aiohttp logs goes through :mod:`relay.logs`, which never writes a traceback either.)
"""

from __future__ import annotations

import logging
import sys
import time
import weakref
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final, Literal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CollectorRegistry, Counter

__all__ = [
    "LINES_PER_MINUTE",
    "BadRequests",
    "Listener",
    "bad_requests",
    "content_coded",
    "listener_args",
]

Listener = Literal["federation", "slack"]
LINES_PER_MINUTE: Final = 10  # log lines per listener a minute; every one is counted
_SERVER: Final = "aiohttp.server"


class BadRequests:
    """``relay_http_bad_requests_total{listener}``: requests aiohttp refused itself."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "relay_http_bad_requests_total",
            "Malformed HTTP requests refused before any route ran (bad framing, chunking or "
            "body), by listener: federation, slack.",
            ["listener"],
            registry=registry,
        )
        for listener in ("federation", "slack"):
            self.total.labels(listener=listener)


_COUNTERS: Final[weakref.WeakKeyDictionary[CollectorRegistry, BadRequests]] = (
    weakref.WeakKeyDictionary()
)


def bad_requests(registry: CollectorRegistry) -> BadRequests:
    """The counter on ``registry`` (made once: both listeners of a relay share it)."""
    got = _COUNTERS.get(registry)
    if got is None:
        got = _COUNTERS[registry] = BadRequests(registry)
    return got


def content_coded(request: web.BaseRequest) -> bool:
    """Whether the body is content-coded (gzip, br, ...): refused, never decoded."""
    codings = request.headers.getall("Content-Encoding", [])
    return any(c.strip().lower() not in ("", "identity") for c in codings)


def _exception(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    return None


def _malformed(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 8:  # RequestPayloadError wraps the parser's error
        if isinstance(exc, HttpProcessingError | RequestPayloadError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class _ListenerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Stands in for ``aiohttp.server``'s logger on one listener (aiohttp calls ``debug``,
    ``warning`` and ``exception`` on it): one line a record, no traceback, at most
    :data:`LINES_PER_MINUTE` lines a minute; a malformed request is counted and written at
    WARNING (the sender's fault), anything else at ERROR."""

    def __init__(
        self,
        listener: Listener,
        count: Callable[[], None] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.getLogger(_SERVER), {})
        self.listener, self._count, self._clock = listener, count, clock
        self._minute, self._shown, self._suppressed = clock(), 0, 0

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        given = kwargs.get("exc_info")
        exc = sys.exc_info()[1] if given is True else _exception(given)
        bad = _malformed(exc)
        if bad and self._count is not None:
            self._count()
        if level < logging.WARNING:
            return  # aiohttp's debug lines (a first request that is not HTTP at all)
        now = self._clock()
        if now - self._minute >= 60.0:
            self._minute, self._shown = now, 0
        if self._shown >= LINES_PER_MINUTE:
            self._suppressed += 1
            return
        self._shown += 1
        suppressed, self._suppressed = self._suppressed, 0
        self.logger.log(
            logging.WARNING if bad else logging.ERROR,
            "http_bad_request listener=%s exc_type=%s suppressed=%d"
            if bad
            else "http_handler_error listener=%s exc_type=%s suppressed=%d",
            self.listener,
            type(exc).__name__ if exc is not None else "none",
            suppressed,
        )

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


def listener_args(listener: Listener, registry: CollectorRegistry | None) -> Mapping[str, Any]:
    """``web.Application(handler_args=...)`` for a listener: bodies never decompressed, and
    aiohttp's refusals logged in one line and counted on ``registry`` (None: not counted)."""
    count = None
    if registry is not None:
        child = bad_requests(registry).total.labels(listener=listener)
        count = child.inc
    return {"auto_decompress": False, "logger": _ListenerLog(listener, count)}
