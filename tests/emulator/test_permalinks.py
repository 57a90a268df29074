"""chat.getPermalink in the emulator, as Slack's reference shows it: a message's link, a
thread reply's with ``thread_ts`` and ``cid``, and Slack's errors."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import Emulator
from tests.emulator.conftest import BOLO, OFFICER, TEAM_A


async def test_a_message_and_a_reply_have_slacks_permalinks(
    emu: Emulator, client: AsyncWebClient
) -> None:
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO: vehicle on Route 9 (fictional)")
    reply = emu.post_as_user(TEAM_A, BOLO, OFFICER, "seen again", thread_ts=ts)
    found = await client.chat_getPermalink(channel=BOLO, message_ts=ts)
    assert found["channel"] == BOLO
    link = found["permalink"]
    assert link.startswith("https://")
    assert link.endswith(f"/archives/{BOLO}/p{ts.replace('.', '')}")
    threaded = (await client.chat_getPermalink(channel=BOLO, message_ts=reply))["permalink"]
    assert threaded.endswith(f"/p{reply.replace('.', '')}?thread_ts={ts}&cid={BOLO}")


@pytest.mark.parametrize(
    ("channel", "ts", "error"),
    [("C0NOSUCH01", "1.000001", "channel_not_found"), (BOLO, "1.000001", "message_not_found")],
)
async def test_unknown_channels_and_messages_are_slacks_errors(
    client: AsyncWebClient, channel: str, ts: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_getPermalink(channel=channel, message_ts=ts)
    assert caught.value.response["error"] == error
