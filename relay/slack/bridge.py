"""One agency's workspace on the relay: events in, judged messages out, partners' posts in.

Inbound from Slack: every event is stored (keyed by the message it is about, so Slack's
retries and the catch-up after an outage find it taken) before it is acknowledged; a worker
judges it and publishes it to the partners. Own posts (the relay's bot, or the ``relay_post``
metadata mark) and bots the policy does not federate never go back out. Envelope ids are
derived from the agency, channel and Slack ts, so a thread reply, an edit or a delete names
its original without any lookup.

Outbound to Slack: each accepted delivery is posted into the channel mapped to its topic,
attributed to the origin agency and officer, in the right thread; the envelope id -> ts map
lives in the store, so edits, deletes and cancellations find the copy after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import structlog

from relay.core.envelope import EnvelopeKind, VerifiedEnvelope
from relay.core.model import MessageKind, SlackMessage
from relay.core.policy.engine import Decision, judge
from relay.core.policy.model import Policy
from relay.core.policy.outbound import rich_text_block
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError, InputError
from relay.lab.crashpoints import crash_point
from relay.service import Delivery, RelayService
from relay.slack.files import FileFetcher, reencode
from relay.slack.web import SlackCaller
from relay.store.base import ts_order

log = structlog.get_logger("relay.slack")

__all__ = ["SlackBridge", "WorkspaceConfig"]

RELAY_MARK: Final = "relay_post"
MARK_EVERY: Final = 5.0  # seconds between writes of a channel's last-seen mark
_CANCEL: Final = re.compile(
    r"\b(?:cancel+(?:ed|led)? (?:the )?bolo|bolo cancel+ed|subject (?:is )?in custody|"
    r"disregard (?:the )?(?:previous|prior|above) bolo)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceConfig:
    team_id: str
    channels: dict[str, str]  # Slack channel id -> federated topic
    bot_user_id: str
    bot_id: str | None = None
    on_cancel: str = "mark"  # "mark" the original cancelled, or "delete" it
    icon_url: str | None = None


@dataclass
class SlackBridge:
    service: RelayService
    caller: SlackCaller
    config: WorkspaceConfig
    fetcher: FileFetcher
    channels: dict[str, str] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    log: list[tuple[str, dict[str, Decision]]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (id, exception type)
    _names: dict[str, str] = field(default_factory=dict)
    processed: int = 0
    # The last message seen per channel is written at most every MARK_EVERY seconds and when
    # the worker goes idle: one row that every instance writes must not be held by every
    # group commit. A mark that lags is harmless: the catch-up re-offers a margin before it.
    _marks: dict[str, str] = field(default_factory=dict)  # channel -> ts not yet written
    _marked_at: dict[str, float] = field(default_factory=dict)  # channel -> monotonic time

    def __post_init__(self) -> None:
        self.channels = dict(self.config.channels)
        self.service.poster = self.post  # accepted deliveries are posted by the inbound queue

    # -- taking events -------------------------------------------------------------------
    async def take_slack_event(self, *, team: str, event_id: str, body: bytes) -> bool:
        key, order = _event_key(body) or (event_id, "")
        store, at = self.service.store, self.service.clock()
        taken = await self.service.writer.run(
            lambda: store.take_event(event_id=key, team=team, body=body, at=at, order_key=order)
        )
        self._idle.clear()
        self._wake.set()
        return taken

    async def run_worker(self) -> None:
        """Process stored events in order, forever (run it in a TaskGroup). Between batches
        it waits to be woken, or ``poll`` seconds: another instance may have taken events,
        or a dead instance's lease may have expired."""
        poll = self.service.tuning.poll
        while True:
            self._wake.clear()
            try:
                await self.drain_events()
            except Exception as exc:  # noqa: BLE001 - e.g. the store reconnecting: try again
                self.failures.append(("worker", type(exc).__name__))
                log.warning("slack_worker_failed", exc_type=type(exc).__name__)
                await asyncio.sleep(poll)
                self._wake.set()
                continue
            await self._write_marks()
            if not self._wake.is_set():
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    async def run_catch_up(self, every: float) -> None:
        """Catch up every ``every`` seconds, forever: an event Slack gave up delivering (the
        relay was slow or unreachable for longer than Slack retries) is still taken."""
        while True:
            await asyncio.sleep(every)
            try:  # a backstop for live events: an hour of thread parents, not the week
                await self.catch_up(lookback=3600.0)
            except Exception as exc:  # noqa: BLE001 - Slack or the store away: next round
                self.failures.append(("catch_up", type(exc).__name__))
                log.warning("slack_catch_up_failed", exc_type=type(exc).__name__)

    def _mark(self, channel: str, ts: str) -> bool:
        """Note the newest ts seen in ``channel``; True when it is time to write it."""
        held = self._marks.get(channel)
        if held is None or ts_order(ts) > ts_order(held):
            self._marks[channel] = ts
        return time.monotonic() - self._marked_at.get(channel, 0.0) >= MARK_EVERY

    async def _write_marks(self, channel: str | None = None) -> None:
        store = self.service.store
        for ch in [channel] if channel else list(self._marks):
            ts = self._marks.pop(ch, None)
            if ts is None:
                continue
            self._marked_at[ch] = time.monotonic()
            try:
                await asyncio.to_thread(store.set_last_seen, ch, ts)
            except Exception as exc:  # noqa: BLE001 - kept for the next write
                self._mark(ch, ts)
                self.failures.append(("mark", type(exc).__name__))
                log.warning("slack_mark_failed", exc_type=type(exc).__name__)

    async def wait_idle(self) -> None:
        """Until every stored event has been processed."""
        await self._idle.wait()

    async def drain_events(self) -> None:
        """Process every event this instance can lease now (others may hold some)."""
        service = self.service
        while batch := service.store.claim_events(
            owner=service.instance,
            now=service.clock().timestamp(),
            lease=service.tuning.lease,
            limit=service.tuning.batch,
        ):
            # One event per thread in a batch: threads are judged in parallel.
            await asyncio.gather(*(self._one_event(key, body) for key, body in batch))

    async def _one_event(self, key: str, body: bytes) -> None:
        crash_point("after_slack_ack")
        try:
            published = await self._process_event(body, key)
        except Exception as exc:  # noqa: BLE001 - a poison event must not stop sharing
            self.failures.append((key, type(exc).__name__))
            log.warning("slack_event_failed", exc_type=type(exc).__name__, retried=_transient(exc))
            if _transient(exc):
                return  # left leased: taken again when the lease runs out
            published = False
        if not published:  # else marked done with its envelopes, in one transaction
            store = self.service.store
            await self.service.writer.run(lambda: store.finish_event(key))
        self.processed += 1

    async def _process_event(self, body: bytes, key: str) -> bool:
        """True when the event was published (its envelopes queued and it marked done)."""
        doc = json.loads(body)
        event = doc.get("event") or {}
        if event.get("type") == "channel_id_changed":
            old, new = event.get("old_channel_id"), event.get("new_channel_id")
            if old in self.channels and isinstance(new, str):
                self.channels[new] = self.channels.pop(old)
            return False
        channel = event.get("channel")
        topic = self.channels.get(channel) if isinstance(channel, str) else None
        if topic is None or event.get("type") != "message" or self._is_own(event):
            return False
        try:
            message = parse_event(doc)
        except InputError:
            return False
        if message.kind is MessageKind.IGNORED:
            return False  # joins, topic changes, ...: nothing to share, nobody to tell
        await self.publish(message, topic, event, event_key=key)
        return True

    def _is_own(self, event: dict[str, Any]) -> bool:
        for m in (event, event.get("message") or {}, event.get("previous_message") or {}):
            if not isinstance(m, dict):
                continue
            meta = m.get("metadata")
            if isinstance(meta, dict) and meta.get("event_type") == RELAY_MARK:
                return True
            if m.get("user") == self.config.bot_user_id:
                return True
            if self.config.bot_id and m.get("bot_id") == self.config.bot_id:
                return True
        return False

    async def publish(
        self,
        message: SlackMessage,
        topic: str,
        event: dict[str, Any],
        *,
        event_key: str | None = None,
    ) -> None:
        channel = str(message.channel)
        base = f"{self.service.agency}.{channel}."
        if message.kind is MessageKind.POST:
            jti, kind, target = base + str(message.ts), None, None
        elif message.kind is MessageKind.EDIT:
            jti = f"{base}{message.target_ts}.e{message.ts}"
            kind, target = EnvelopeKind.EDIT, base + str(message.target_ts)
        else:
            jti = f"{base}{message.target_ts}.d{message.ts}"
            kind, target = EnvelopeKind.DELETE, base + str(message.target_ts)
        thread = None
        thread_ts: str | None = message.thread_ts
        if thread_ts is None and message.kind is MessageKind.DELETE:
            # Slack names a deleted reply's thread only in previous_message: without it the
            # delete would queue apart from the reply and could overtake it.
            previous = event.get("previous_message")
            found = previous.get("thread_ts") if isinstance(previous, dict) else None
            thread_ts = found if isinstance(found, str) else None
        if thread_ts and thread_ts != (message.target_ts or message.ts):
            thread = base + str(thread_ts)
            if message.kind is MessageKind.POST and _CANCEL.search(event.get("text") or ""):
                kind, target = EnvelopeKind.CANCEL, thread
        self.service.metrics.slack_message(topic, message.kind.value)
        files = await self.fetcher.prepare(message.files) if message.files else {}
        author = await self._author(message.user) if message.user else "relay"
        decisions = await self.service.publish(
            message,
            topic=topic,
            author=author,
            envelope_id=jti,
            kind=kind,
            thread=thread,
            target=target,
            files=files,
            event_key=event_key,
        )
        self.log.append((jti, decisions))
        if message.user and message.kind is not MessageKind.DELETE:
            await self._tell_author(channel, message.user, decisions)
        if message.ts and self._mark(channel, message.ts):
            await self._write_marks(channel)

    async def _author(self, user: str) -> str:
        if user not in self._names:
            name = user
            try:
                info = await self.caller.api("users.info", user=user)
                profile = (info.get("user") or {}).get("profile") or {}
                name = profile.get("display_name") or profile.get("real_name") or user
            except DeliveryError:
                pass
            self._names[user] = safe_name(str(name), self.service.policy, self.service.clock())
        return self._names[user]

    async def _tell_author(self, channel: str, user: str, decisions: dict[str, Decision]) -> None:
        """An ephemeral note when something was held back: rule ids, never text."""
        notes = []
        for ori, decision in decisions.items():
            rules = ", ".join(f"{r.rule} ({r.count})" for r in decision.reasons)
            partner = self.service.policy.partners.get(ori)
            who = partner.name if partner else ori
            if decision.action.value == "block" and rules and not rules.startswith("topic_"):
                notes.append(f"not shared with {who}: {rules}")
            elif decision.action.value == "redact":
                notes.append(f"shared with {who} after removing: {rules}")
        if notes:
            text = "Relay: your post was " + "; ".join(notes) + "."
            with contextlib.suppress(DeliveryError):
                await self.caller.api(
                    "chat.postEphemeral", channel, channel=channel, user=user, text=text
                )

    # -- posting deliveries --------------------------------------------------------------
    async def post(self, delivery: Delivery) -> None:
        env = delivery.envelope
        channel = next((c for c, t in self.channels.items() if t == env.topic), None)
        if channel is None:
            return
        store = self.service.store
        target = (
            store.lookup_post(issuer=env.issuer, envelope_id=env.target) if env.target else None
        )
        if env.kind is EnvelopeKind.DELETE:
            if target is not None:
                await self.caller.api("chat.delete", target[0], channel=target[0], ts=target[1])
            return
        args = self._render(delivery)
        if env.kind is EnvelopeKind.EDIT and target is not None:
            await self.caller.api(
                "chat.update",
                target[0],
                channel=target[0],
                ts=target[1],
                **{k: v for k, v in args.items() if k in ("text", "blocks")},
            )
            return
        thread = (
            store.lookup_post(issuer=env.issuer, envelope_id=env.thread) if env.thread else None
        )
        if env.kind is EnvelopeKind.CANCEL and target is not None:
            thread = target
        if thread is not None:
            args["thread_ts"] = thread[1]
            if env.broadcast:
                args["reply_broadcast"] = True
        key = env.target if env.kind is EnvelopeKind.EDIT and env.target else env.envelope_id
        earlier = store.lookup_post(issuer=env.issuer, envelope_id=key)
        if earlier is not None:
            # Posted and recorded by an earlier attempt, which may have stopped before its
            # photos or the cancellation mark: those are done now (each only once).
            await self._upload_files(env, channel, thread[1] if thread is not None else earlier[1])
            if env.kind is EnvelopeKind.CANCEL and target is not None:
                await self._cancel_original(*target)
            return
        ts = None
        if delivery.attempt > 1:  # an earlier attempt's outcome is unknown: look, not repeat
            ts = await self._find_posted(channel, env.envelope_id, thread)
        if ts is None:
            response = await self.caller.api("chat.postMessage", channel, channel=channel, **args)
            ts = str(response.get("ts", ""))
            crash_point("during_slack_post")
        for attempt in range(3):  # the copy must stay findable for its edits and deletes
            try:
                await self.service.writer.run(
                    lambda: store.map_post(
                        issuer=env.issuer, envelope_id=key, channel=channel, ts=ts
                    )
                )
                break
            except Exception:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
        await self._upload_files(env, channel, thread[1] if thread is not None else ts)
        if env.kind is EnvelopeKind.CANCEL and target is not None:
            await self._cancel_original(*target)

    async def _find_posted(
        self, channel: str, envelope_id: str, thread: tuple[str, str] | None
    ) -> str | None:
        """The ts of this relay's post of ``envelope_id`` (found by its metadata mark) among
        the channel's (or the thread's) recent messages, if an earlier attempt made it."""
        if thread is not None:
            method, extra = "conversations.replies", {"ts": thread[1]}
        else:
            method, extra = "conversations.history", {}
        page = await self.caller.api(
            method, channel, channel=channel, limit=200, include_all_metadata=True, **extra
        )
        for msg in page.get("messages") or []:
            meta = msg.get("metadata") or {}
            payload = meta.get("event_payload") or {} if isinstance(meta, dict) else {}
            if (
                isinstance(payload, dict)
                and meta.get("event_type") == RELAY_MARK
                and payload.get("envelope_id") == envelope_id
            ):
                return str(msg.get("ts"))
        return None

    def _render(self, delivery: Delivery) -> dict[str, Any]:
        env, decision = delivery.envelope, delivery.decision
        partner = self.service.policy.partners.get(env.issuer)
        agency = (
            f"{partner.name} ({partner.state})"
            if partner and partner.state
            else (partner.name if partner else env.issuer)
        )
        lines = decision.message.lines if decision.message else ()
        text = decision.message.text if decision.message else ""
        via = f" · via {', '.join(env.path[1:-1])}" if len(env.path) > 2 else ""
        context = {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Shared by {agency} ({env.issuer}) through the relay{via} · "
                    f"envelope `{env.envelope_id}`",
                }
            ],
        }
        args: dict[str, Any] = {
            "text": text or " ",
            "blocks": [*([rich_text_block(lines)] if lines else []), context],
            "username": f"{agency} · "
            f"{safe_name(env.author.name, self.service.policy, self.service.clock())}"[:80],
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": {
                "event_type": RELAY_MARK,
                "event_payload": {"envelope_id": env.envelope_id, "origin": env.issuer},
            },
        }
        if self.config.icon_url:
            args["icon_url"] = self.config.icon_url
        return args

    async def _upload_files(self, env: VerifiedEnvelope, channel: str, ts: str) -> None:
        """Upload the envelope's photos; each one uploaded is recorded, so a retry of a post
        that stopped half-way uploads only what is missing."""
        store = self.service.store
        for f in env.files:
            mark = f"{env.envelope_id}#file{f.index}"
            if store.lookup_post(issuer=env.issuer, envelope_id=mark) is not None:
                continue  # uploaded by an earlier attempt
            blob = store.get_blob(f.file.sha256)
            if blob is None or f.file.mime not in self.service.policy.file_types:
                continue  # this agency's own file policy applies to what it receives
            try:
                data, mime = reencode(blob[1])  # the bytes are checked again, not trusted
            except ValueError:
                continue
            policy, now = self.service.policy, self.service.clock()
            await self.fetcher.upload(
                channel=channel,
                thread_ts=ts,
                data=data,
                mime=mime,
                name=f"{env.envelope_id}-{f.index}",
                title=safe_text(f.file.title, policy, now),
                alt_txt=safe_text(f.file.alt, policy, now),
            )
            await self.service.writer.run(
                partial(
                    store.map_post, issuer=env.issuer, envelope_id=mark, channel=channel, ts=ts
                )
            )

    async def _cancel_original(self, channel: str, ts: str) -> None:
        if self.config.on_cancel == "delete":
            await self.caller.api("chat.delete", channel, channel=channel, ts=ts)
            return
        history = await self.caller.api(
            "conversations.history", channel, channel=channel, latest=ts, inclusive=True, limit=1
        )
        messages = history.get("messages") or []
        original = str(messages[0].get("text", "")) if messages else ""
        struck = "\n".join(f"~{line}~" for line in original.split("\n") if line.strip())
        await self.caller.api(
            "chat.update",
            channel,
            channel=channel,
            ts=ts,
            text=f":no_entry: *CANCELLED* (see thread)\n{struck}",
            blocks=[],
        )

    # -- after an outage -----------------------------------------------------------------
    async def catch_up(self, *, lookback: float = 7 * 86400.0, replay: float = 600.0) -> int:
        """Take what was posted in federated channels since the last message seen there:
        new messages, replies (also in threads whose parent is older, found among the
        parents of the last ``lookback`` seconds), and edits made meanwhile. Messages up to
        ``replay`` seconds older than the mark are offered again too: with several instances,
        one may have moved the mark past an event that reached an instance as it died. A
        message taken before is not taken again (events are keyed by the message they are
        about, and the inbox keeps their keys)."""
        taken = 0
        # Every channel's mark is read before anything is awaited: events taken meanwhile
        # move the marks forward and must not hide what was posted during the outage.
        marks = {c: float(self.service.store.last_seen(c) or "0") for c in self.channels}
        for channel, since in marks.items():
            window = f"{max(0.0, since - lookback):.6f}"
            async for msg in self._pages("conversations.history", channel, oldest=window):
                ts = float(msg.get("ts") or 0)
                if ts > since - replay:  # new, or recent enough to re-offer (deduplicated)
                    taken += await self._take_history(channel, msg)
                if ts <= since:  # seen before: edited meanwhile?
                    taken += await self._take_edit(channel, msg, since)
                if msg.get("reply_count") and float(msg.get("latest_reply") or 0) > since:
                    async for reply in self._pages(
                        "conversations.replies", channel, ts=msg.get("ts"), oldest=f"{since:.6f}"
                    ):
                        if reply.get("ts") == msg.get("ts"):
                            continue
                        reply_ts = float(reply.get("ts") or 0)
                        if reply_ts > since - replay:
                            taken += await self._take_history(channel, reply)
                        if reply_ts <= since:
                            taken += await self._take_edit(channel, reply, since)
        return taken

    async def _take_edit(self, channel: str, msg: dict[str, Any], since: float) -> int:
        """An older message edited during the outage, as the edit event Slack would send."""
        edited = msg.get("edited") or {}
        edited_ts = str(edited.get("ts") or "") if isinstance(edited, dict) else ""
        # Slack gives edits whole-second times: an edit in the same second as the last message
        # seen may be newer. Taking one twice is harmless (the event key is the edit's time).
        if not edited_ts or float(edited_ts) + 1.0 <= since:
            return 0
        event = {
            "type": "message",
            "subtype": "message_changed",
            "channel": channel,
            "ts": edited_ts,
            "event_ts": edited_ts,
            "hidden": True,
            "message": msg,
        }
        return await self._take(event, f"catchup.edit.{channel}.{edited_ts}")

    async def _pages(self, method: str, channel: str, **kwargs: Any) -> AsyncIterator[Any]:
        cursor: str | None = None
        while True:
            extra: dict[str, str] = {"cursor": cursor} if cursor else {}
            page = await self.caller.api(
                method, channel, channel=channel, limit=200, **kwargs, **extra
            )
            messages = page.get("messages") or []
            for msg in reversed(messages) if method == "conversations.history" else messages:
                yield msg
            next_cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not next_cursor:
                return
            cursor = str(next_cursor)

    async def _take_history(self, channel: str, msg: dict[str, Any]) -> int:
        event = dict(msg) | {"channel": channel, "type": "message"}
        return await self._take(event, f"catchup.{channel}.{msg.get('ts')}")

    async def _take(self, event: dict[str, Any], event_id: str) -> int:
        doc = {
            "type": "event_callback",
            "team_id": self.config.team_id,
            "event_id": event_id,
            "event": event,
        }
        taken = await self.take_slack_event(
            team=self.config.team_id, event_id=event_id, body=json.dumps(doc).encode()
        )
        return 1 if taken else 0


