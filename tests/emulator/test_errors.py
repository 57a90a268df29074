"""Slack's error codes and HTTP statuses as slack-sdk sees them."""

from __future__ import annotations

import time
from collections.abc import Awaitable

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import Emulator, Limit

from .conftest import BOLO, INTEL, LOBBY, OFFICER, TEAM_A, TEAM_B


async def _error(call: Awaitable[object]) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


async def test_unknown_token_is_invalid_auth(emu: Emulator) -> None:
    bogus = AsyncWebClient(token="xoxb-not-a-token", base_url=emu.api_url)
    err = await _error(bogus.auth_test())
    assert (err.response.status_code, err.response["error"]) == (200, "invalid_auth")


async def test_missing_token_is_not_authed(emu: Emulator) -> None:
    """Slack says ``not_authed`` when no token is sent at all."""
    anonymous = AsyncWebClient(base_url=emu.api_url)
    err = await _error(anonymous.chat_postMessage(channel=BOLO, text="x"))
    assert err.response["error"] == "not_authed"


async def test_channel_errors(emu: Emulator, client: AsyncWebClient) -> None:
    assert (await _error(client.chat_postMessage(channel="C0NOPE0001", text="x"))).response[
        "error"
    ] == "channel_not_found"
    err = await _error(client.chat_postMessage(channel=LOBBY, text="x"))
    assert err.response["error"] == "not_in_channel"
    emu.set_bot_member(TEAM_A, INTEL, member=False)
    err = await _error(client.conversations_history(channel=INTEL))
    assert err.response["error"] == "channel_not_found"
    other_team = await _error(client.chat_postMessage(channel="C0BBOLO001", text="x"))
    assert other_team.response["error"] == "channel_not_found"


async def test_missing_scope_names_needed_and_provided(emu: Emulator) -> None:
    token = emu.issue_bot_token(TEAM_A, ["chat:write", "channels:history"])
    limited = AsyncWebClient(token=token, base_url=emu.api_url)
    err = await _error(
        limited.chat_postMessage(channel=BOLO, text="x", icon_emoji=":rotating_light:")
    )
    assert err.response.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": "chat:write.customize",
        "provided": "channels:history,chat:write",
    }
    err = await _error(limited.users_info(user=OFFICER))
    assert err.response["needed"] == "users:read"


async def test_app_token_cannot_post(emu: Emulator) -> None:
    app = AsyncWebClient(token=emu.workspace(TEAM_B).app_token, base_url=emu.api_url)
    err = await _error(app.chat_postMessage(channel="C0BBOLO001", text="x"))
    assert err.response["error"] == "not_allowed_token_type"


async def test_content_errors(client: AsyncWebClient) -> None:
    assert (await _error(client.chat_postMessage(channel=BOLO, text="x" * 40_001))).response[
        "error"
    ] == "msg_too_long"
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}
    err = await _error(
        client.chat_postMessage(channel=BOLO, text="t", blocks=[{"type": "divider"}, long_section])
    )
    assert err.response["error"] == "invalid_blocks"
    assert err.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    ]
    many = [{"text": str(i), "fallback": str(i)} for i in range(101)]
    err = await _error(client.chat_postMessage(channel=BOLO, text="t", attachments=many))
    assert err.response["error"] == "too_many_attachments"
    # api_call, not chat_postMessage: slack-sdk itself warns about a missing text argument.
    empty = client.api_call("chat.postMessage", json={"channel": BOLO})
    assert (await _error(empty)).response["error"] == "no_text"


