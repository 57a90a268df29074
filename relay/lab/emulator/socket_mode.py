"""Socket Mode: ``apps.connections.open`` tickets, ``hello``, ``events_api`` envelopes that must
be acknowledged, redelivery with ``retry_attempt``, and ``disconnect`` messages."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Final

from aiohttp import WSMsgType, web

from relay.lab.emulator.call import Call, Method
from relay.lab.emulator.delivery import Attempt, DeliveryRecord
from relay.lab.emulator.model import Json, TokenKind, Workspace
from relay.lab.emulator.spec import Timings
from relay.lab.emulator.state import EmulatorState

__all__ = ["MAX_CONNECTIONS", "SocketHub"]

MAX_CONNECTIONS: Final = 10
_DEBUG: Final = {"host": "applink-emulator"}


@dataclass(slots=True, eq=False)
class _Connection:
    team_id: str
    sock: web.WebSocketResponse
    draining: bool = False


class SocketHub:
    def __init__(self, state: EmulatorState, timings: Timings) -> None:
        self._state = state
        self._timings = timings
        self._tickets: dict[str, str] = {}
        self._open: dict[str, list[_Connection]] = {}
        self._envelopes: dict[str, str] = {}
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._answers: dict[str, asyncio.Future[Json]] = {}
        self._turn = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.acked: list[str] = []
        """Envelope ids acknowledged by clients, in arrival order."""
        self.opened: dict[str, int] = {}
        """Connections opened per workspace (reconnects count)."""

    def connections(self, team_id: str) -> int:
        return sum(not c.draining for c in self._open.get(team_id, []))

    def issue_url(self, ws: Workspace) -> str:
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = ws.team_id
        host = self._state.base_url.replace("http://", "ws://", 1)
        return f"{host}/link/?ticket={ticket}&app_id={ws.app_id}"

    async def _open_connections(self, request: web.Request) -> web.StreamResponse:
        team_id = self._tickets.pop(request.query.get("ticket", ""), None)
        if team_id is None:
            return web.Response(status=401, text="invalid ticket")
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        conn = _Connection(team_id=team_id, sock=sock)
        conns = self._open.setdefault(team_id, [])
        conns.append(conn)
        self.opened[team_id] = self.opened.get(team_id, 0) + 1
        ws = self._state.workspace(team_id)
        try:
            if len(conns) > MAX_CONNECTIONS:
                await sock.send_json(self._disconnect("too_many_websockets", ws, len(conns)))
                await sock.close()
                return sock
            await sock.send_json(self._hello(ws, len(conns)))
            self._state.changes.notify()
            async for msg in sock:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(msg.data)
        finally:
            conns.remove(conn)
            self._state.changes.notify()
        return sock

    def _hello(self, ws: Workspace, count: int) -> Json:
        return {
            "type": "hello",
            "num_connections": count,
            "debug_info": {**_DEBUG, "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": ws.app_id},
        }

    def _disconnect(self, reason: str, ws: Workspace, count: int | None = None) -> Json:
        body: Json = {"type": "disconnect", "reason": reason, "debug_info": dict(_DEBUG)}
        if count is not None:
            body["num_connections"] = count
            body["connection_info"] = {"app_id": ws.app_id}
        return body

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        answer = self._answers.pop(envelope_id, None) if isinstance(envelope_id, str) else None
        if answer is not None and isinstance(envelope_id, str):
            self.acked.append(envelope_id)
            if not answer.done():
                answer.set_result(message)
            self._state.changes.notify()
            return
        if not isinstance(envelope_id, str) or envelope_id not in self._envelopes:
            return
        self.acked.append(envelope_id)
        waiting = self._waiting.get(self._envelopes[envelope_id])
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        self._state.changes.notify()

    def _pick(self, team_id: str) -> _Connection | None:
        live = [c for c in self._open.get(team_id, []) if not c.draining and not c.sock.closed]
        if not live:
            return None
        self._turn += 1
        return live[self._turn % len(live)]

    async def attempt(
        self, ws: Workspace, record: DeliveryRecord, retry_num: int, reason: str
    ) -> Attempt:
        """Send one envelope and wait ``socket_ack_timeout`` for its ack (any connection)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timings.socket_ack_timeout
        conn: _Connection | None = None
        if not ws.delivery_failing:
            try:
                await self._state.changes.wait_for(
                    lambda: self.connections(ws.team_id) > 0, self._timings.socket_ack_timeout
                )
                conn = self._pick(ws.team_id)
            except TimeoutError:
                conn = None
        if conn is None:
            return Attempt(retry_num=retry_num, ok=False, reason="connection_failed")
        envelope_id = str(uuid.uuid4())
        self._envelopes[envelope_id] = record.event_id
        waiting = self._waiting.setdefault(record.event_id, loop.create_future())
        envelope = {
            "envelope_id": envelope_id,
            "payload": record.payload,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_num,
            "retry_reason": reason,
        }
        try:
            await conn.sock.send_json(envelope)
            async with asyncio.timeout_at(max(deadline, loop.time() + 0.05)):
                await asyncio.shield(waiting)
        except TimeoutError:
            return Attempt(retry_num=retry_num, ok=False, reason="timeout")
        except ConnectionError:
            return Attempt(retry_num=retry_num, ok=False, reason="connection_failed")
        self._waiting.pop(record.event_id, None)
        return Attempt(retry_num=retry_num, ok=True)

    async def interactive(self, ws: Workspace, payload: Json) -> Json | None:
        """Send an ``interactive`` envelope; the client's ack (``{"envelope_id", "payload"?}``)
        or ``None`` if there is no connection or no ack within ``socket_ack_timeout``. Slack
        does not redeliver interactions."""
        conn = self._pick(ws.team_id) if not ws.delivery_failing else None
        if conn is None:
            return None
        envelope_id = str(uuid.uuid4())
        answer: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._answers[envelope_id] = answer
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "interactive",
            "accepts_response_payload": True,
        }
        try:
            await conn.sock.send_json(envelope)
            async with asyncio.timeout(self._timings.socket_ack_timeout):
                return await answer
        except (TimeoutError, ConnectionError):
            return None
        finally:
            self._answers.pop(envelope_id, None)

    async def disconnect(self, team_id: str, reason: str) -> None:
        """Send ``disconnect`` to every open connection; all but ``warning`` close after the
        grace period (Slack closes a refreshed link about 10 s later)."""
        ws = self._state.workspace(team_id)
        for conn in [c for c in self._open.get(team_id, []) if not c.draining]:
            await conn.sock.send_json(self._disconnect(reason, ws))
            if reason != "warning":
                conn.draining = True
                task = asyncio.get_running_loop().create_task(self._close_later(conn))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._state.changes.notify()

    async def _close_later(self, conn: _Connection) -> None:
        await asyncio.sleep(self._timings.disconnect_grace)
        await conn.sock.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conns in list(self._open.values()):
            for conn in list(conns):
                await conn.sock.close()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/link/", self._open_connections)

    def methods(self) -> dict[str, Method]:
        async def connections_open(call: Call) -> Json:
            return {"url": self.issue_url(call.ws)}

        return {
            "apps.connections.open": Method(
                handler=connections_open,
                scope="connections:write",
                tokens=frozenset({TokenKind.APP}),
            )
        }
