"""Events API delivery: signatures, retries with X-Slack-Retry-Num, giving up, relay down."""

from __future__ import annotations

from aiohttp import web

from relay.lab.emulator import DeliveryState, Emulator

from .conftest import BOLO, OFFICER, TEAM_A, TEAM_B, Receiver


async def test_retry_after_500_keeps_the_event_id(emu: Emulator, receiver: Receiver) -> None:
    receiver.statuses.extend([500])
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    first, second = await receiver.wait_for(2)
    assert first.signature_valid
    assert second.signature_valid
    assert first.json["event_id"] == second.json["event_id"]
    assert "X-Slack-Retry-Num" not in first.headers
    assert (second.headers["X-Slack-Retry-Num"], second.headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_error",
    )
    [record] = await emu.wait_for_event_acks(TEAM_A, 1)
    assert [a.status for a in record.attempts] == [500, 200]
    stats = emu.delivery_stats(TEAM_A)
    assert (stats.events, stats.attempts, stats.retries, stats.acked) == (1, 2, 1, 1)


async def test_gives_up_after_three_retries(emu: Emulator, receiver: Receiver) -> None:
    receiver.statuses.extend([503] * 10)
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    [record] = await emu.wait_for_settled_events(TEAM_A, 1)
    assert record.state is DeliveryState.FAILED
    received = await receiver.wait_for(4)
    assert [r.headers.get("X-Slack-Retry-Num") for r in received] == [None, "1", "2", "3"]
    assert len(receiver.received) == 4


async def test_slow_receiver_is_retried_as_http_timeout(emu: Emulator, receiver: Receiver) -> None:
    receiver.stall_next = 1
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    _, retry = await receiver.wait_for(2)
    assert retry.headers["X-Slack-Retry-Reason"] == "http_timeout"
    [record] = await emu.wait_for_event_acks(TEAM_A, 1)
    assert [a.reason for a in record.attempts] == ["http_timeout", ""]


async def test_no_retry_header_stops_retries(emu: Emulator, receiver: Receiver) -> None:
    receiver.statuses.extend([500])
    receiver.no_retry_next = 1
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO (fictional)")
    [record] = await emu.wait_for_settled_events(TEAM_A, 1)
    assert record.state is DeliveryState.FAILED
    assert [(a.status, a.no_retry) for a in record.attempts] == [(500, True)]


async def test_relay_down_counts_failed_attempts(emu: Emulator, receiver: Receiver) -> None:
    emu.set_delivery_failing(TEAM_A)
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "lost (fictional)")
    [record] = await emu.wait_for_settled_events(TEAM_A, 1)
    assert record.state is DeliveryState.FAILED
    assert [a.reason for a in record.attempts] == ["connection_failed"] * 4
    assert receiver.received == []

    emu.set_delivery_failing(TEAM_A, failing=False)
    emu.post_as_user(TEAM_A, BOLO, OFFICER, "delivered (fictional)")
    acked = await emu.wait_for_event_acks(TEAM_A, 1)
    assert acked[0].event["text"] == "delivered (fictional)"


async def test_workspaces_sign_with_their_own_secret(emu: Emulator, receiver: Receiver) -> None:
    """Workspace B's events fail workspace A's verifier: secrets are per workspace."""
    emu.set_event_url(TEAM_B, receiver.url)
    emu.post_as_user(TEAM_B, "C0BBOLO001", "U0BOFFICER", "from B (fictional)")
    [received] = await receiver.wait_for(1)
    assert received.json["team_id"] == TEAM_B
    assert not received.signature_valid


async def test_url_verification_challenge(emu: Emulator) -> None:
    async def echo(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"challenge": body["challenge"]})

    app = web.Application()
    app.router.add_post("/events", echo)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        host, port = runner.addresses[0][:2]
        emu.set_event_url(TEAM_B, f"http://{host}:{port}/events")
        assert await emu.verify_event_url(TEAM_B)
    finally:
        await runner.cleanup()
