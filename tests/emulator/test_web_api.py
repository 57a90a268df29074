"""The Web API through slack-sdk's AsyncWebClient: shapes, round trips, threads, history."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from relay.core.slack_parse import parse_event
from relay.lab.emulator import Emulator

from .conftest import BOLO, OFFICER, OFFICER_2, TEAM_A, Receiver

# Keys of web/auth.test.bot_token.json and web/chat.postMessage.ok_relay.json (slack-reference).
AUTH_TEST_KEYS = {"ok", "url", "team", "user", "team_id", "user_id", "bot_id"}
RELAY_POST_KEYS = {"type", "subtype", "text", "ts", "username", "icons", "bot_id", "app_id"}


async def test_auth_test_answers_like_a_bot_token(emu: Emulator, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    ws = emu.workspace(TEAM_A)
    assert set(resp.data) >= AUTH_TEST_KEYS
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == (
        TEAM_A,
        ws.bot_user_id,
        ws.bot_id,
    )
    assert resp["url"] == "https://agency-a-example.slack.com/"


async def test_relay_post_returns_reference_shape(client: AsyncWebClient) -> None:
    """chat.postMessage with the relay's arguments (username, icon, metadata, thread)."""
    parent = await client.chat_postMessage(channel=BOLO, text="BOLO: grey sedan (fictional)")
    resp = await client.chat_postMessage(
        channel=BOLO,
        thread_ts=parent["ts"],
        text="[Agency A] BOLO update (fictional)",
        blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": "Relayed"}]}],
        username="Agency A via relay",
        icon_url="https://relay.example.invalid/agency-a.png",
        unfurl_links=False,
        unfurl_media=False,
        metadata={"event_type": "relay_message", "event_payload": {"envelope_id": "env-1"}},
    )
    message = resp["message"]
    assert resp["channel"] == BOLO
    assert message["ts"] == resp["ts"]
    assert set(message) >= RELAY_POST_KEYS
    assert message["subtype"] == "bot_message"
    assert message["icons"] == {"image_48": "https://relay.example.invalid/agency-a.png"}
    assert message["thread_ts"] == parent["ts"]
    assert message["metadata"]["event_payload"] == {"envelope_id": "env-1"}


async def test_post_update_delete_fire_signed_events(
    emu: Emulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    """The app's own posts come back as events (with bot_id), as on Slack."""
    posted = await client.chat_postMessage(channel=BOLO, text="first")
    updated = await client.chat_update(channel=BOLO, ts=posted["ts"], text="second")
    assert updated["text"] == "second"
    assert updated["message"]["edited"]["user"] == emu.workspace(TEAM_A).bot_id
    deleted = await client.chat_delete(channel=BOLO, ts=posted["ts"])
    assert deleted["ts"] == posted["ts"]

    received = await receiver.wait_for(3)
    assert all(r.signature_valid for r in received)
    kinds = [r.json["event"].get("subtype") for r in received]
    assert sorted(map(str, kinds)) == ["None", "message_changed", "message_deleted"]
    by_kind = {e.get("subtype"): e for e in receiver.events()}
    assert by_kind[None]["bot_id"] == emu.workspace(TEAM_A).bot_id
    assert by_kind["message_changed"]["previous_message"]["text"] == "first"
    assert by_kind["message_changed"]["message"]["text"] == "second"
    assert by_kind["message_deleted"]["deleted_ts"] == posted["ts"]
    assert len({r.json["event_id"] for r in received}) == 3
    assert emu.messages(TEAM_A, BOLO) == []


async def test_user_posts_parse_with_the_relays_own_parser(emu: Emulator) -> None:
    """Events the emulator fires hold only fields the relay's allowlist knows."""
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO: vehicle on Route 9 (fictional)")
    emu.post_as_user(TEAM_A, BOLO, OFFICER_2, "checked the lot", thread_ts=ts)
    emu.post_as_user(TEAM_A, BOLO, OFFICER_2, "seen again", thread_ts=ts, broadcast=True)
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "photo", files=[("a.jpg", b"\xff", "Cam 3", "hoodie")])
    emu.edit_as_user(TEAM_A, BOLO, OFFICER, ts, "BOLO: vehicle northbound (fictional)")
    records = emu.events(TEAM_A)
    assert len(records) == 5
    for record in records:
        assert parse_event(record.payload).unknown == ()


