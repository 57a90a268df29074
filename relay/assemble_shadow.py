"""The shadow policy of a relay, from ``relay.yaml``'s ``policy_candidate``: loaded like the
policy in force (a file that does not load stops the start, ``FILE:LINE``, exit 2), and
given the sink its samples go to (by default one that only counts them)."""

from __future__ import annotations

import datetime as dt

from relay.commands.policy import read_policy
from relay.config import ConfigLoadError, RelayConfig
from relay.flow.shadow import Shadow, ShadowSink
from relay.metrics import RelayMetrics

__all__ = ["shadow_from_config"]


def shadow_from_config(
    config: RelayConfig, today: dt.date, metrics: RelayMetrics, sink: ShadowSink | None = None
) -> Shadow | None:
    """The :class:`Shadow` judging by ``config.policy_candidate``, or None when none is named.
    Raises :class:`~relay.core.policy.load.PolicyLoadError` or :class:`ConfigLoadError`."""
    if config.policy_candidate is None:
        return None
    candidate = read_policy(str(config.policy_candidate), today)
    if candidate.ori != config.agency:
        raise ConfigLoadError(
            config.source,
            [
                (
                    1,
                    f"policy_candidate {config.policy_candidate} is for {candidate.ori}, "
                    f"not {config.agency}",
                )
            ],
        )
    return Shadow(
        candidate=candidate,
        metrics=metrics,
        sink=sink,
        sample_every=dt.timedelta(minutes=config.policy_candidate_sample_minutes),
    )