async def test_message_errors(emu: Emulator, client: AsyncWebClient) -> None:
    err = await _error(client.chat_update(channel=BOLO, ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"
    theirs = emu.post_as_user(TEAM_A, BOLO, OFFICER, "an officer's message")
    err = await _error(client.chat_update(channel=BOLO, ts=theirs, text="x"))
    assert err.response["error"] == "cant_update_message"
    err = await _error(client.chat_delete(channel=BOLO, ts=theirs))
    assert err.response["error"] == "cant_delete_message"


async def test_rate_limit_answers_429_with_retry_after(
    emu: Emulator, client: AsyncWebClient
) -> None:
    emu.set_rate_limit("chat.postMessage", Limit(rate=0.2, burst=2, per_channel=True))
    await client.chat_postMessage(channel=BOLO, text="1")
    await client.chat_postMessage(channel=BOLO, text="2")
    err = await _error(client.chat_postMessage(channel=BOLO, text="3"))
    assert err.response.status_code == 429
    assert err.response["error"] == "ratelimited"
    assert err.response.headers["Retry-After"] == "5"
    await client.chat_postMessage(channel=INTEL, text="another channel has its own bucket")


async def test_rate_limit_retry_handler_retries(emu: Emulator) -> None:
    emu.fail_next("chat.postMessage", status=429, retry_after=1)
    client = AsyncWebClient(
        token=emu.workspace(TEAM_A).bot_token,
        base_url=emu.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()
    resp = await client.chat_postMessage(channel=BOLO, text="after a pause")
    assert resp["ok"]
    assert time.monotonic() - started >= 1.0
    assert [c.status for c in emu.calls("chat.postMessage")] == [429, 200]
    assert len(await emu.wait_for_posts(TEAM_A, BOLO, 1)) == 1


async def test_forced_errors_and_server_failures(emu: Emulator, client: AsyncWebClient) -> None:
    emu.fail_next("chat.postMessage", error="fatal_error")
    emu.fail_next("conversations.history", status=500)
    assert (await _error(client.chat_postMessage(channel=BOLO, text="x"))).response[
        "error"
    ] == "fatal_error"
    err = await _error(client.conversations_history(channel=BOLO))
    assert err.response.status_code == 500
    assert (await client.chat_postMessage(channel=BOLO, text="x"))["ok"]


@pytest.mark.parametrize(
    ("method", "args", "error"),
    [
        ("conversations.history", {"channel": BOLO}, "channel_not_found"),
        ("conversations.replies", {"channel": BOLO, "ts": "1.000001"}, "channel_not_found"),
        ("conversations.info", {"channel": BOLO}, "channel_not_found"),
        ("users.info", {"user": OFFICER}, "user_not_found"),
        ("files.info", {"file": "F0NOPE0001"}, "file_not_found"),
    ],
)
async def test_a_json_body_on_a_read_method_carries_no_arguments(
    client: AsyncWebClient, method: str, args: dict[str, str], error: str
) -> None:
    """Slack reads query and form arguments only on its read methods (JSON is for "most write
    methods"): the same arguments as JSON are not seen, and the call fails as Slack's would."""
    err = await _error(client.api_call(method, json=args))
    assert err.response["error"] == error


async def test_the_relay_calls_read_methods_the_documented_way(
    emu: Emulator, client: AsyncWebClient
) -> None:
    """The relay's Slack caller goes through slack-sdk's method wrappers: query arguments for
    the read methods, JSON for the write methods that take it."""
    from relay.slack.web import Pacer, SlackCaller

    caller = SlackCaller(client, pacer=Pacer(rates=None))
    ts = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO grey sedan")
    history = await caller.api("conversations.history", channel=BOLO, limit=1)
    assert [m["ts"] for m in history["messages"]] == [ts]
    replies = await caller.api("conversations.replies", channel=BOLO, ts=ts)
    assert replies["messages"][0]["ts"] == ts
    user = await caller.api("users.info", user=OFFICER)
    assert user["user"]["id"] == OFFICER
    posted = await caller.api("chat.postMessage", channel=BOLO, text="x")
    assert (await caller.api("chat.delete", channel=BOLO, ts=posted["ts"]))["ok"] is True


async def test_a_json_body_on_a_write_method_is_read(client: AsyncWebClient) -> None:
    posted = await client.api_call("chat.postMessage", json={"channel": BOLO, "text": "x"})
    deleted = await client.api_call("chat.delete", json={"channel": BOLO, "ts": posted["ts"]})
    assert deleted["ok"] is True


async def test_a_fault_scoped_to_one_workspace_leaves_the_others_alone() -> None:
    from relay.lab.emulator.limits import Fault, FaultInjector

    faults = FaultInjector()
    faults.fail_next("chat.postMessage", Fault(error="is_archived"), 1, team="T0MILLBRK1")
    assert faults.take("chat.postMessage") is None  # an unscoped call: nothing queued for it
    assert faults.take("chat.postMessage", "T0HAVENPT1") is None  # another workspace
    assert faults.pending("chat.postMessage", "T0MILLBRK1") == 1
    taken = faults.take("chat.postMessage", "T0MILLBRK1")
    assert taken is not None
    assert taken.error == "is_archived"
    assert faults.take("chat.postMessage", "T0MILLBRK1") is None  # once
