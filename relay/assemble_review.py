"""Assembling the supervisor's review queue (issue 16) when ``slack.review`` is configured:
the outbound hook (:class:`relay.flow.review.ReviewQueue`) and the desk in Slack
(:class:`relay.slack.review.ReviewDesk`), wired the way ``relay run`` wires them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from relay.config import RelayConfig
from relay.core.policy.model import Policy
from relay.flow.outbound import Outbound
from relay.flow.records import Recorder
from relay.flow.review import ReviewQueue
from relay.flow.shadow import ShadowSink
from relay.metrics import RelayMetrics
from relay.slack.connect import Connection
from relay.slack.inbox import Inbox
from relay.slack.publisher import Publisher
from relay.slack.review import ReviewDesk
from relay.slack.review_board import ReviewBoard
from relay.slack.review_metrics import ReviewMetrics
from relay.slack.supervisors import Supervision
from relay.store.aio import AsyncStore

__all__ = ["assemble_review"]


def assemble_review(
    *,
    config: RelayConfig,
    policy: Policy,
    outbound: Outbound,
    publisher: Publisher,
    inbox: Inbox,
    conn: Connection,
    supervision: Supervision,
    store: AsyncStore,
    recorder: Recorder,
    metrics: RelayMetrics,
    clock: Callable[[], dt.datetime],
    shadow_sink: ShadowSink | None = None,
) -> ReviewDesk | None:
    slack = config.slack
    if slack is None or slack.review is None:
        return None
    queue = ReviewQueue(config=slack.review, policy=policy, store=store)
    board = ReviewBoard(
        config=slack.review,
        policy=policy,
        caller=conn.caller,
        store=store,
        recorder=recorder,
        metrics=ReviewMetrics(metrics.registry),
        clock=clock,
    )
    desk = ReviewDesk(
        agency=config.agency,
        team=slack.team_id,
        config=slack.review,
        policy=policy,
        publisher=publisher,
        outbound=outbound,
        caller=conn.caller,
        supervision=supervision,
        store=store,
        recorder=recorder,
        sink=inbox,
        board=board,
        clock=clock,
    )
    queue.on_change(board.wake)
    if outbound.shadow is not None and shadow_sink is None:
        outbound.shadow.sink = board  # "the candidate policy would have ..." in the channel
    outbound.review = queue
    publisher.review = desk
    return desk
