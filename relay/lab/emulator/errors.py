"""Slack's logical errors: HTTP 200 with ``{"ok": false, "error": code}`` (429 for limits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SlackError", "missing_scope", "ratelimited"]


class SlackError(Exception):
    """Raised by a method handler; the server renders it as Slack's error body."""

    def __init__(
        self,
        code: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


def ratelimited(retry_after: int) -> SlackError:
    """HTTP 429 with ``Retry-After`` in whole seconds, as Slack sends it."""
    return SlackError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})


def missing_scope(needed: str, provided: frozenset[str]) -> SlackError:
    return SlackError(
        "missing_scope", extra={"needed": needed, "provided": ",".join(sorted(provided))}
    )
