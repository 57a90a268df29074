"""From a stored Slack event to the outbound flow: in a federated channel, not the relay's own
post, a message (not a join or topic change) -> its envelope ids, its officer's name and its
photos -> :meth:`relay.flow.outbound.Outbound.publish`; then an ephemeral note to the author
when something was held back (rule ids, never text). A cancel reaction goes to
:mod:`relay.slack.reactions`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from relay.core.model import MessageKind, SlackMessage
from relay.core.policy.engine import Decision
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError, InputError
from relay.flow.outbound import Outbound, Outgoing
from relay.flow.records import Recorder
from relay.slack.channels import ChannelMap, ChannelMoves
from relay.slack.files import FileFetcher
from relay.slack.inbox import Published
from relay.slack.keys import envelope_ids, is_own, thread_of
from relay.slack.names import Directory
from relay.slack.reactions import ReactionCancels
from relay.slack.roots import ThreadRoots
from relay.slack.web import SlackCaller

__all__ = ["Observer", "Publisher", "ReviewDecisions"]

Observer = Callable[[str, dict[str, Decision]], None]  # (envelope id, decisions): the lab's
ThreadRoot = Callable[[str, str], Awaitable[tuple[str, str] | None]]  # (channel, ts) -> root


class ReviewDecisions(Protocol):
    async def decide(self, key: str, doc: dict[str, Any]) -> None:
        """Carry out a supervisor's decision stored in the inbox."""


async def _no_root(channel: str, ts: str) -> tuple[str, str] | None:
    return None


