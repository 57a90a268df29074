"""Named points where a test can have the relay killed (``kill -9``) on purpose.

``RELAY_CRASH_AT=after_outbox_commit`` (a comma-separated list) makes the process send itself
SIGKILL the first time it reaches that point: no cleanup, no flush, exactly what a power cut or
the OOM killer does. Unset in production, where each point costs one set lookup. The points:

- ``after_slack_ack``: a Slack event is stored and acknowledged, not yet judged
- ``after_outbox_commit``: envelopes are queued for the partners, none sent yet
- ``after_envelope_commit``: a partner's envelope is stored, the 200 not yet sent
- ``after_partner_answered``: the partner said 200, not yet marked delivered here
- ``during_slack_post``: Slack took the post, its ts not yet stored
"""

from __future__ import annotations

import os
import signal
from typing import Final

__all__ = ["POINTS", "crash_point"]

POINTS: Final = frozenset(
    {
        "after_slack_ack",
        "after_outbox_commit",
        "after_envelope_commit",
        "after_partner_answered",
        "during_slack_post",
    }
)
_ARMED: Final = frozenset(
    p.strip() for p in os.environ.get("RELAY_CRASH_AT", "").split(",") if p.strip()
)


def crash_point(name: str) -> None:
    """SIGKILL this process if ``name`` is armed."""
    if _ARMED and name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
