"""The workspace's federated channels: Slack channel id <-> topic, both ways, shared by the
side that takes events and the side that posts; and Slack moving one to a new id
(``channel_id_changed``), kept durably and audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import structlog

from relay.flow.records import Recorder
from relay.store.aio import AsyncStore

__all__ = ["ChannelMap", "ChannelMoves"]

log = structlog.get_logger("relay.slack")

_CHANNEL_ID: Final = re.compile(r"[CG][A-Z0-9]{2,20}", re.ASCII)


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


class ChannelMoves:
    """``channel_id_changed`` from the relay's own workspace, for a channel it federates:
    the move is stored (with its audit record, in one transaction) before the map follows
    it, so a restart keeps it. An event from another team, or about a channel the relay does
    not federate, changes nothing."""

    def __init__(
        self,
        *,
        team_id: str,
        channels: ChannelMap,
        store: AsyncStore,
        recorder: Recorder,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.team_id = team_id
        self.channels = channels
        self.aio = store
        self.store = store.store  # blocking: only inside a durable write
        self.recorder = recorder
        self.clock = clock

    async def restore(self) -> None:
        """Apply the moves kept by earlier runs (at start, before any event)."""
        for old, new in await self.aio.run(self.store.channel_moves):
            self.channels.renamed(old, new)

    async def handle(self, doc: dict[str, Any]) -> bool:
        """True when the move was taken."""
        event = doc.get("event")
        event = event if isinstance(event, dict) else {}
        old, new = event.get("old_channel_id"), event.get("new_channel_id")
        if doc.get("team_id") != self.team_id:
            self.recorder.problem("slack", "channel_id_changed", "foreign_team")
            log.warning("channel_move_refused", reason="foreign_team")
            return False
        topic = self.channels.topic(old)
        if topic is None or not isinstance(new, str) or not _CHANNEL_ID.fullmatch(new):
            return False  # not a channel this relay federates (or not an id): nothing to do
        assert isinstance(old, str)  # noqa: S101 - the map knows it: a str
        at = self.clock()
        records = self.recorder.entry(
            "channel_change", topic=topic, channel=new, old_channel=old, outcome="moved"
        )
        store = self.store

        def write() -> None:
            store.move_channel(old, new, at=at)
            self.recorder.append(records)

        await self.aio.durable(write)
        self.channels.renamed(old, new)
        log.info("channel_moved", old=old, new=new, topic=topic)
        return True
