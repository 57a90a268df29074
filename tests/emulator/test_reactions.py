"""Reactions and user groups: reactions.add/remove/get, usergroups.users.list, reaction events."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from relay.core.model import MessageKind
from relay.core.slack_parse import parse_event
from relay.lab.emulator import Emulator, UserGroupSpec

from .conftest import BOLO, FAST, INTEL, LOBBY, OFFICER, OFFICER_2, TEAM_A, Receiver, agency_a
from .test_socket_mode import CHANNEL, OFFICER_B, Listener

REACTION_KEYS = {"type", "user", "reaction", "item", "item_user", "event_ts"}


async def _error(call: Awaitable[object]) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


async def test_an_officers_reaction_fires_reaction_added_as_slack_shapes_it(
    emu: Emulator, receiver: Receiver
) -> None:
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO: grey sedan (fictional)")
    emu.react_as_user(TEAM_A, BOLO, ts, OFFICER_2, "no_entry")
    emu.unreact_as_user(TEAM_A, BOLO, ts, OFFICER_2, "no_entry")
    _, added, removed = await receiver.wait_for(3)
    assert all(r.signature_valid for r in (added, removed))
    wrapper = added.json
    assert (wrapper["type"], wrapper["team_id"]) == ("event_callback", TEAM_A)
    assert wrapper["event_id"] != removed.json["event_id"]
    event = wrapper["event"]
    assert set(event) == REACTION_KEYS
    assert event["type"] == "reaction_added"
    assert (event["user"], event["reaction"], event["item_user"]) == (
        OFFICER_2,
        "no_entry",
        OFFICER,
    )
    assert event["item"] == {"type": "message", "channel": BOLO, "ts": ts}
    assert float(event["event_ts"]) > float(ts)
    assert removed.json["event"]["type"] == "reaction_removed"
    assert removed.json["event"]["item"] == event["item"]
    # The relay's parser takes them (as events it does not treat as posts).
    assert parse_event(wrapper).kind is MessageKind.IGNORED
    assert emu.reactions(TEAM_A, BOLO, ts) == {}


async def test_history_replies_and_get_carry_reactions(
    emu: Emulator, client: AsyncWebClient
) -> None:
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    reply = emu.post_as_user(TEAM_A, BOLO, OFFICER_2, "seen it", thread_ts=ts)
    emu.react_as_user(TEAM_A, BOLO, ts, OFFICER, "eyes")
    emu.react_as_user(TEAM_A, BOLO, ts, OFFICER_2, "eyes")
    emu.react_as_user(TEAM_A, BOLO, reply, OFFICER, "+1")
    await client.reactions_add(channel=BOLO, timestamp=ts, name="no_entry")
    bot = emu.workspace(TEAM_A).bot_user_id
    expected = [
        {"name": "eyes", "users": [OFFICER, OFFICER_2], "count": 2},
        {"name": "no_entry", "users": [bot], "count": 1},
    ]
    history = await client.conversations_history(channel=BOLO)
    assert history["messages"][0]["reactions"] == expected
    replies = await client.conversations_replies(channel=BOLO, ts=ts)
    assert [m.get("reactions") for m in replies["messages"]] == [
        expected,
        [{"name": "+1", "users": [OFFICER], "count": 1}],
    ]
    got = await client.reactions_get(channel=BOLO, timestamp=ts)
    assert (got["type"], got["channel"]) == ("message", BOLO)
    assert got["message"]["reactions"] == expected
    assert got["message"]["permalink"].endswith(f"/archives/{BOLO}/p{ts.replace('.', '')}")
    await client.reactions_remove(channel=BOLO, timestamp=ts, name="no_entry")
    assert emu.reactions(TEAM_A, BOLO, ts) == {"eyes": [OFFICER, OFFICER_2]}


async def test_the_bots_own_reactions_come_back_as_events(
    emu: Emulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    """Slack sends an app its own reactions; on a customized app post there is no item_user."""
    posted = await client.chat_postMessage(channel=BOLO, text="relayed", username="Agency B")
    await client.reactions_add(channel=BOLO, timestamp=posted["ts"], name="white_check_mark")
    received = await receiver.wait_for(2)
    event = received[1].json["event"]
    assert event["type"] == "reaction_added"
    assert event["user"] == emu.workspace(TEAM_A).bot_user_id
    assert "item_user" not in event


async def test_reaction_errors(emu: Emulator, client: AsyncWebClient) -> None:
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    add = client.reactions_add
    raw = client.api_call
    assert await _error(raw("reactions.add", params={"channel": BOLO, "name": "eyes"})) == (
        "no_item_specified"
    )
    assert await _error(raw("reactions.add", params={"timestamp": ts, "name": "eyes"})) == (
        "no_item_specified"
    )
    assert await _error(add(channel=BOLO, timestamp=ts, name=":eyes:")) == "invalid_name"
    assert await _error(add(channel=BOLO, timestamp=ts, name="")) == "invalid_name"
    assert await _error(add(channel="C0NOPE0001", timestamp=ts, name="eyes")) == (
        "channel_not_found"
    )
    assert await _error(add(channel=BOLO, timestamp="yesterday", name="eyes")) == "bad_timestamp"
    assert await _error(add(channel=BOLO, timestamp="1.000001", name="eyes")) == (
        "message_not_found"
    )
    lobby_ts = emu.post_as_user(TEAM_A, LOBBY, OFFICER, "hello")
    assert await _error(add(channel=LOBBY, timestamp=lobby_ts, name="eyes")) == "not_in_channel"
    await add(channel=BOLO, timestamp=ts, name="eyes")
    assert await _error(add(channel=BOLO, timestamp=ts, name="eyes")) == "already_reacted"
    remove = client.reactions_remove
    assert await _error(remove(channel=BOLO, timestamp=ts, name="tada")) == "no_reaction"
    assert await _error(raw("reactions.get", params={"channel": BOLO})) == "no_item_specified"
    narrow = AsyncWebClient(
        token=emu.issue_bot_token(TEAM_A, {"chat:write"}), base_url=emu.api_url
    )
    assert await _error(narrow.reactions_add(channel=BOLO, timestamp=ts, name="tada")) == (
        "missing_scope"
    )
    assert await _error(narrow.reactions_get(channel=BOLO, timestamp=ts)) == "missing_scope"
    emu.react_as_user(TEAM_A, BOLO, ts, OFFICER, "eyes")
    with pytest.raises(ValueError, match="already_reacted"):
        emu.react_as_user(TEAM_A, BOLO, ts, OFFICER, "eyes")
    with pytest.raises(ValueError, match="invalid_name"):
        emu.react_as_user(TEAM_A, BOLO, ts, OFFICER, ":tada:")
    with pytest.raises(ValueError, match="no_reaction"):
        emu.unreact_as_user(TEAM_A, BOLO, ts, OFFICER_2, "eyes")


async def test_officers_user_token_reacts_as_the_officer(emu: Emulator) -> None:
    ts = emu.post_as_user(TEAM_A, INTEL, OFFICER, "intel (fictional)")
    token = emu.workspace(TEAM_A).user_tokens[OFFICER_2]
    officer = AsyncWebClient(token=token, base_url=emu.api_url)
    await officer.reactions_add(channel=INTEL, timestamp=ts, name="no_entry")
    assert emu.reactions(TEAM_A, INTEL, ts) == {"no_entry": [OFFICER_2]}
    assert await _error(officer.usergroups_users_list(usergroup="S0SUPERVS1")) == "missing_scope"


async def test_no_reaction_events_where_the_bot_is_not_a_member(
    emu: Emulator, receiver: Receiver
) -> None:
    lobby_ts = emu.post_as_user(TEAM_A, LOBBY, OFFICER, "hello")
    emu.react_as_user(TEAM_A, LOBBY, lobby_ts, OFFICER_2, "wave")
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    [received] = await receiver.wait_for(1)
    assert received.json["event"]["ts"] == ts
    assert [r.event.get("type") for r in emu.events(TEAM_A)] == ["message"]


async def test_usergroups_users_list() -> None:
    groups = (UserGroupSpec(id="S0SUPERVS1", handle="supervisors", users=(OFFICER_2,)),)
    with_group = dataclasses.replace(agency_a(), usergroups=groups)
    async with Emulator([with_group], timings=FAST) as emu:
        client = AsyncWebClient(token=emu.workspace(TEAM_A).bot_token, base_url=emu.api_url)
        listed = await client.usergroups_users_list(usergroup="S0SUPERVS1")
        assert listed["users"] == [OFFICER_2]
        emu.set_usergroup(TEAM_A, "S0SUPERVS1", [OFFICER, OFFICER_2])
        listed = await client.usergroups_users_list(usergroup="S0SUPERVS1")
        assert listed["users"] == [OFFICER, OFFICER_2]
        assert await _error(client.usergroups_users_list(usergroup="S0NOPE0001")) == (
            "no_such_subteam"
        )
        with pytest.raises(ValueError, match="U0NOBODY01"):
            emu.set_usergroup(TEAM_A, "S0OTHER001", ["U0NOBODY01"])


@pytest.fixture
async def socket_b(emu: Emulator) -> AsyncIterator[Listener]:
    emu.use_socket_mode("T0AGENCYB1")
    listener = Listener()
    client = SocketModeClient(
        app_token=emu.workspace("T0AGENCYB1").app_token,
        web_client=AsyncWebClient(base_url=emu.api_url),
    )
    client.socket_mode_request_listeners.append(listener.on_request)
    await client.connect()  # type: ignore[no-untyped-call]
    await emu.wait_for_socket_connections("T0AGENCYB1")
    yield listener
    await client.close()  # type: ignore[no-untyped-call]


async def test_reaction_events_over_socket_mode(emu: Emulator, socket_b: Listener) -> None:
    ts = emu.post_as_user("T0AGENCYB1", CHANNEL, OFFICER_B, "BOLO (fictional)")
    emu.react_as_user("T0AGENCYB1", CHANNEL, ts, OFFICER_B, "no_entry")
    await emu.wait_for_event_acks("T0AGENCYB1", 2)
    event = socket_b.requests[1].payload["event"]
    assert set(event) == REACTION_KEYS
    assert (event["reaction"], event["item_user"], event["item"]["ts"]) == (
        "no_entry",
        OFFICER_B,
        ts,
    )
