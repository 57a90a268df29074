"""Cancelling a BOLO the Slack way: its author (or a supervisor) adds ``slack.cancel_reaction``
(``:no_entry:`` by default) to it, and the relay sends partners the same ``cancel`` a thread
reply saying "BOLO cancelled" sends, through the same outbound path.

Only ``reaction_added`` on a message in a federated channel, with the configured name, from
this workspace, by someone other than the relay, on a message that is not the relay's own post.
The reacting user must be the message's author (``item_user``; read from the message itself
when Slack leaves it out) or a supervisor (:mod:`relay.slack.supervisors`); anyone else gets an
ephemeral note and nothing is shared. Taking the reaction off does nothing: a cancelled BOLO
stays cancelled.

The cancel's envelope id is derived from the message alone (``{agency}.{channel}.{ts}.cancel``),
so the outbox (one row per partner and envelope id, kept after delivery) queues it once: a
retried or repeated event, or a second supervisor's reaction, judges and records the attempt
but sends nothing more; partners refuse a repeated envelope id as well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog

from relay.core.envelope import EnvelopeKind
from relay.core.policy.engine import Decision
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError
from relay.flow.outbound import Outbound, Outgoing
from relay.flow.records import Recorder
from relay.slack.channels import ChannelMap
from relay.slack.inbox import Published
from relay.slack.keys import is_own
from relay.slack.names import Directory
from relay.slack.supervisors import Supervision
from relay.slack.web import SlackCaller, message_at

__all__ = ["CANCEL_LINE", "ReactionCancels"]

log = structlog.get_logger("relay.slack")

CANCEL_LINE: Final = "BOLO cancelled by reaction."
"""The cancel's one line: fixed, so nothing the officer wrote goes with it."""


class ReactionCancels:
    def __init__(
        self,
        *,
        agency: str,
        team_id: str,
        reaction: str,
        channels: ChannelMap,
        outbound: Outbound,
        caller: SlackCaller,
        directory: Directory,
        supervision: Supervision,
        recorder: Recorder,
        bot_user_id: str,
        bot_id: str | None,
        observe: Callable[[str, dict[str, Decision]], None] | None = None,
        status: str | None = None,
        explain: Callable[[str, str], Awaitable[None]] | None = None,
        shared: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.agency = agency
        self.team_id = team_id
        self.reaction = reaction
        self.channels = channels
        self.outbound = outbound
        self.caller = caller
        self.directory = directory
        self.supervision = supervision
        self.recorder = recorder
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.observe = observe
        # The status reaction: the author (or a supervisor) is told each partner's outcome.
        self.status = status if explain is not None else None
        self.explain = explain
        # Whether a message went to any partner: one that never left is not "cancelled" at
        # partners (the cancellation would tell them a withheld message exists).
        self.shared = shared

    def ignorable(self, event: dict[str, Any]) -> bool:
        """A reaction event nothing will ever be done with (acknowledged, not stored): taken
        off, another emoji, the relay's own, not on a message, or outside federated channels."""
        kind = event.get("type")
        if kind == "reaction_removed":
            return True
        if kind != "reaction_added":
            return False
        item = event.get("item")
        return (
            event.get("reaction") not in (self.reaction, self.status)
            or event.get("user") == self.bot_user_id
            or not isinstance(item, dict)
            or item.get("type") != "message"
            or self.channels.topic(item.get("channel")) is None
        )

    async def handle(self, key: str, doc: dict[str, Any]) -> Published | None:
        """The cancel queued for every partner (the event marked done with it), or None."""
        event = doc.get("event")
        if not isinstance(event, dict) or self.ignorable(event):
            return None
        if event.get("type") != "reaction_added" or doc.get("team_id") != self.team_id:
            return None
        item = event["item"]
        channel, ts, user = item.get("channel"), item.get("ts"), event.get("user")
        if not (isinstance(channel, str) and isinstance(ts, str) and isinstance(user, str)):
            return None
        topic = self.channels.topic(channel)
        if topic is None or not ts or not user:
            return None
        author = event.get("item_user")
        if author == self.bot_user_id:
            return None  # the relay's own post (a partner's message): not ours to cancel
        if not isinstance(author, str) or not author:
            found = await self._message(channel, ts)
            if found is None or is_own(found, bot_user_id=self.bot_user_id, bot_id=self.bot_id):
                return None
            if found.get("bot_id") or found.get("subtype") == "bot_message":
                return None  # an app's post: the relay's own, or never shared
            author = found.get("user") if isinstance(found.get("user"), str) else None
        rule = "author" if user == author else await self.supervision.rule(user)
        if event.get("reaction") == self.status:
            if rule is not None and self.explain is not None:
                await self.explain(f"{self.agency}.{self.channels.origin(channel)}.{ts}", user)
            return None
        if rule is None:
            self.recorder.metrics.slack_message(topic, "cancel_refused")
            log.info("reaction_cancel_refused", channel=channel, ts=ts, user=user)
            await self._refuse(channel, user)
            return None
        return await self._cancel(key, topic, channel, ts, user, event)

    async def _cancel(
        self, key: str, topic: str, channel: str, ts: str, user: str, event: dict[str, Any]
    ) -> Published | None:
        base = f"{self.agency}.{self.channels.origin(channel)}."
        target = base + ts
        if self.shared is not None and not await self.shared(target):
            await self._refuse(channel, user, "cancel_not_shared")
            return None
        event_ts = event.get("event_ts")
        message = parse_event(
            {
                "type": "message",
                "text": CANCEL_LINE,
                "user": user,
                "team": self.team_id,
                "channel": channel,
                "ts": event_ts if isinstance(event_ts, str) else ts,
                "thread_ts": ts,
            }
        )
        self.recorder.metrics.slack_message(topic, "cancel_reaction")
        envelope_id = f"{target}.cancel"
        decisions = await self.outbound.publish(
            Outgoing(
                message=message,
                topic=topic,
                author=await self.directory.name(user),
                envelope_id=envelope_id,
                kind=EnvelopeKind.CANCEL,
                thread=target,
                target=target,
                event_key=key,
            )
        )
        if self.observe is not None:
            self.observe(envelope_id, decisions)
        return Published(channel=channel, ts="")

    async def _message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The reacted message as Slack has it now (a thread reply is not in the history)."""
        found = await message_at(self.caller, channel, ts)
        if found is not None:
            return found
        try:
            thread = await self.caller.api(
                "conversations.replies", channel, channel=channel, ts=ts
            )
        except DeliveryError as exc:
            if exc.code == "thread_not_found":
                return None  # gone: nothing to cancel
            raise
        for m in thread.get("messages") or []:
            if isinstance(m, dict) and m.get("ts") == ts:
                return m
        return None

    async def _refuse(self, channel: str, user: str, rule: str = "cancel_not_allowed") -> None:
        """Tell the reacting officer, and only them; never the message's text."""
        if rule == "cancel_not_shared":
            text = (
                "Relay: not cancelled (cancel_not_shared): this post was not shared with any "
                "partner, so there is nothing to cancel there."
            )
        else:
            text = (
                f"Relay: not cancelled (cancel_not_allowed): only the post's author or a "
                f"supervisor can cancel it with :{self.reaction}:. Nothing was shared."
            )
        with contextlib.suppress(DeliveryError):
            await self.caller.api(
                "chat.postEphemeral", channel, channel=channel, user=user, text=text
            )
