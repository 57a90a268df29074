"""The workspace's federated channels: Slack channel id <-> topic, both ways, shared by the
side that takes events and the side that posts; and Slack moving one to a new id
(``channel_id_changed``), kept durably and audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from relay.core.ids import is_channel_id
from relay.flow.records import Recorder
from relay.store.aio import AsyncStore

__all__ = ["ChannelMap", "ChannelMoves"]

log = structlog.get_logger("relay.slack")


class ChannelMap:
    def __init__(
        self,
        channels: Mapping[str, str],
        partner_channels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._topics = dict(channels)  # channel id -> topic
        # topic -> {partner ORI or "*": channel}: where partners' posts land instead
        self._landing = {t: dict(r) for t, r in (partner_channels or {}).items()}
        self._origin: dict[str, str] = {}  # a moved channel's id -> the id it had first

    def origin(self, channel: str) -> str:
        """The id a channel had when the relay first knew it: envelope ids are made from it,
        so a message's edits and deletes keep its ids after Slack moves the channel."""
        return self._origin.get(channel, channel)

    def current(self, first: str) -> str:
        """The id a channel has now, given the id it had first (:meth:`origin` reversed)."""
        return next((now for now, was in self._origin.items() if was == first), first)

    def topic(self, channel: object) -> str | None:
        return self._topics.get(channel) if isinstance(channel, str) else None

    def channel(self, topic: str) -> str | None:
        return next((c for c, t in self._topics.items() if t == topic), None)

    def landing(self, topic: str, partner: str) -> str | None:
        """Where ``partner``'s posts of ``topic`` land: its own channel for the topic, else
        every partner's, else the channel officers post the topic in."""
        routes = self._landing.get(topic, {})
        return routes.get(partner) or routes.get("*") or self.channel(topic)

    def landing_topic(self, channel: object) -> str | None:
        """The topic whose partners' posts land in ``channel`` (a partner channel)."""
        return next((t for t, routes in self._landing.items() if channel in routes.values()), None)

    def lands(self, topic: str) -> bool:
        """Some channel takes partners' posts of ``topic``."""
        return bool(self._landing.get(topic)) or self.channel(topic) is not None

    def ids(self) -> list[str]:
        return list(self._topics)

    def renamed(self, old: object, new: object) -> bool:
        """Slack moved a channel to a new id (``channel_id_changed``)."""
        if not (isinstance(old, str) and isinstance(new, str) and new):
            return False
        moved = False
        for routes in self._landing.values():
            for who, cid in routes.items():
                if cid == old:
                    routes[who], moved = new, True
        if old in self._topics:
            self._topics[new] = self._topics.pop(old)
            moved = True
        if moved:
            self._origin[new] = self._origin.pop(old, old)
        return moved


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
        topic = self.channels.topic(old) or self.channels.landing_topic(old)
        if topic is None or not is_channel_id(new):
            return False  # not a channel this relay federates (or not an id): nothing to do
        if self.channels.topic(new) or self.channels.landing_topic(new):
            self.recorder.problem("slack", "channel_id_changed", "channel_taken")
            log.warning("channel_move_refused", reason="channel_taken")
            return False  # onto a channel already mapped: never merge two channels' topics
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
