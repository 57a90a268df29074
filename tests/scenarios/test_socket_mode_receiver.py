"""Socket Mode: events are stored before they are acked, a refresh reconnects, and a
redelivered event is not taken twice."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import ChannelSpec, Emulator, Timings, UserSpec, WorkspaceSpec
from relay.slack.keys import event_key
from relay.slack.socket import SocketModeReceiver

TEAM, CHANNEL, USER = "T0HAVENPT1", "C0HBOLO01", "U0OKAFOR01"


class Sink:
    """Stores like the bridge does: keyed by the message an event is about."""

    def __init__(self) -> None:
        self.taken: dict[tuple[str, str] | str, bytes] = {}
        self.offered = 0
        self.arrived = asyncio.Condition()

    async def take_slack_event(
        self, *, team: str, event_id: str, body: bytes, doc: dict[str, Any] | None = None
    ) -> bool:
        async with self.arrived:
            self.offered += 1
            key = (event_key(doc) if doc is not None else None) or (event_id, "")
            new = key[0] not in self.taken
            self.taken.setdefault(key[0], body)
            self.arrived.notify_all()
            return new

    async def wait(self, n: int) -> None:
        async with asyncio.timeout(10), self.arrived:
            await self.arrived.wait_for(lambda: len(self.taken) >= n)


class Refusals:
    def __init__(self) -> None:
        self.refused: list[tuple[str, str | None, str | None]] = []
        self.rejected: list[str] = []

    def slack_rejected(self, reason: str) -> None:
        self.rejected.append(reason)

    def slack_refused(self, reason: str, event_id: str | None, field: str | None = None) -> None:
        self.refused.append((reason, event_id, field))


def _spec() -> WorkspaceSpec:
    return WorkspaceSpec(
        team_id=TEAM,
        name="Havenport PD",
        users=(UserSpec(id=USER, name="okafor"),),
        channels=(ChannelSpec(id=CHANNEL, name="bolo"),),
    )


async def test_events_survive_a_refresh_and_are_taken_once():
    async with Emulator(
        [_spec()], timings=Timings(socket_ack_timeout=1.0, disconnect_grace=0.2)
    ) as emu:
        emu.use_socket_mode(TEAM)
        ws = emu.workspace(TEAM)
        sink = Sink()
        receiver = SocketModeReceiver(
            sink,
            app_token=ws.app_token,
            web_client=AsyncWebClient(token=ws.bot_token, base_url=emu.api_url),
            refusals=Refusals(),
        )
        await receiver.start()
        try:
            await emu.wait_for_socket_connections(TEAM, 1, timeout=5)
            emu.post_as_user(TEAM, CHANNEL, USER, "BOLO one: white van, Route 9 NB.")
            await sink.wait(1)
            await emu.socket_disconnect(TEAM, "refresh_requested")
            await emu.wait_for_socket_connections(TEAM, 1, opened=2, timeout=10)
            emu.post_as_user(TEAM, CHANNEL, USER, "BOLO two: red sedan, Canal St.")
            await sink.wait(2)
            await emu.wait_for_event_acks(TEAM, 2, timeout=10)
        finally:
            await receiver.stop()
    assert len(sink.taken) == 2
    assert receiver.acked >= 2


def test_edits_in_the_same_second_have_distinct_keys():
    """Slack gives edits whole-second times: two edits in one second must not collide."""
    import json

    def edit(target: str, text: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "event": {
                        "type": "message",
                        "subtype": "message_changed",
                        "channel": CHANNEL,
                        "ts": "1700000100.000900",
                        "message": {
                            "ts": target,
                            "text": text,
                            "edited": {"ts": "1700000100.000000"},
                        },
                    }
                }
            )
        )
        return doc

    keys = {
        event_key(edit("1700000001.000100", "first")),
        event_key(edit("1700000002.000200", "first")),
        event_key(edit("1700000001.000100", "second")),
    }
    assert len(keys) == 3
    assert event_key(edit("1700000001.000100", "first")) in keys, "a retry keeps its key"


class Answering:
    """An interactivity handler that records the payload and answers with a modal error."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        self.payloads.append(payload)
        return {"response_action": "errors", "errors": {"reason": "Choose a listed reason"}}


