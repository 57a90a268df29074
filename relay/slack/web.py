"""Calling Slack's Web API: pacing, and errors mapped once at the edge.

``SlackApiError``'s text embeds the whole Slack response (message text included), so it is
turned into :class:`~relay.errors.DeliveryError` with only Slack's error code, ``from None``,
and never logged. Pacing: Slack allows about one ``chat.postMessage`` per second per channel
(short bursts tolerated) and Tier 2-4 limits on other methods; a token bucket per (method,
channel) keeps 429s the exception, and a 429 that still comes is waited out (``Retry-After``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from relay.errors import DeliveryError

if TYPE_CHECKING:
    from relay.metrics import RelayMetrics

__all__ = ["Pacer", "SlackCaller", "map_slack_errors", "message_at", "pages"]

T = TypeVar("T")

# Codes a later retry can fix; everything else needs a person (token, scope, membership).
_RETRYABLE: Final = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "unreachable",
    }
)
# Requests per second and burst, per (method, channel); Slack's published tiers, a bit under.
_RATES: Final[dict[str, tuple[float, int]]] = {
    "chat.postMessage": (1.0, 3), "chat.update": (0.8, 3), "chat.delete": (0.8, 3),
    "chat.postEphemeral": (1.0, 3), "conversations.history": (0.8, 3),
    "conversations.replies": (0.8, 3), "files.getUploadURLExternal": (0.3, 5),
    "files.completeUploadExternal": (0.3, 5), "files.info": (1.5, 10), "users.info": (1.5, 10),
    "usergroups.users.list": (0.3, 5),
}  # fmt: skip


@asynccontextmanager
async def map_slack_errors(method: str) -> AsyncIterator[None]:
    """SlackApiError / client errors -> DeliveryError(code=<slack error>), text dropped."""
    try:
        yield
    except SlackApiError as exc:
        response = exc.response
        code = str(response.get("error", "unknown_error")) if response is not None else "unknown"
        status = getattr(response, "status_code", 0)
        retry_after = None
        if status == 429 or code == "ratelimited":
            code = "ratelimited"
            headers = getattr(response, "headers", {}) or {}
            raw = headers.get("Retry-After") or headers.get("retry-after")
            retry_after = float(raw) if raw and str(raw).isdigit() else 1.0
        raise DeliveryError(
            f"slack {method} failed: {code}",
            code=code,
            retryable=code in _RETRYABLE or status >= 500,
            retry_after=retry_after,
        ) from None
    except (TimeoutError, SlackClientError, aiohttp.ClientError, OSError) as exc:
        raise DeliveryError(
            f"slack {method} failed: {type(exc).__name__}", code="unreachable", retryable=True
        ) from None


@dataclass(slots=True)
class Pacer:
    """Token buckets per (method, channel); ``wait`` sleeps until a request may go."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _buckets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    waited: float = 0.0  # total seconds spent waiting (a metric)
    # (rate, burst) per method instead of Slack's; None turns pacing off (an emulator without
    # limits, as in ``relay bench e2e``).
    rates: dict[str, tuple[float, int]] | None = field(default_factory=lambda: dict(_RATES))
    default: tuple[float, int] = (2.0, 5)

    async def wait(self, method: str, channel: str = "") -> None:
        if self.rates is None:
            return
        rate, burst = self.rates.get(method, self.default)
        while True:
            now = self.clock()
            tokens, last = self._buckets.get((method, channel), (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[(method, channel)] = (tokens - 1.0, now)
                return
            self._buckets[(method, channel)] = (tokens, now)
            delay = (1.0 - tokens) / rate
            self.waited += delay
            await self.sleep(delay)


class SlackCaller:
    """An ``AsyncWebClient`` with pacing, 429s waited out, and errors mapped."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pacer: Pacer | None = None,
        max_attempts: int = 5,
        metrics: RelayMetrics | None = None,
    ) -> None:
        self.client = client
        self.pacer = pacer or Pacer()
        self.max_attempts = max_attempts
        self.metrics = metrics
        self.calls: dict[tuple[str, str], int] = {}  # (method, outcome) -> count (metrics)

    async def call(self, method: str, channel: str, fn: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.max_attempts):
            before = self.pacer.waited
            await self.pacer.wait(method, channel)
            if self.metrics is not None and self.pacer.waited > before:
                self.metrics.rate_limited(method, self.pacer.waited - before)
            try:
                async with map_slack_errors(method):
                    result = await fn()
                self._count(method, "ok")
                return result
            except DeliveryError as exc:
                self._count(method, exc.code)
                if exc.code != "ratelimited" or attempt == self.max_attempts - 1:
                    raise
                wait = exc.retry_after or 1.0
                self.pacer.waited += wait
                if self.metrics is not None:
                    self.metrics.rate_limited(method, wait)
                await self.pacer.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, method: str, outcome: str) -> None:
        self.calls[(method, outcome)] = self.calls.get((method, outcome), 0) + 1
        if self.metrics is not None:
            self.metrics.slack_call(method, outcome)

    async def api(self, method: str, pace: str = "", /, **kwargs: Any) -> dict[str, Any]:
        """Call a Web API method by name (``pace``: the channel its rate limit counts in)."""

        # slack-sdk's method wrapper sends the arguments as Slack documents that method: JSON
        # for the write methods that take it, query or form arguments for the read methods.
        wrapper = getattr(self.client, method.replace(".", "_"), None)
        if wrapper is None:
            raise DeliveryError(
                f"slack {method}: no such method", code="unknown_method", retryable=False
            )

        async def go() -> dict[str, Any]:
            response = await wrapper(**kwargs)
            return dict(response.data) if isinstance(response.data, dict) else {}

        return await self.call(method, pace, go)


async def message_at(caller: SlackCaller, channel: str, ts: str) -> dict[str, Any] | None:
    """The top-level message at ``ts`` as Slack has it now (None: gone, or a thread reply,
    which the history does not list). Slack's errors pass to the caller."""
    window = {"latest": ts, "oldest": ts, "inclusive": True, "limit": 1}
    page = await caller.api("conversations.history", channel, channel=channel, **window)
    for m in page.get("messages") or []:
        if isinstance(m, dict) and m.get("ts") == ts:
            return m
    return None


async def pages(
    caller: SlackCaller, method: str, channel: str, *, max_pages: int = 0, **kwargs: Any
) -> AsyncIterator[list[dict[str, Any]]]:
    """The pages of ``conversations.history`` or ``.replies`` (200 messages each, in the
    order Slack answers), following the cursor; at most ``max_pages`` of them (0: all)."""
    cursor: str | None = None
    read = 0
    while True:
        extra: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = await caller.api(method, channel, channel=channel, limit=200, **kwargs, **extra)
        yield list(page.get("messages") or [])
        read += 1
        next_cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not next_cursor or read == max_pages:
            return
        cursor = str(next_cursor)
