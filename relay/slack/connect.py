"""The workspace connection: the bot token read, slack-sdk's client on one HTTP session,
our pacing in front of it, and ``auth.test`` answered (who the bot is)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from relay.config import ConfigLoadError, SlackConfig
from relay.errors import DeliveryError
from relay.metrics import RelayMetrics
from relay.slack.files import FileFetcher
from relay.slack.web import Pacer, SlackCaller

__all__ = ["Connection", "connect"]


@dataclass
class Connection:
    caller: SlackCaller
    web_client: AsyncWebClient
    session: aiohttp.ClientSession
    fetcher: FileFetcher
    bot_user_id: str
    bot_id: str | None

    async def close(self) -> None:
        await self.session.close()


async def connect(slack: SlackConfig, metrics: RelayMetrics, source: str) -> Connection:
    token = slack.bot_token.read()
    if not token:
        raise ConfigLoadError(
            source, [(1, "slack bot token not found (bot_token_env / bot_token_file)")]
        )
    # No slack-sdk retry handlers: a post cut off after Slack took it must be reconciled (the
    # relay looks for its mark), never sent again blindly; the queues do the retrying.
    session = aiohttp.ClientSession()
    web_client = AsyncWebClient(
        token=token, base_url=slack.api_url, retry_handlers=[], session=session
    )
    caller = SlackCaller(
        web_client, pacer=Pacer() if slack.pacing else Pacer(rates=None), metrics=metrics
    )
    try:
        auth = await caller.api("auth.test")
    except DeliveryError as exc:
        metrics.slack_auth.set(0)
        await session.close()
        raise ConfigLoadError(source, [(1, f"slack auth.test failed: {exc.code}")]) from None
    metrics.slack_auth.set(1)
    return Connection(
        caller=caller,
        web_client=web_client,
        session=session,
        fetcher=FileFetcher(caller, session, token, api_url=slack.api_url),
        bot_user_id=str(auth.get("user_id", "")),
        bot_id=str(auth.get("bot_id") or "") or None,
    )