class Publisher:
    def __init__(
        self,
        *,
        agency: str,
        policy: Policy,
        outbound: Outbound,
        channels: ChannelMap,
        moves: ChannelMoves,
        caller: SlackCaller,
        fetcher: FileFetcher,
        directory: Directory,
        recorder: Recorder,
        bot_user_id: str,
        bot_id: str | None,
        observe: Observer | None = None,
        thread_root: ThreadRoot | None = None,
        roots: ThreadRoots | None = None,
        reactions: ReactionCancels | None = None,
    ) -> None:
        self.agency = agency
        self.policy = policy
        self.outbound = outbound
        self.channels = channels
        self.moves = moves
        self.caller = caller
        self.fetcher = fetcher
        self.directory = directory
        self.recorder = recorder
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.observe = observe
        # The message a relay post copies (issuer, envelope id), found by where it is.
        self.thread_root = thread_root or _no_root
        self.roots = roots  # a reply's own thread root, taken first when Slack has not yet
        self.reactions = reactions
        self.review: ReviewDecisions | None = None  # the review desk, set once it is built

    def echo(self, doc: dict[str, Any]) -> bool:
        """The relay's own post (or its edit or deletion) echoed back by Slack, or a reaction
        that cancels nothing: nothing will ever be done with it, so the inbox acknowledges it
        without storing it."""
        event = doc.get("event")
        if not isinstance(event, dict):
            return False
        if event.get("type") in ("reaction_added", "reaction_removed"):
            return self.reactions is None or self.reactions.ignorable(event)
        return event.get("type") == "message" and is_own(
            event, bot_user_id=self.bot_user_id, bot_id=self.bot_id
        )

    async def handle(self, key: str, doc: dict[str, Any]) -> Published | None:
        """The message published (its envelopes queued and the event marked done with
        them), or None: nothing to share."""
        if doc.get("type") == "review_decision":  # a supervisor's, stored by the review desk
            if self.review is not None:
                await self.review.decide(key, doc)
            return None
        event = doc.get("event")
        if not isinstance(event, dict):
            return None
        if event.get("type") == "channel_id_changed":
            await self.moves.handle(doc)
            return None
        if event.get("type") == "reaction_added":
            return await self.reactions.handle(key, doc) if self.reactions else None
        where = event.get("channel")
        topic = self.channels.topic(where)
        # a channel partners' posts land in: only replies in their threads are shared
        landing = topic is None
        topic = topic or self.channels.landing_topic(where)
        if topic is None or event.get("type") != "message":
            return None
        if is_own(event, bot_user_id=self.bot_user_id, bot_id=self.bot_id):
            return None
        try:
            message = parse_event(doc)
        except InputError:
            return None
        if message.kind is MessageKind.IGNORED:
            return None  # joins, topic changes, ...: nothing to share, nobody to tell
        root = None
        thread_ts = thread_of(message, event)
        if thread_ts is not None:  # a reply: in the thread of a partner's post?
            found = await self.thread_root(str(message.channel), thread_ts)
            root = found[1] if found is not None else None
            if root is None and self.roots is not None and message.kind is MessageKind.POST:
                # its own thread's first message, if Slack has not delivered it yet: first
                first = await self.roots.untaken(str(message.channel), thread_ts)
                if first is not None:
                    await self.handle(*first)
        if landing and root is None:
            return None
        if message.kind is MessageKind.EDIT and message.target_ts and self.roots is not None:
            # an edit Slack delivered before the message itself (its post event given up on
            # while the relay was away): the message is shared first, as it reads now, so
            # partners do not get it once from the edit and again from the late post
            first = await self.roots.untaken(str(message.channel), message.target_ts)
            if first is not None:
                await self.handle(*first)
        prepared = await self._outgoing(key, message, event, topic, root)
        out, unforwarded = prepared
        decisions = await self.outbound.publish(out)
        if self.observe is not None:
            self.observe(out.envelope_id, decisions)
        channel = str(message.channel)
        if message.user and message.kind is not MessageKind.DELETE:
            review = self.outbound.review
            held = review.held_for(out.envelope_id) if review is not None else frozenset()
            await self._tell_author(channel, message.user, decisions, unforwarded, held)
        return Published(channel=channel, ts=message.ts or "")

    async def _outgoing(
        self, key: str, message: SlackMessage, event: dict[str, Any], topic: str, root: str | None
    ) -> tuple[Outgoing, list[str]]:
        """The message as the outbound flow takes it (ids, officer's name, photos fetched),
        and the reasons of photos that could not be fetched."""
        ids = envelope_ids(
            self.agency,
            message,
            event,
            channel=self.channels.origin(str(message.channel)),
            root=root,
        )
        self.recorder.metrics.slack_message(topic, message.kind.value)
        fetched = await self.fetcher.prepare(message.files) if message.files else None
        files = fetched.files if fetched else {}
        unforwarded = list(fetched.failed.values()) if fetched else []
        for reason in unforwarded:
            self.recorder.metrics.photo_unforwarded(topic, reason)
        author = await self.directory.name(message.user) if message.user else "relay"
        out = Outgoing(
            message=message,
            topic=topic,
            author=author,
            envelope_id=ids.envelope_id,
            kind=ids.kind,
            thread=ids.thread,
            target=ids.target,
            files=files,
            event_key=key,
        )
        return out, unforwarded

    async def released(
        self, key: str, message_doc: dict[str, Any], channel: str
    ) -> Outgoing | None:
        """A top-level message a supervisor released, read back from Slack (``message_doc``:
        ``conversations.history``'s message), as the outbound flow takes it; None when it is
        not a post the relay would share (its channel no longer federated, a bot's)."""
        topic = self.channels.topic(channel)
        event = {**message_doc, "type": "message", "channel": channel}
        if topic is None or is_own(event, bot_user_id=self.bot_user_id, bot_id=self.bot_id):
            return None
        try:
            message = parse_event({"event": event})
        except InputError:
            return None
        if message.kind is not MessageKind.POST:
            return None
        out, _ = await self._outgoing(key, message, event, topic, None)
        return out

    async def _tell_author(
        self,
        channel: str,
        user: str,
        decisions: dict[str, Decision],
        unforwarded: list[str] | None = None,
        held: frozenset[str] = frozenset(),
    ) -> None:
        """An ephemeral note when something was held back: rule ids, never text."""
        notes = []
        if unforwarded and any(d.action.value != "block" for d in decisions.values()):
            reasons = ", ".join(sorted(set(unforwarded)))
            notes.append(
                f"shared without {len(unforwarded)} photo(s) that could not be fetched from "
                f"Slack ({reasons}); partners see a line saying so"
            )
        for ori, decision in decisions.items():
            rules = ", ".join(f"{r.rule} ({r.count})" for r in decision.reasons)
            partner = self.policy.partners.get(ori)
            who = partner.name if partner else ori
            if ori in held:
                notes.append(f"held for a supervisor's review for {who}: {rules}")
            elif decision.action.value == "block" and rules and not rules.startswith("topic_"):
                notes.append(f"not shared with {who}: {rules}")
            elif decision.action.value == "redact":
                notes.append(f"shared with {who} after removing: {rules}")
        if notes:
            text = "Relay: your post was " + "; ".join(notes) + "."
            with contextlib.suppress(DeliveryError):
                await self.caller.api(
                    "chat.postEphemeral", channel, channel=channel, user=user, text=text
                )
