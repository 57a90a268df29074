"""Interactivity: Block Kit buttons, views.open/views.update strictness, click and submit_view
delivered signed over HTTP and as Socket Mode ``interactive`` envelopes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import Emulator, Interaction
from relay.lab.workspaces import WorkspacesError, parse_workspaces

from .conftest import BOLO, FAST, OFFICER, OFFICER_2, TEAM_A, TEAM_B, agency_a, agency_b

Handler = Callable[[dict[str, Any]], Any]


def card(*, action_ids: tuple[str, ...] = ("release", "keep")) -> list[dict[str, Any]]:
    buttons = [
        {"type": "button", "action_id": a, "value": f"card-1:{a}", "text": _plain(a.title())}
        for a in action_ids
    ]
    return [
        {"type": "section", "block_id": "what", "text": {"type": "mrkdwn", "text": "*Held*"}},
        {"type": "actions", "block_id": "decide", "elements": buttons},
    ]


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def modal(title: str = "Release reason", **extra: Any) -> dict[str, Any]:
    reason = {
        "type": "static_select",
        "action_id": "code",
        "options": [
            {"text": _plain("Officer safety"), "value": "officer_safety"},
            {"text": _plain("Other"), "value": "other"},
        ],
    }
    note = {"type": "plain_text_input", "action_id": "text", "max_length": 500}
    return {
        "type": "modal",
        "callback_id": "release_reason",
        "private_metadata": "card-1",
        "title": _plain(title),
        "submit": _plain("Release"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "reason", "label": _plain("Reason"), "element": reason},
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": _plain("Comment"),
                "element": note,
            },
        ],
        **extra,
    }


async def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        await call
    data: dict[str, Any] = info.value.response.data
    return data


class App:
    """The app's interactivity endpoint: checks the signature with slack-sdk, parses the form,
    hands the payload to ``on_payload`` and answers with what it returns (JSON) or 200."""

    def __init__(self, secret: str) -> None:
        self.verifier = SignatureVerifier(secret)
        self.payloads: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.on_payload: Handler = lambda payload: None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.headers.append(dict(request.headers))
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return web.json_response({"error": "signature_invalid"}, status=401)
        assert request.content_type == "application/x-www-form-urlencoded"
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        self.payloads.append(payload)
        answer = (
            await self.on_payload(payload)
            if asyncio.iscoroutinefunction(self.on_payload)
            else self.on_payload(payload)
        )
        return web.json_response(answer) if answer is not None else web.Response(status=200)


@pytest.fixture
async def app(emu: Emulator) -> AsyncIterator[App]:
    rx = App(emu.workspace(TEAM_A).signing_secret)
    server = web.Application()
    server.router.add_post("/slack/interactivity", rx.handle)
    runner = web.AppRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rx.url = f"http://{host}:{port}/slack/interactivity"
    emu.set_interactivity_url(TEAM_A, rx.url)
    yield rx
    await runner.cleanup()


async def _card(client: AsyncWebClient, **kwargs: Any) -> str:
    posted = await client.chat_postMessage(channel=BOLO, text="held", blocks=card(**kwargs))
    ts: str = posted["ts"]
    return ts


# -- Block Kit in messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        (
            card(action_ids=("same", "same")),
            "[ERROR] duplicate action_id same [json-pointer:/blocks/1/elements/1/action_id]",
        ),
        (
            [{"type": "actions", "elements": [{"type": "button", "text": _plain("x" * 76)}]}],
            "[ERROR] must be less than 76 characters "
            "[json-pointer:/blocks/0/elements/0/text/text]",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": _plain("Go"), "value": "v" * 2001}],
                }
            ],
            "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "action_id": "a" * 256, "text": _plain("x")}],
                }
            ],
            "[ERROR] must be less than 256 characters "
            "[json-pointer:/blocks/0/elements/0/action_id]",
        ),
        (
            [{"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "t"}]}],
            "[ERROR] unsupported type [json-pointer:/blocks/0/elements/0/type]",
        ),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "*no*"}}],
            "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
        ),
    ],
)
async def test_invalid_blocks_are_refused_with_a_pointer(
    client: AsyncWebClient, blocks: list[dict[str, Any]], message: str
) -> None:
    err = await _error(client.chat_postMessage(channel=BOLO, text="t", blocks=blocks))
    assert err["error"] == "invalid_blocks"
    assert err["response_metadata"]["messages"] == [message]


async def test_chat_update_checks_blocks_and_fills_interactive_ids(
    client: AsyncWebClient,
) -> None:
    ts = await _card(client)
    bad = [{"type": "actions", "elements": []}]
    err = await _error(client.chat_update(channel=BOLO, ts=ts, text="t", blocks=bad))
    assert err["error"] == "invalid_blocks"
    bare = [{"type": "actions", "elements": [{"type": "button", "text": _plain("Ok")}]}]
    updated = await client.chat_update(channel=BOLO, ts=ts, text="done", blocks=bare)
    block = updated["message"]["blocks"][0]
    assert block["block_id"]
    assert block["elements"][0]["action_id"]


# -- views.open / views.update ---------------------------------------------------------------


async def test_views_open_needs_a_fresh_unused_trigger(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    ts = await _card(client)
    click = await emu.click(TEAM_A, BOLO, ts, OFFICER, "release")
    assert click.acked_within(3.0)

    opened = await client.views_open(trigger_id=click.trigger_id, view=modal())
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "release_reason"
    assert view["title"]["text"] == "Release reason"
    assert view["hash"]
    assert emu.view(TEAM_A, view["id"]).user_id == OFFICER

    again = await _error(client.views_open(trigger_id=click.trigger_id, view=modal()))
    assert again["error"] == "exchanged_trigger_id"
    unknown = await _error(
        client.views_open(trigger_id="1700000000.1.0123456789abcdef", view=modal())
    )
    assert unknown["error"] == "invalid_trigger_id"
    garbled = await _error(client.views_open(trigger_id="nope", view=modal()))
    assert garbled["error"] == "invalid_arguments"
    other_team = AsyncWebClient(token=emu.workspace(TEAM_B).bot_token, base_url=emu.api_url)
    second = await emu.click(TEAM_A, BOLO, ts, OFFICER, "keep")
    err = await _error(other_team.views_open(trigger_id=second.trigger_id, view=modal()))
    assert err["error"] == "invalid_trigger_id"


async def test_a_trigger_expires_after_three_seconds(app: App) -> None:
    offset = [0.0]
    async with Emulator([agency_a()], timings=FAST, clock=lambda: time.time() + offset[0]) as emu:
        emu.set_interactivity_url(TEAM_A, app.url)
        client = AsyncWebClient(token=emu.workspace(TEAM_A).bot_token, base_url=emu.api_url)
        ts = await _card(client)
        click = await emu.click(TEAM_A, BOLO, ts, OFFICER, "release")
        offset[0] = 3.5
        err = await _error(client.views_open(trigger_id=click.trigger_id, view=modal()))
        assert err["error"] == "expired_trigger_id"


@pytest.mark.parametrize(
    ("view", "error", "pointer"),
    [
        (modal(title="A title far longer than 24"), "invalid_arguments", "/view/title/text"),
        (modal(private_metadata="m" * 3001), "invalid_arguments", "/view/private_metadata"),
        (modal(callback_id="c" * 256), "invalid_arguments", "/view/callback_id"),
        ({**modal(), "type": "home"}, "invalid_arguments", "/view/type"),
        ({k: v for k, v in modal().items() if k != "submit"}, "invalid_arguments", "/view/submit"),
        (modal(blocks=[{"type": "divider"}] * 101), "invalid_arguments", "/view/blocks"),
        (modal(close=_plain("c" * 25)), "invalid_arguments", "/view/close/text"),
        (modal(private_metadata="x" * 260_000), "view_too_large", None),
    ],
)
async def test_views_open_refuses_views_slack_refuses(
    emu: Emulator,
    client: AsyncWebClient,
    app: App,
    view: dict[str, Any],
    error: str,
    pointer: str | None,
) -> None:
    click = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    err = await _error(client.views_open(trigger_id=click.trigger_id, view=view))
    assert err["error"] == error
    if pointer is not None:
        assert err["response_metadata"]["messages"][0].endswith(f"[json-pointer:{pointer}]")
    # a refused view leaves the trigger usable
    assert (await client.views_open(trigger_id=click.trigger_id, view=modal()))["ok"]


async def test_views_update_by_id_or_external_id_with_hash(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    click = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    view = (await client.views_open(trigger_id=click.trigger_id, view=modal(external_id="r-1")))[
        "view"
    ]
    updated = await client.views_update(
        view_id=view["id"], hash=view["hash"], view=modal(title="Updated", external_id="r-1")
    )
    assert updated["view"]["title"]["text"] == "Updated"
    assert updated["view"]["hash"] != view["hash"]
    stale = await _error(client.views_update(view_id=view["id"], hash=view["hash"], view=modal()))
    assert stale["error"] == "hash_conflict"
    by_external = await client.views_update(external_id="r-1", view=modal(title="Again"))
    assert by_external["view"]["id"] == view["id"]
    missing = await _error(client.views_update(view_id="V0NOSUCH", view=modal()))
    assert missing["error"] == "not_found"
    neither = await _error(client.api_call("views.update", json={"view": modal()}))
    assert neither["error"] == "invalid_arguments"
    second = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    dup = await _error(
        client.views_open(trigger_id=second.trigger_id, view=modal(external_id="r-1"))
    )
    assert dup["error"] == "duplicate_external_id"


# -- the driver ------------------------------------------------------------------------------


async def test_click_delivers_a_signed_block_actions_form(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    ts = await _card(client)
    result = await emu.click(TEAM_A, BOLO, ts, OFFICER, "release")

    assert (result.via, result.acked, result.status) == ("http", True, 200)
    headers = app.headers[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = app.payloads[0]
    assert payload == result.payload
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": OFFICER,
        "username": "officer.one",
        "name": "officer.one",
        "team_id": TEAM_A,
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": BOLO,
        "is_ephemeral": False,
    }
    assert payload["team"] == {"id": TEAM_A, "domain": "agency-a-example"}
    assert payload["channel"] == {"id": BOLO, "name": "bolo"}
    assert payload["api_app_id"] == emu.workspace(TEAM_A).app_id
    assert payload["message"]["ts"] == ts
    assert payload["message"]["blocks"][1]["block_id"] == "decide"
    assert payload["response_url"].startswith("http://")
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "release",
        "decide",
        "card-1:release",
        "button",
    )
    assert result.trigger_id == payload["trigger_id"]
    assert emu.interactions(TEAM_A) == [result]


async def test_click_refuses_what_a_person_could_not_click(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    ts = await _card(client)
    with pytest.raises(ValueError, match="no button"):
        await emu.click(TEAM_A, BOLO, ts, OFFICER, "approve")
    with pytest.raises(ValueError, match="no button"):
        await emu.click(TEAM_A, BOLO, ts, OFFICER, "release", value="card-2:release")
    with pytest.raises(KeyError):
        await emu.click(TEAM_A, BOLO, "1.000001", OFFICER, "release")
    assert app.payloads == []


async def test_forged_and_stale_payloads_fail_the_signature_check(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    clicked = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    forged = await emu.deliver_interaction(TEAM_A, clicked.payload, secret="not-the-secret")
    stale = await emu.deliver_interaction(
        TEAM_A, clicked.payload, timestamp=str(int(time.time()) - 600)
    )
    replay = await emu.deliver_interaction(TEAM_A, clicked.payload)

    assert (forged.status, forged.acked, forged.reason) == (401, False, "http_error")
    assert stale.status == 401
    assert replay.acked
    assert len(app.payloads) == 2


async def test_a_slow_app_is_not_acknowledged(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    async def slow(payload: dict[str, Any]) -> None:
        await asyncio.sleep(1.0)  # FAST.http_timeout is 0.5 s

    app.on_payload = slow
    result = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    assert (result.acked, result.reason) == (False, "http_timeout")
    assert not result.acked_within(3.0)


async def test_click_opens_a_modal_and_submission_closes_or_keeps_it(
    emu: Emulator, client: AsyncWebClient, app: App
) -> None:
    """The review flow: click -> the app opens a modal with the trigger_id while handling the
    click (inside Slack's 3 s) -> the officer submits -> the app answers errors, then clear."""

    async def on_payload(payload: dict[str, Any]) -> dict[str, Any] | None:
        if payload["type"] == "block_actions":
            await client.views_open(trigger_id=payload["trigger_id"], view=modal())
            return None
        values = payload["view"]["state"]["values"]
        if (
            values["reason"]["code"]["selected_option"]["value"] == "other"
            and not values["comment"]["text"]["value"]
        ):
            return {"response_action": "errors", "errors": {"comment": "Say why"}}
        return {"response_action": "clear"}

    app.on_payload = on_payload
    click = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    assert click.acked_within(3.0)
    (view,) = await emu.wait_for_views(TEAM_A, user=OFFICER)

    with pytest.raises(ValueError, match="required"):
        await emu.submit_view(TEAM_A, OFFICER, view.id, {"comment": {"text": "x"}})
    with pytest.raises(ValueError, match="opened for"):
        await emu.submit_view(TEAM_A, OFFICER_2, view.id, {"reason": {"code": "other"}})

    kept = await emu.submit_view(TEAM_A, OFFICER, view.id, {"reason": {"code": "other"}})
    assert kept.response == {"response_action": "errors", "errors": {"comment": "Say why"}}
    assert not emu.view(TEAM_A, view.id).closed

    done = await emu.submit_view(
        TEAM_A, OFFICER, view.id, {"reason": {"code": "other"}, "comment": {"text": "BOLO"}}
    )
    submitted = app.payloads[-1]
    assert submitted["type"] == "view_submission"
    assert submitted["view"]["id"] == view.id
    assert submitted["view"]["callback_id"] == "release_reason"
    assert submitted["view"]["private_metadata"] == "card-1"
    assert submitted["view"]["hash"] == view.hash
    assert submitted["view"]["state"]["values"] == {
        "reason": {
            "code": {
                "type": "static_select",
                "selected_option": {"text": _plain("Other"), "value": "other"},
            }
        },
        "comment": {"text": {"type": "plain_text_input", "value": "BOLO"}},
    }
    assert done.response == {"response_action": "clear"}
    assert emu.view(TEAM_A, view.id).closed
    with pytest.raises(ValueError, match="closed"):
        await emu.submit_view(TEAM_A, OFFICER, view.id, {"reason": {"code": "other"}})
    closed = await _error(client.views_update(view_id=view.id, view=modal()))
    assert closed["error"] == "not_found"


async def test_no_interactivity_url_means_nothing_is_delivered(
    emu: Emulator, client: AsyncWebClient
) -> None:
    result = await emu.click(TEAM_A, BOLO, await _card(client), OFFICER, "release")
    assert (result.via, result.acked, result.reason) == (None, False, "no_target")


# -- Socket Mode -----------------------------------------------------------------------------


async def test_socket_mode_delivers_interactive_envelopes_and_returns_the_ack_payload() -> None:
    async with Emulator([agency_b(), agency_a()], timings=FAST) as emu:
        emu.use_socket_mode(TEAM_A)
        web_client = AsyncWebClient(token=emu.workspace(TEAM_A).bot_token, base_url=emu.api_url)
        seen: list[SocketModeRequest] = []

        async def on_request(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
            seen.append(req)
            if req.type != "interactive":
                await client.send_socket_mode_response(SocketModeResponse(req.envelope_id))
                return
            answer: dict[str, Any] | None = None
            if req.payload["type"] == "block_actions":
                await web_client.views_open(trigger_id=req.payload["trigger_id"], view=modal())
            else:
                answer = {"response_action": "errors", "errors": {"reason": "Pick one"}}
            response = SocketModeResponse(envelope_id=req.envelope_id, payload=answer)
            await client.send_socket_mode_response(response)

        socket = SocketModeClient(
            app_token=emu.workspace(TEAM_A).app_token,
            web_client=AsyncWebClient(base_url=emu.api_url),
        )
        socket.socket_mode_request_listeners.append(on_request)
        await socket.connect()  # type: ignore[no-untyped-call]
        try:
            await emu.wait_for_socket_connections(TEAM_A)
            ts = await _card(web_client)
            click: Interaction = await emu.click(TEAM_A, BOLO, ts, OFFICER, "keep")
            assert (click.via, click.acked) == ("socket", True)
            assert click.acked_within(3.0)
            interactive = [r for r in seen if r.type == "interactive"]
            assert interactive[0].payload == click.payload
            assert interactive[0].accepts_response_payload is True
            (view,) = await emu.wait_for_views(TEAM_A)
            submitted = await emu.submit_view(
                TEAM_A, OFFICER, view.id, {"reason": {"code": "other"}}
            )
            assert submitted.response == {
                "response_action": "errors",
                "errors": {"reason": "Pick one"},
            }
            assert not emu.view(TEAM_A, view.id).closed
            with pytest.raises(ValueError, match="not signed"):
                await emu.deliver_interaction(TEAM_A, click.payload, secret="x")
        finally:
            await socket.close()  # type: ignore[no-untyped-call]


def test_a_workspaces_file_names_the_interactivity_url() -> None:
    ws = {"team": "T0LAB1", "name": "Lab", "channels": {"bolo": "C0LAB1"}}
    url = "http://127.0.0.1:9/slack/interactivity"
    parsed = parse_workspaces([{**ws, "interactivity_url": url}], "f.json")
    assert parsed.specs[0].interactivity_url == url
    with pytest.raises(WorkspacesError, match="interactivity_url"):
        parse_workspaces([{**ws, "interactivity_url": "ftp://x"}], "f.json")