def judged(
    text: str,
    policy: Policy,
    now: dt.datetime,
    *,
    frame: str,
    limit: int,
    refuse_control: bool = False,
) -> str:
    """Text shown outside the message body (a display name, a file title or alt text),
    judged by the policy like any line; "" when it trips a rule or holds control
    characters."""
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


def _transient(exc: Exception) -> bool:
    """A failure a later attempt can get past (Slack or the store away), as opposed to an
    event that will never process (it is marked done, and its reason kept)."""
    if isinstance(exc, DeliveryError):
        return exc.retryable
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in (
        "sqlite3",
        "psycopg",
    )


def _event_key(body: bytes) -> tuple[str, str] | None:
    """The message an event is about (Slack's retries and the catch-up share it), and its
    order key, the thread it belongs to: a thread's events (the post, its replies, edits and
    deletes) are judged in the order they were taken; other threads go in parallel."""
    try:
        event = json.loads(body).get("event") or {}
    except (ValueError, AttributeError):
        return None
    channel = event.get("channel")
    if event.get("type") != "message" or not isinstance(channel, str):
        return None
    subtype = event.get("subtype")
    if subtype == "message_changed":
        # the edit's own time, so a live edit event and one rebuilt after an outage agree
        edited = (event.get("message") or {}).get("edited") or {}
        message = event.get("message") or {}
        content = hashlib.sha256(
            json.dumps([message.get("text"), message.get("blocks")], sort_keys=True).encode()
        ).hexdigest()[:12]
        # which message, when (Slack gives edits whole seconds) and to what
        return (
            f"edit.{channel}.{message.get('ts')}.{edited.get('ts') or event.get('ts')}.{content}",
            f"{channel}/{message.get('thread_ts') or message.get('ts')}",
        )
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        thread = previous.get("thread_ts") if isinstance(previous, dict) else None
        return (
            f"delete.{channel}.{event.get('deleted_ts')}",
            f"{channel}/{thread or event.get('deleted_ts')}",
        )
    return (
        f"post.{channel}.{event.get('ts')}",
        f"{channel}/{event.get('thread_ts') or event.get('ts')}",
    )
