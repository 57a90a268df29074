"""The emulator's aiohttp application: ``/api/{method}`` dispatch in Slack's order of checks
(method, forced faults, token, token type, rate limit, scope, arguments)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from aiohttp import web

from relay.lab.emulator.call import Call, Method
from relay.lab.emulator.errors import SlackError, missing_scope, ratelimited
from relay.lab.emulator.limits import Fault
from relay.lab.emulator.model import Json, Token
from relay.lab.emulator.request import read_request
from relay.lab.emulator.state import CallRecord, EmulatorState

__all__ = ["build_app"]

_CHARSET_WARNING: Final = (
    "[WARN] A Content-Type HTTP header was presented but did not declare a charset, "
    "such as a 'utf-8'"
)
_LOGIN_PAGE: Final = "<!DOCTYPE html><html><body><h1>Sign in to Slack</h1></body></html>"


def _respond(
    body: Json, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
        charset="utf-8",
    )


def _authenticate(state: EmulatorState, raw: str | None, method: Method) -> Token:
    if raw is None:
        raise SlackError("not_authed")
    token = state.tokens.get(raw)
    if token is None:
        raise SlackError("invalid_auth")
    if token.kind not in method.tokens:
        raise SlackError("not_allowed_token_type")
    return token


def _forced(fault: Fault | None) -> None:
    if fault is None:
        return
    if fault.status == 429:
        raise ratelimited(fault.retry_after)
    raise SlackError(fault.error, status=fault.status)


async def _dispatch(
    state: EmulatorState, request: web.Request, name: str, method: Method
) -> tuple[Json, Token]:
    _forced(state.faults.take(name))
    api = await read_request(request, json_body=method.json)
    token = _authenticate(state, api.token, method)
    _forced(state.faults.take(name, token.team_id))
    retry_after = state.limiter.check(token.team_id, name, api.args.text("channel"))
    if retry_after is not None:
        raise ratelimited(retry_after)
    if method.scope is not None and method.scope not in token.scopes:
        raise missing_scope(method.scope, token.scopes)
    call = Call(state=state, ws=state.workspace(token.team_id), token=token, args=api.args)
    body: Json = {"ok": True, **await method.handler(call)}
    if api.warnings:
        body["warnings"] = list(api.warnings)
        body["response_metadata"] = {
            **body.get("response_metadata", {}),
            "warnings": list(api.warnings),
            "messages": [_CHARSET_WARNING],
        }
    return body, token


def build_app(
    state: EmulatorState, methods: Mapping[str, Method], client_max_size: int = 64 * 1024**2
) -> web.Application:
    """Routes for the Web API; files and Socket Mode add theirs (see :mod:`.files`)."""

    async def api(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        method = methods.get(name)
        if method is None:
            state.calls.append(
                CallRecord(method=name, team_id=None, error="unknown_method", status=200)
            )
            return _respond({"ok": False, "error": "unknown_method"})
        token: Token | None = None
        try:
            body, token = await _dispatch(state, request, name, method)
        except SlackError as err:
            raw = request.headers.get("Authorization", "")[7:].strip()
            known = state.tokens.get(raw)
            team = known.team_id if known is not None else None
            state.calls.append(
                CallRecord(method=name, team_id=team, error=err.code, status=err.status)
            )
            state.changes.notify()
            return _respond(err.body(), status=err.status, headers=err.headers)
        state.calls.append(CallRecord(method=name, team_id=token.team_id, error=None, status=200))
        state.changes.notify()
        scopes = ",".join(sorted(token.scopes))
        headers = {"X-OAuth-Scopes": scopes, "X-Accepted-OAuth-Scopes": method.scope or ""}
        return _respond(body, headers=headers)

    async def login(request: web.Request) -> web.Response:
        return web.Response(text=_LOGIN_PAGE, content_type="text/html", charset="utf-8")

    app = web.Application(client_max_size=client_max_size)
    app.router.add_route("*", "/api/{method}", api)
    app.router.add_get("/", login)
    return app
