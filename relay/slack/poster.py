"""The poster: an accepted, judged envelope -> a post in the channel mapped to its topic,
attributed to the origin agency and officer, in the right thread, with its photos; edits,
deletes and cancellations applied to the copy. The envelope id -> ts map lives in the store,
so later changes find the copy after a restart, and a retried post is looked for (by its
metadata mark) before it is made again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final, Literal, Protocol

from relay.core.envelope import EnvelopeKind, VerifiedEnvelope
from relay.core.ids import issuer_of, message_place
from relay.core.model import MessageKind
from relay.core.policy.model import Policy
from relay.core.policy.outbound import rich_text_block
from relay.core.text import strip_invisible
from relay.errors import DeliveryError
from relay.flow.inbound import Delivery
from relay.lab.crashpoints import crash_point
from relay.slack.channels import ChannelMap
from relay.slack.files import FileFetcher, reencode
from relay.slack.keys import RELAY_MARK
from relay.slack.names import JudgedNames, safe_text
from relay.slack.web import SlackCaller, pages
from relay.store.aio import AsyncStore
from relay.store.contract import Blobs, PostCopy, PostMap


class PosterStore(PostMap, Blobs, Protocol):
    """Where copies were posted, and the photos to upload."""


__all__ = ["Poster"]

_CANCELLED: Final = "#cancelled"  # post map key suffix: this copy was cancelled
_ORPHAN: Final = "#orphan"  # ...: this copy was posted as a reply in a thread not shared
# Where an earlier attempt's post is looked for: back to a minute (clocks differ) before the
# envelope was accepted, at most this many pages of 200 (a busy channel: not only the last 200)
_LOOK_BACK: Final = 60.0
_LOOK_PAGES: Final = 25


class Poster:
    def __init__(
        self,
        *,
        policy: Policy,
        store: AsyncStore,
        caller: SlackCaller,
        fetcher: FileFetcher,
        channels: ChannelMap,
        clock: Callable[[], dt.datetime],
        on_cancel: Literal["mark", "delete"] | str = "mark",
        icon_url: str | None = None,
        icons: Mapping[str, str] | None = None,
    ) -> None:
        self.policy = policy
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.caller = caller
        self.fetcher = fetcher
        self.channels = channels
        self.clock = clock
        self.on_cancel = on_cancel  # "mark" the original cancelled, or "delete" it
        self.icon_url = icon_url  # every partner's posts, unless ``icons`` names one
        self.icons = dict(icons or {})  # partner ORI -> the icon its posts show
        self._names = JudgedNames(policy, clock)  # partners' officers, judged by our policy

    async def _lookup(self, issuer: str, envelope_id: str | None) -> tuple[str, str] | None:
        if not envelope_id:
            return None
        return await self.aio.run(
            partial(self.store.lookup_post, issuer=issuer, envelope_id=envelope_id)
        )

    async def _map(self, issuer: str, envelope_id: str, channel: str, ts: str) -> None:
        store = self.store
        await self.aio.durable(
            partial(store.map_post, issuer=issuer, envelope_id=envelope_id, channel=channel, ts=ts)
        )

    async def _copies(
        self, env: VerifiedEnvelope, key: str
    ) -> tuple[tuple[str, str] | None, tuple[str, str] | None, tuple[str, str] | None]:
        """Where this relay's copies are: the message an edit, delete or cancel is about, the
        thread's first message, and this envelope's own copy (an earlier attempt's), looked
        up in one trip off the event loop."""
        store, issuer = self.store, env.issuer
        # A thread is the origin's: a reply made in another agency's copy names the root by
        # the root's own envelope id, whose issuer leads it ("<ORI>.<channel>.<ts>").
        root = issuer_of(env.thread) if env.thread else issuer
        own = self._own(env.thread) if env.thread and root == self.policy.ori else None
        wanted = ((issuer, env.target), (root, None if own else env.thread), (issuer, key))

        def look() -> list[tuple[str, str] | None]:
            return [store.lookup_post(issuer=i, envelope_id=e) if e else None for i, e in wanted]

        target, thread, earlier = await self.aio.run(look)
        return target, own or thread, earlier

    def _own(self, envelope_id: str) -> tuple[str, str] | None:
        """Where this agency's own message is: its envelope id says (``<ORI>.<channel first
        had>.<secs>.<micros>``); a reply from a partner lands in its thread."""
        place = message_place(envelope_id)
        if place is None or place[0] != self.policy.ori:
            return None
        return self.channels.current(place[1]), place[2]

    async def post(self, delivery: Delivery) -> bool:
        """Show ``delivery`` in Slack; False when it is withheld (a reply in a thread this
        agency never received, under ``orphan_replies: withhold``)."""
        env, decision = delivery.envelope, delivery.decision
        channel = self.channels.landing(env.topic, env.issuer)
        if channel is None:
            return False  # refused on acceptance; one accepted before relay.yaml changed
        key = env.target if env.kind is EnvelopeKind.EDIT and env.target else env.envelope_id
        if delivery.attempt <= 1 and not env.target and not env.thread:
            # a new message on its first attempt: no copy of it or of what it refers to
            # exists yet (another path's copy of one envelope is refused as a duplicate)
            target = thread = earlier = None
        else:
            target, thread, earlier = await self._copies(env, key)
        if env.kind is EnvelopeKind.DELETE or (
            decision.message is not None and decision.message.kind is MessageKind.DELETE
        ):
            # a delete, or an edit this agency (or the origin) will no longer show: the copy
            # goes, and is forgotten, so a later edit that is safe again posts it anew
            if target is not None and env.target:
                await self._delete(*target)
                await self._forget(env.issuer, env.target)
            return True
        if env.kind is EnvelopeKind.CANCEL and target is not None:
            thread = target
        # an orphan: a reply (or its first showing) whose thread this agency never received;
        # an edit of a copy that exists is not (its thread place was settled when it came)
        orphan = (
            env.thread is not None
            and thread is None
            and not (env.kind is EnvelopeKind.EDIT and target is not None)
        )
        if orphan and self.policy.orphan_replies == "withhold":
            return False
        # an edit of a copy posted as an orphan keeps saying so (its thread is still not here)
        kept = (
            not orphan
            and env.thread is not None
            and thread is None
            and target is not None
            and env.target is not None
            and await self._lookup(env.issuer, env.target + _ORPHAN) == target
        )
        args = self._render(delivery, key, orphan=orphan or kept)
        if env.kind is EnvelopeKind.EDIT and target is not None and env.target:
            if await self._edit(env, env.target, target, args):
                return True
            earlier = None  # the copy was deleted here: the edit is posted again
        if (
            env.kind is EnvelopeKind.EDIT
            and env.target
            and earlier is None
            and await self._lookup(env.issuer, env.target + _CANCELLED) is not None
        ):
            # shown again (its copy was retracted or deleted): a cancelled BOLO comes back
            # cancelled, or (cancelled by deletion) not at all
            if self.on_cancel == "delete":
                return True
            args["text"], args["blocks"] = _cancelled(str(args.get("text", ""))), []
        if thread is not None:
            channel = thread[0]  # the thread's channel (the origin's, or the copy's)
            args["thread_ts"] = thread[1]
            if env.broadcast:
                args["reply_broadcast"] = True
        if earlier is not None:
            # Posted and recorded by an earlier attempt, which may have stopped before its
            # photos or the cancellation mark: those are done now (each only once).
            await self._upload_files(env, channel, thread[1] if thread is not None else earlier[1])
            if env.kind is EnvelopeKind.CANCEL and target is not None and env.target:
                await self._cancel_original(env.issuer, env.target, *target)
            return True
        ts = None
        if delivery.attempt > 1:  # an earlier attempt's outcome is unknown: look, not repeat
            ts = await self._find_posted(channel, key, thread, delivery.since)
        if ts is None:
            try:
                response = await self.caller.api(
                    "chat.postMessage", channel, channel=channel, **args
                )
            except DeliveryError as exc:
                if exc.code != "invalid_thread_ts" or "thread_ts" not in args:
                    raise
                # the thread's first message is gone here (deleted before the reply came):
                # the reply is an orphan now, as if its thread had never been shared
                if self.policy.orphan_replies == "withhold":
                    return False
                args, orphan = self._render(delivery, key, orphan=True), True
                channel, thread = self.channels.landing(env.topic, env.issuer) or channel, None
                response = {"ts": await self._find_posted(channel, key, None, delivery.since)}
                if not response["ts"]:  # not posted so by an earlier attempt either
                    response = await self.caller.api(
                        "chat.postMessage", channel, channel=channel, **args
                    )
            ts = str(response.get("ts", ""))
            crash_point("during_slack_post")
        if not env.files and not (env.kind is EnvelopeKind.CANCEL and target is not None):
            # nothing left that could fail: the mapping goes with the item's settlement
            delivery.posts.append(PostCopy(env.issuer, key, channel, ts))
            if orphan:
                delivery.posts.append(PostCopy(env.issuer, key + _ORPHAN, channel, ts))
            return True
        for attempt in range(3):  # the copy must stay findable for its edits and deletes
            try:
                await self._map(env.issuer, key, channel, ts)
                if orphan:
                    await self._map(env.issuer, key + _ORPHAN, channel, ts)
                break
            except Exception:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
        await self._upload_files(env, channel, thread[1] if thread is not None else ts)
        if env.kind is EnvelopeKind.CANCEL and target is not None and env.target:
            await self._cancel_original(env.issuer, env.target, *target)
        return True

    async def _edit(
        self, env: VerifiedEnvelope, original: str, copy: tuple[str, str], args: dict[str, Any]
    ) -> bool:
        """Update the copy of ``original``; False when it no longer exists in Slack. A
        cancelled BOLO stays marked cancelled (or, cancelled by deletion, stays deleted)."""
        fields = {k: v for k, v in args.items() if k in ("text", "blocks")}
        if await self._lookup(env.issuer, original + _CANCELLED) is not None:
            if self.on_cancel == "delete":
                return True
            fields = {"text": _cancelled(str(args.get("text", ""))), "blocks": []}
        try:
            await self.caller.api("chat.update", copy[0], channel=copy[0], ts=copy[1], **fields)
        except DeliveryError as exc:
            if exc.code != "message_not_found":
                raise
            await self._forget(env.issuer, original)
            return False
        return True

    async def _delete(self, channel: str, ts: str) -> None:
        try:
            await self.caller.api("chat.delete", channel, channel=channel, ts=ts)
        except DeliveryError as exc:
            if exc.code != "message_not_found":  # already gone: what a delete wants
                raise

    async def _forget(self, issuer: str, envelope_id: str) -> None:
        store = self.store
        await self.aio.durable(partial(store.forget_post, issuer=issuer, envelope_id=envelope_id))

    async def _find_posted(
        self, channel: str, envelope_id: str, thread: tuple[str, str] | None, since: float
    ) -> str | None:
        """The ts of this relay's post of ``envelope_id`` (found by its metadata mark) in the
        channel (or the thread) since the envelope was accepted, if an earlier attempt made
        it."""
        extra = {"ts": thread[1]} if thread is not None else {}
        if since > 0:
            extra["oldest"] = f"{max(0.0, since - _LOOK_BACK):.6f}"
        method = "conversations.replies" if thread is not None else "conversations.history"
        try:
            async for page in pages(
                self.caller,
                method,
                channel,
                max_pages=_LOOK_PAGES,
                include_all_metadata=True,
                **extra,
            ):
                for msg in page:
                    meta = msg.get("metadata") or {}
                    payload = meta.get("event_payload") or {} if isinstance(meta, dict) else {}
                    if (
                        isinstance(payload, dict)
                        and meta.get("event_type") == RELAY_MARK
                        and payload.get("envelope_id") == envelope_id
                    ):
                        return str(msg.get("ts"))
        except DeliveryError as exc:
            if exc.code != "thread_not_found" or thread is None:
                raise
            # the thread is gone: an earlier attempt may have posted it as an orphan
            return await self._find_posted(channel, envelope_id, None, since)
        return None

    def _render(self, delivery: Delivery, key: str, *, orphan: bool = False) -> dict[str, Any]:
        """The post's arguments; its metadata mark names ``key``, the message it shows (an
        edit that posts a retracted message again posts that message's copy)."""
        env, decision = delivery.envelope, delivery.decision
        partner = self.policy.partners.get(env.issuer)
        agency = (
            f"{partner.name} ({partner.state})"
            if partner and partner.state
            else (partner.name if partner else env.issuer)
        )
        lines = decision.message.lines if decision.message else ()
        text = decision.message.text if decision.message else ""
        via = f" · via {', '.join(env.path[1:-1])}" if len(env.path) > 2 else ""
        where = (
            f":leftwards_arrow_with_hook: A reply in a {agency} thread that was not shared "
            "with this agency · "
            if orphan
            else ""
        )
        context = {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{where}Shared by {agency} ({env.issuer}) through the relay{via} · "
                    f"envelope `{env.envelope_id}`",
                }
            ],
        }
        args: dict[str, Any] = {  # a partner's text: no invisible characters (as outbound)
            "text": strip_invisible(text) or " ",
            "blocks": [*([rich_text_block(lines)] if lines else []), context],
            "username": strip_invisible(
                agency
                if self.policy.attribution == "agency_only"
                else f"{agency} · {self._names(env.author.name)}"
            )[:80],
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": {
                "event_type": RELAY_MARK,
                "event_payload": {"envelope_id": key, "origin": env.issuer},
            },
        }
        icon = self.icons.get(env.issuer) or self.icon_url
        if icon:
            args["icon_url"] = icon
        return args

    async def _upload_files(self, env: VerifiedEnvelope, channel: str, ts: str) -> None:
        """Upload the envelope's photos; each one uploaded is recorded, so a retry of a post
        that stopped half-way uploads only what is missing."""
        for f in env.files:
            mark = f"{env.envelope_id}#file{f.index}"
            if await self._lookup(env.issuer, mark) is not None:
                continue  # uploaded by an earlier attempt
            blob = await self.aio.run(self.store.get_blob, f.file.sha256)
            if blob is None or f.file.mime not in self.policy.file_types:
                continue  # this agency's own file policy applies to what it receives
            try:
                # the bytes are checked again, not trusted (CPU work: off the event loop)
                data, mime = await asyncio.to_thread(reencode, blob[1])
            except ValueError:
                continue
            now = self.clock()
            await self.fetcher.upload(
                channel=channel,
                thread_ts=ts,
                data=data,
                mime=mime,
                name=f"{env.envelope_id}-{f.index}",
                title=safe_text(f.file.title, self.policy, now),
                alt_txt=safe_text(f.file.alt, self.policy, now),
            )
            await self._map(env.issuer, mark, channel, ts)

    async def _cancel_original(self, issuer: str, original: str, channel: str, ts: str) -> None:
        """Mark the copy of ``original`` cancelled (or delete it), and remember it: edits
        that follow keep it so."""
        if self.on_cancel == "delete":
            await self._delete(channel, ts)
        else:
            history = await self.caller.api(
                "conversations.history",
                channel,
                channel=channel,
                latest=ts,
                inclusive=True,
                limit=1,
            )
            messages = history.get("messages") or []
            text = str(messages[0].get("text", "")) if messages else ""
            await self.caller.api(
                "chat.update", channel, channel=channel, ts=ts, text=_cancelled(text), blocks=[]
            )
        await self._map(issuer, original + _CANCELLED, channel, ts)


def _cancelled(text: str) -> str:
    """A cancelled BOLO's copy: the mark, then its text struck through."""
    struck = "\n".join(f"~{line}~" for line in text.split("\n") if line.strip())
    return f":no_entry: *CANCELLED* (see thread)\n{struck}"
