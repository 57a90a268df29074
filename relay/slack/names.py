"""Text shown outside a message's body (an officer's display name, a photo's title or alt
text), judged by the policy like any line, and the workspace's user directory."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable

from relay.core.policy.engine import judge
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.core.text import strip_invisible
from relay.errors import DeliveryError
from relay.slack.web import SlackCaller

__all__ = ["Directory", "JudgedNames", "judged", "safe_name", "safe_text"]

NAMES_KEPT = 2048  # display names kept in memory (an LRU: the workspace may be large)


def judged(
    text: str,
    policy: Policy,
    now: dt.datetime,
    *,
    frame: str,
    limit: int,
    refuse_control: bool = False,
) -> str:
    """``text`` if the policy forwards it as a line; "" when it trips a rule or holds
    control characters. Invisible characters (zero-width, bidi controls, fillers) are taken
    out first, as they are from every line of a message: a partner's author name, photo
    title or alt text shows here only without them."""
    text = strip_invisible(text)
    clean = "".join(ch for ch in text if ch.isprintable())[:limit].strip()
    if not clean or (refuse_control and clean != text.strip()[:limit]):
        return ""
    message = parse_event({"type": "message", "text": frame.format(clean)})
    return clean if judge(message, policy, None, now=now).action.value == "forward" else ""


def safe_name(name: str, policy: Policy, now: dt.datetime) -> str:
    return (
        judged(name, policy, now, frame="Posted by {} today", limit=80, refuse_control=True)
        or "officer"
    )


def safe_text(text: str, policy: Policy, now: dt.datetime) -> str:
    return judged(text, policy, now, frame="Photo: {}", limit=1000)


class JudgedNames:
    """Display names as the policy lets them show, judged once a day per name (bounded)."""

    def __init__(self, policy: Policy, clock: Callable[[], dt.datetime]) -> None:
        self.policy = policy
        self.clock = clock
        self._judged: OrderedDict[tuple[str, dt.date], str] = OrderedDict()

    def __call__(self, name: str) -> str:
        now = self.clock()
        key = (name, now.date())
        if key in self._judged:
            self._judged.move_to_end(key)
            return self._judged[key]
        judged_name = safe_name(name, self.policy, now)
        self._judged[key] = judged_name
        while len(self._judged) > NAMES_KEPT:
            self._judged.popitem(last=False)
        return judged_name


class Directory:
    """Officers' display names from ``users.info``, judged once and kept (bounded)."""

    def __init__(
        self, caller: SlackCaller, policy: Policy, clock: Callable[[], dt.datetime]
    ) -> None:
        self.caller = caller
        self.policy = policy
        self.clock = clock
        self._names: OrderedDict[str, str] = OrderedDict()

    async def name(self, user: str) -> str:
        if user in self._names:
            self._names.move_to_end(user)
            return self._names[user]
        name = user
        try:
            info = await self.caller.api("users.info", user=user)
            profile = (info.get("user") or {}).get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user
        except DeliveryError:
            pass
        judged_name = safe_name(str(name), self.policy, self.clock())
        self._names[user] = judged_name
        while len(self._names) > NAMES_KEPT:
            self._names.popitem(last=False)
        return judged_name
