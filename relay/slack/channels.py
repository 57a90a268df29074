"""The workspace's federated channels: Slack channel id <-> topic, both ways, shared by the
side that takes events and the side that posts."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ChannelMap"]


class ChannelMap:
    def __init__(self, channels: Mapping[str, str]) -> None:
        self._topics = dict(channels)  # channel id -> topic

    def topic(self, channel: object) -> str | None:
        return self._topics.get(channel) if isinstance(channel, str) else None

    def channel(self, topic: str) -> str | None:
        return next((c for c, t in self._topics.items() if t == topic), None)

    def ids(self) -> list[str]:
        return list(self._topics)

    def renamed(self, old: object, new: object) -> bool:
        """Slack moved a channel to a new id (``channel_id_changed``)."""
        if isinstance(old, str) and old in self._topics and isinstance(new, str) and new:
            self._topics[new] = self._topics.pop(old)
            return True
        return False
