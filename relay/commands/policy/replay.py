"""``relay policy diff OLD NEW --config relay.yaml --since DATE``: the agency's own recent
messages, read from its workspace, judged by both policies.

Read only: the bot token of ``relay.yaml`` and the relay's own paced Slack client
(:func:`relay.slack.connect.connect`, ``auth.test`` first); ``conversations.history`` of every
federated channel (``slack.channels``) since DATE and ``conversations.replies`` of every
thread started there, page by page with cursors (429s waited out); the relay's own posts
(partners' copies) left out; ``chat.getPermalink`` for each message whose decision changed.
No store is opened and nothing is posted, edited or recorded anywhere.

Not read: replies posted since DATE in threads started before it, and the channels partners'
posts land in (``slack.partner_channels``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator
from typing import Any

from relay.commands.policy.diff import diff_message
from relay.commands.policy.diff_report import DiffReport
from relay.config import ConfigLoadError, SlackConfig, read_config
from relay.core.model import MessageKind
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event
from relay.errors import DeliveryError, InputError
from relay.metrics import RelayMetrics
from relay.slack.keys import is_own
from relay.slack.web import SlackCaller

__all__ = ["diff_workspace", "parse_since"]

_PAGE = 200


def parse_since(text: str) -> dt.datetime | None:
    """``2026-11-20`` (midnight UTC) or an ISO 8601 time (UTC when no offset); None if bad."""
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def diff_workspace(
    args: argparse.Namespace, old: Policy, new: Policy, now: dt.datetime
) -> DiffReport | None:
    """The report, or None after one stderr line per problem (bad input: exit 2). Slack's
    errors pass as :class:`DeliveryError` (exit 1)."""
    since = parse_since(args.since)
    if since is None:
        print(f"relay policy diff: bad --since {args.since[:40]!r}", file=sys.stderr)
        return None
    try:
        config = read_config(args.config)
    except ConfigLoadError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return None
    if config.slack is None:
        print(f"{config.source}:1: no slack section: no workspace to read", file=sys.stderr)
        return None
    for name, policy in ((args.old, old), (args.new, new)):
        if policy.ori != config.agency:
            print(
                f"relay policy diff: {name} is a policy of {policy.ori}, not {config.agency}",
                file=sys.stderr,
            )
            return None
    try:
        return asyncio.run(_replay(args, config.slack, config.source, old, new, since, now))
    except ConfigLoadError as exc:  # the token missing, or auth.test refused
        for line in exc.lines():
            print(line, file=sys.stderr)
        return None


async def _replay(
    args: argparse.Namespace,
    slack: SlackConfig,
    source: str,
    old: Policy,
    new: Policy,
    since: dt.datetime,
    now: dt.datetime,
) -> DiffReport:
    from relay.slack.connect import connect

    conn = await connect(slack, RelayMetrics(), source)
    try:
        report = DiffReport("workspace", (args.old, old.digest), (args.new, new.digest))
        oldest = f"{since.timestamp():.6f}"
        for channel, topic in sorted(slack.channels.items()):
            async for msg in _messages(conn.caller, channel, oldest):
                if is_own(msg, bot_user_id=conn.bot_user_id, bot_id=conn.bot_id):
                    continue
                try:
                    message = parse_event({"type": "event_callback", "event": msg})
                except InputError:
                    continue
                if message.kind is MessageKind.IGNORED:
                    continue
                differences = diff_message(message, old, new, topic, now, args.peer)
                ts = str(msg.get("ts") or "")
                changed = any(d.changed for d in differences.values())
                link = await _permalink(conn.caller, channel, ts) if changed else None
                report.add(link, topic, differences, channel=channel, ts=ts)
        return report
    finally:
        await conn.close()


async def _messages(caller: SlackCaller, channel: str, oldest: str) -> AsyncIterator[Any]:
    """Every message of ``channel`` since ``oldest``, oldest first, each thread's replies
    after its first message; as message events (``channel`` and ``type`` set)."""
    history = [m async for m in _pages(caller, "conversations.history", channel, oldest=oldest)]
    for msg in reversed(history):  # Slack answers newest first
        if not isinstance(msg, dict) or msg.get("subtype") == "tombstone":
            continue
        yield msg | {"channel": channel, "type": "message"}
        if msg.get("reply_count") and msg.get("thread_ts") == msg.get("ts"):
            async for reply in _pages(
                caller, "conversations.replies", channel, ts=msg["ts"], oldest=oldest
            ):
                if not isinstance(reply, dict) or reply.get("ts") == msg.get("ts"):
                    continue
                if reply.get("subtype") != "thread_broadcast":  # those are in the history
                    yield reply | {"channel": channel, "type": "message"}


async def _pages(
    caller: SlackCaller, method: str, channel: str, **kwargs: Any
) -> AsyncIterator[Any]:
    cursor: str | None = None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        page = await caller.api(method, channel, channel=channel, limit=_PAGE, **kwargs, **extra)
        for msg in page.get("messages") or []:
            yield msg
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
        if not page.get("has_more") or not cursor:
            return


async def _permalink(caller: SlackCaller, channel: str, ts: str) -> str | None:
    """The message's permalink; None when Slack gives none (deleted meanwhile, ...)."""
    try:
        found = await caller.api("chat.getPermalink", channel, channel=channel, message_ts=ts)
    except DeliveryError as exc:
        if exc.code in ("message_not_found", "channel_not_found"):
            return None
        raise
    link = found.get("permalink")
    return link if isinstance(link, str) and link.startswith("https://") else None