async def test_interactive_envelopes_are_answered_and_acked_within_three_seconds():
    async with Emulator([_spec()]) as emu:
        emu.use_socket_mode(TEAM)
        ws = emu.workspace(TEAM)
        handler = Answering()
        receiver = SocketModeReceiver(
            Sink(),
            app_token=ws.app_token,
            web_client=AsyncWebClient(token=ws.bot_token, base_url=emu.api_url),
            refusals=Refusals(),
            interactions=handler,
        )
        await receiver.start()
        try:
            await emu.wait_for_socket_connections(TEAM, 1, timeout=5)
            payload = {"type": "block_actions", "user": {"id": USER}, "actions": []}
            got = await emu.deliver_interaction(TEAM, payload)
            assert got.via == "socket"
            assert got.acked_within(3.0)
            assert got.response == {
                "response_action": "errors",
                "errors": {"reason": "Choose a listed reason"},
            }
            assert handler.payloads == [payload]
        finally:
            await receiver.stop()


async def test_request_frames_slack_sdk_cannot_read_are_refused_acked_and_counted(caplog):
    """A payload that is not an object (slack-sdk's ``from_dict`` would raise, unacked and
    uncounted), a type that is not a string, a missing or odd envelope id: each refused
    (``malformed``) before slack-sdk reads it, acknowledged when it has an envelope id; a good
    frame afterwards is taken and acked."""
    import json
    import logging

    from slack_sdk.socket_mode.response import SocketModeResponse

    caplog.set_level(logging.WARNING)
    sink, refusals = Sink(), Refusals()
    receiver = SocketModeReceiver(
        sink, app_token="xapp-1", web_client=AsyncWebClient(token="xoxb-1"), refusals=refusals
    )
    acked: list[str] = []

    async def send(response: dict[str, Any] | SocketModeResponse) -> None:
        assert isinstance(response, SocketModeResponse)
        acked.append(response.envelope_id)

    async def session_id() -> str:
        return "s1"

    receiver.client.send_socket_mode_response = send  # type: ignore[method-assign]
    receiver.client.session_id = session_id  # type: ignore[method-assign]
    event = {"type": "message", "channel": CHANNEL, "user": USER, "ts": "1.2", "text": "hi"}
    frames: list[dict[str, Any]] = [
        {"type": "events_api", "envelope_id": "e1", "payload": [1, 2]},
        {"type": "events_api", "envelope_id": "e2", "payload": 5},
        {"type": "events_api", "envelope_id": "e3", "payload": None},
        {"type": "interactive", "envelope_id": "e4", "payload": "x"},
        {"type": ["events_api"], "envelope_id": "e5", "payload": {}},
        {"type": "events_api", "payload": {}},
        {"type": "events_api", "envelope_id": "x" * 500, "payload": {}},
        {"type": "events_api", "envelope_id": 7, "payload": {}},
        {
            "type": "events_api",
            "envelope_id": "e9",
            "payload": {"type": "event_callback", "event_id": "Ev1", "team_id": TEAM,
                        "event": event},
        },
    ]  # fmt: skip
    try:
        for frame in frames:
            await receiver.client.message_queue.put(json.dumps(frame))
            await receiver.client.process_message()
        await sink.wait(1)
        await asyncio.sleep(0.05)
    finally:
        await receiver.client.close()  # type: ignore[no-untyped-call]
    assert [r[0] for r in refusals.refused] == ["malformed"] * 8
    assert [r[2] for r in refusals.refused] == ["payload"] * 4 + ["type"] + ["envelope_id"] * 3
    assert acked == ["e1", "e2", "e3", "e4", "e5", "e9"]
    assert len(sink.taken) == 1
    assert sink.offered == 1
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
