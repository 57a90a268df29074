"""Who is a supervisor in this agency's workspace (``slack.supervisors``): listed user ids, and
the members of one user group read with ``usergroups.users.list`` (kept briefly, bounded).

Used to let a supervisor cancel any officer's BOLO by reaction; the supervisor's review
(issue #16) is to use the same list. Fail closed: a group Slack will not list counts as empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from relay.config_schema import Supervisors
from relay.core import defaults
from relay.errors import DeliveryError
from relay.flow.records import Recorder
from relay.slack.web import SlackCaller

__all__ = ["GROUP_MEMBERS_KEPT", "Supervision"]

GROUP_MEMBERS_KEPT: Final = 10_000
"""Members of the supervisors' group kept at most; a larger group is refused (fail closed)."""


class Supervision:
    def __init__(
        self,
        supervisors: Supervisors,
        caller: SlackCaller,
        recorder: Recorder,
        *,
        ttl: float = defaults.SUPERVISOR_GROUP_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.supervisors = supervisors
        self.caller = caller
        self.recorder = recorder
        self.ttl = ttl
        self.clock = clock
        self._members: frozenset[str] = frozenset()
        self._read_at: float | None = None

    async def rule(self, user: str) -> str | None:
        """Why ``user`` is a supervisor (``supervisor``: listed; ``supervisor_group``: a member
        of the group), or None. A Slack error that a retry can fix is raised (the event is
        taken again later); any other leaves the group empty until the next read."""
        if user in self.supervisors.users:
            return "supervisor"
        if self.supervisors.usergroup is None:
            return None
        return "supervisor_group" if user in await self._group() else None

    async def _group(self) -> frozenset[str]:
        group = self.supervisors.usergroup
        now = self.clock()
        if group is None:
            return frozenset()
        if self._read_at is not None and now - self._read_at < self.ttl:
            return self._members
        try:
            answer = await self.caller.api("usergroups.users.list", usergroup=group)
        except DeliveryError as exc:
            if exc.retryable:
                raise
            self.recorder.problem("slack", group, exc.code or "usergroup_unreadable")
            self._members, self._read_at = frozenset(), now
            return self._members
        users = answer.get("users")
        listed = [u for u in users if isinstance(u, str)] if isinstance(users, list) else []
        if len(listed) > GROUP_MEMBERS_KEPT:
            self.recorder.problem("slack", group, "usergroup_too_large")
            listed = []
        self._members, self._read_at = frozenset(listed), now
        return self._members