async def test_threads_and_broadcasts(emu: Emulator, client: AsyncWebClient) -> None:
    parent = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO: blue van (fictional)")
    emu.post_as_user(TEAM_A, BOLO, OFFICER_2, "no match on 5th St", thread_ts=parent)
    reply = await client.chat_postMessage(
        channel=BOLO, text="[Agency B] seen on I-84", thread_ts=parent, reply_broadcast=True
    )
    assert reply["message"]["subtype"] == "thread_broadcast"

    thread = await client.conversations_replies(channel=BOLO, ts=parent)
    texts = [m["text"] for m in thread["messages"]]
    assert texts == ["BOLO: blue van (fictional)", "no match on 5th St", "[Agency B] seen on I-84"]
    head = thread["messages"][0]
    assert head["reply_count"] == 2
    assert head["reply_users"] == [OFFICER_2, emu.workspace(TEAM_A).bot_user_id]
    assert thread["messages"][1]["parent_user_id"] == OFFICER

    history = await client.conversations_history(channel=BOLO)
    assert [m["text"] for m in history["messages"]] == [
        "[Agency B] seen on I-84",
        "BOLO: blue van (fictional)",
    ]
    assert history["messages"][0]["root"]["ts"] == parent


async def test_history_pages_newest_first(emu: Emulator, client: AsyncWebClient) -> None:
    stamps = [emu.post_as_user(TEAM_A, BOLO, OFFICER, f"m{i}") for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_history(channel=BOLO, limit=3, cursor=cursor)
        pages += 1
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert pages == 3
    assert seen == [f"m{i}" for i in reversed(range(7))]

    window = await client.conversations_history(
        channel=BOLO, oldest=stamps[2], latest=stamps[4], inclusive=True
    )
    assert [m["text"] for m in window["messages"]] == ["m4", "m3", "m2"]
    exclusive = await client.conversations_history(
        channel=BOLO, oldest=stamps[2], latest=stamps[4]
    )
    assert [m["text"] for m in exclusive["messages"]] == ["m3"]


async def test_metadata_in_history_only_when_asked(client: AsyncWebClient) -> None:
    meta = {"event_type": "relay_message", "event_payload": {"origin": "agency-a"}}
    await client.chat_postMessage(channel=BOLO, text="x", metadata=meta)
    plain = await client.conversations_history(channel=BOLO)
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel=BOLO, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == meta


async def test_info_methods(emu: Emulator, client: AsyncWebClient) -> None:
    info = await client.conversations_info(channel=BOLO)
    assert (info["channel"]["name"], info["channel"]["is_member"]) == ("bolo", True)
    user = await client.users_info(user=OFFICER)
    assert user["user"]["profile"]["display_name"] == "Officer One"
    eph = await client.chat_postEphemeral(channel=BOLO, user=OFFICER, text="only you")
    assert emu.ephemeral(TEAM_A)[0]["ts"] == eph["message_ts"]


async def test_channel_rename_and_id_change(
    emu: Emulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    emu.rename_channel(TEAM_A, BOLO, "bolo-regional")
    emu.change_channel_id(TEAM_A, BOLO, "C0BOLO0002")
    received = await receiver.wait_for(2)
    events = sorted((r.json["event"] for r in received), key=lambda e: e["type"])
    assert events[0] == {
        "type": "channel_id_changed",
        "old_channel_id": BOLO,
        "new_channel_id": "C0BOLO0002",
        "event_ts": events[0]["event_ts"],
    }
    assert events[1]["channel"]["name"] == "bolo-regional"
    info = await client.conversations_info(channel="C0BOLO0002")
    assert info["channel"]["previous_names"] == ["bolo"]
