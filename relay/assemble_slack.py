"""The workspace side of a relay (for :func:`relay.assemble.assemble`): channel moves, the
officers' names, cancel reactions, the publisher, the inbox, the catch-up and the
supervisor's review desk, wired the way ``relay run`` wires them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from relay.assemble_review import assemble_review
from relay.config import RelayConfig
from relay.config_schema import SlackConfig
from relay.core.policy.model import Policy
from relay.flow.outbound import Outbound
from relay.flow.queues import QueueTuning
from relay.flow.records import Recorder
from relay.flow.shadow import ShadowSink
from relay.metrics import RelayMetrics
from relay.slack.catchup import CatchUp
from relay.slack.channels import ChannelMap, ChannelMoves
from relay.slack.connect import Connection
from relay.slack.feedback import Feedback
from relay.slack.inbox import Inbox
from relay.slack.names import Directory
from relay.slack.poster import Poster
from relay.slack.publisher import Observer, Publisher
from relay.slack.reactions import ReactionCancels
from relay.slack.review import ReviewDesk
from relay.slack.roots import ThreadRoots
from relay.slack.supervisors import Supervision
from relay.store.aio import AsyncStore

__all__ = ["SlackParts", "workspace_side"]


@dataclass
class SlackParts:
    """The workspace side: events in (inbox -> publisher), posts out (poster)."""

    connection: Connection
    channels: ChannelMap
    inbox: Inbox
    publisher: Publisher
    poster: Poster
    catch_up: CatchUp
    review: ReviewDesk | None = None  # slack.review configured: the supervisor's desk


async def workspace_side(
    *,
    config: RelayConfig,
    slack: SlackConfig,
    policy: Policy,
    conn: Connection,
    channels: ChannelMap,
    poster: Poster,
    feedback: Feedback | None,
    outbound: Outbound,
    aio: AsyncStore,
    recorder: Recorder,
    metrics: RelayMetrics,
    clock: Callable[[], dt.datetime],
    observe: Observer | None,
    instance: str,
    tuning: QueueTuning,
    shadow_sink: ShadowSink | None,
) -> SlackParts:
    moves = ChannelMoves(
        team_id=slack.team_id,
        channels=channels,
        store=aio,
        recorder=recorder,
        clock=clock,
    )
    await moves.restore()
    directory = Directory(conn.caller, policy, clock)
    supervision = Supervision(slack.supervisors, conn.caller, recorder)
    reactions = ReactionCancels(
        agency=config.agency,
        team_id=slack.team_id,
        reaction=slack.cancel_reaction,
        channels=channels,
        outbound=outbound,
        caller=conn.caller,
        directory=directory,
        supervision=supervision,
        recorder=recorder,
        bot_user_id=conn.bot_user_id,
        bot_id=conn.bot_id,
        observe=observe,
        status=slack.status_reaction,
        shared=lambda envelope_id: _shared(aio, envelope_id),
        explain=feedback.explain if feedback is not None else None,
    )
    publisher = Publisher(
        agency=config.agency,
        policy=policy,
        outbound=outbound,
        channels=channels,
        moves=moves,
        caller=conn.caller,
        fetcher=conn.fetcher,
        directory=directory,
        recorder=recorder,
        bot_user_id=conn.bot_user_id,
        bot_id=conn.bot_id,
        observe=observe,
        reactions=reactions,
        thread_root=aio.post_at,
        roots=ThreadRoots(
            team_id=slack.team_id,
            store=aio,
            caller=conn.caller,
            bot_user_id=conn.bot_user_id,
            bot_id=conn.bot_id,
            clock=clock,
        ),
    )
    inbox = Inbox(
        store=aio,
        recorder=recorder,
        handler=publisher.handle,
        ignore=publisher.echo,
        owner=instance,
        tuning=tuning,
        clock=clock,
    )
    review = assemble_review(
        config=config,
        policy=policy,
        outbound=outbound,
        publisher=publisher,
        inbox=inbox,
        conn=conn,
        supervision=supervision,
        store=aio,
        recorder=recorder,
        metrics=metrics,
        clock=clock,
        shadow_sink=shadow_sink,
    )
    return SlackParts(
        connection=conn,
        channels=channels,
        inbox=inbox,
        publisher=publisher,
        poster=poster,
        catch_up=CatchUp(
            team_id=slack.team_id,
            store=aio,
            caller=conn.caller,
            channels=channels,
            take=inbox.take_slack_event,
            ignore=publisher.echo,
            recorder=recorder,
        ),
        review=review,
    )


async def _shared(aio: AsyncStore, envelope_id: str) -> bool:
    """Did the message with this envelope id go to any partner (an outbox row of its own)?"""
    return any(row[1] == envelope_id for row in await aio.message_shared(envelope_id))
