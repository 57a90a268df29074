"""Officers' user tokens (``xoxp-``) in the Slack emulator: post, edit and delete as the
officer through the Web API, read what the officer may read; Slack's strictness kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec

TEAM = "T0USERTOK1"
OFFICER, OTHER = "U0OFFICER1", "U0OFFICER2"
BOLO, PRIVATE, LOBBY = "C0UBOLO001", "G0UPRIV001", "C0ULOBBY01"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    spec = WorkspaceSpec(
        team_id=TEAM,
        name="User Token PD",
        users=(
            UserSpec(id=OFFICER, name="officer.one", token="xoxp-officer-one"),
            UserSpec(id=OTHER, name="officer.two"),
        ),
        channels=(
            ChannelSpec(id=BOLO, name="bolo"),
            ChannelSpec(id=PRIVATE, name="private", private=True, members=(OTHER,)),
            ChannelSpec(id=LOBBY, name="lobby", members=(OTHER,)),
        ),
    )
    async with Emulator([spec], timings=Timings(retry_delays=(0, 0.05, 0.1))) as emulator:
        yield emulator


def _client(emu: Emulator, token: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=emu.api_url, retry_handlers=[])


async def test_post_as_officer_fires_the_officers_message_event(emu: Emulator) -> None:
    ws = emu.workspace(TEAM)
    assert ws.user_tokens[OFFICER] == "xoxp-officer-one"
    assert ws.user_tokens[OTHER].startswith(f"xoxp-{TEAM}-{OTHER}-")
    slack = _client(emu, "xoxp-officer-one")
    who = await slack.auth_test()
    assert who["user_id"] == OFFICER
    assert "bot_id" not in who.data
    answer = await slack.chat_postMessage(channel=BOLO, text="BOLO: grey sedan, Route 9")
    message = answer["message"]
    assert message["user"] == OFFICER
    assert "bot_id" not in message
    assert "subtype" not in message
    assert message["blocks"][0]["type"] == "rich_text"
    (record,) = emu.events(TEAM)  # undeliverable (no target), but fired to the app
    assert record.event["user"] == OFFICER
    assert record.event["text"] == "BOLO: grey sedan, Route 9"
    reply = await slack.chat_postMessage(
        channel=BOLO, text="update", thread_ts=answer["ts"], reply_broadcast=True
    )
    assert reply["message"]["subtype"] == "thread_broadcast"
    history = await _client(emu, ws.bot_token).conversations_history(channel=BOLO)
    assert [m["text"] for m in history["messages"]] == ["update", "BOLO: grey sedan, Route 9"]


async def test_officer_edits_and_deletes_only_their_own(emu: Emulator) -> None:
    ws = emu.workspace(TEAM)
    officer, other = _client(emu, ws.user_tokens[OFFICER]), _client(emu, ws.user_tokens[OTHER])
    bot = _client(emu, ws.bot_token)
    ts = (await officer.chat_postMessage(channel=BOLO, text="BOLO: red van"))["ts"]
    with pytest.raises(SlackApiError) as err:
        await other.chat_update(channel=BOLO, ts=ts, text="not mine")
    assert err.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError) as err:
        await bot.chat_delete(channel=BOLO, ts=ts)
    assert err.value.response["error"] == "cant_delete_message"
    bot_ts = (await bot.chat_postMessage(channel=BOLO, text="relay post"))["ts"]
    with pytest.raises(SlackApiError) as err:
        await officer.chat_delete(channel=BOLO, ts=bot_ts)
    assert err.value.response["error"] == "cant_delete_message"
    await officer.chat_update(channel=BOLO, ts=ts, text="BOLO: red van (cancelled)")
    await officer.chat_delete(channel=BOLO, ts=ts)
    kinds = [r.event.get("subtype") for r in emu.events(TEAM)]
    assert kinds == [None, None, "message_changed", "message_deleted"]
    changed = emu.events(TEAM)[2].event
    assert changed["message"]["edited"]["user"] == OFFICER


async def test_user_tokens_keep_slacks_strictness(emu: Emulator) -> None:
    ws = emu.workspace(TEAM)
    officer = _client(emu, ws.user_tokens[OFFICER])
    for channel, error in ((PRIVATE, "channel_not_found"), (LOBBY, "not_in_channel")):
        with pytest.raises(SlackApiError) as err:
            await officer.chat_postMessage(channel=channel, text="hello")
        assert err.value.response["error"] == error
    with pytest.raises(SlackApiError) as err:
        await officer.conversations_history(channel=PRIVATE)
    assert err.value.response["error"] == "channel_not_found"
    member = await _client(emu, ws.user_tokens[OTHER]).conversations_history(channel=PRIVATE)
    assert member["messages"] == []
    for method in ("files.getUploadURLExternal", "chat.postEphemeral", "apps.connections.open"):
        with pytest.raises(SlackApiError) as err:
            await officer.api_call(method, params={"channel": BOLO, "filename": "a", "length": 1})
        assert err.value.response["error"] == "not_allowed_token_type", method
    with pytest.raises(SlackApiError) as err:
        await _client(emu, "xoxp-not-a-token").chat_postMessage(channel=BOLO, text="x")
    assert err.value.response["error"] == "invalid_auth"
