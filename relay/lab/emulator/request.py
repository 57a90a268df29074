"""Reading a Web API call the way Slack does: query, form, multipart, or JSON for the methods
that take it (elsewhere a JSON body's arguments are not seen); Bearer token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from relay.lab.emulator.errors import SlackError

__all__ = ["ApiRequest", "Args", "read_request"]

_TRUE = frozenset({"1", "true", "yes"})


class Args:
    """Method arguments; form values are strings, JSON values keep their types."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self._values = dict(values)

    def __contains__(self, name: str) -> bool:
        return self._values.get(name) not in (None, "")

    def text(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        return json.dumps(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in _TRUE

    def number(self, name: str, default: int) -> int:
        value = self.text(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise SlackError("invalid_arguments") from None

    def structured(self, name: str, error: str) -> object | None:
        """A JSON-valued argument (``blocks``, ``files``...) sent as JSON or as a string."""
        value = self._values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            parsed: object = json.loads(value)
        except ValueError:
            raise SlackError(error) from None
        return parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiRequest:
    args: Args
    token: str | None
    warnings: tuple[str, ...]


async def read_request(request: web.Request, *, json_body: bool = True) -> ApiRequest:
    """``json_body`` False: the method takes query and form arguments only."""
    values: dict[str, object] = dict(request.query)
    warnings: list[str] = []
    bearer: str | None = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        bearer = header[7:].strip() or None
    if request.method == "POST" and request.content_type == "application/json":
        if request.charset is None:
            warnings.append("missing_charset")
        try:
            body: object = json.loads(await request.read() or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        if json_body:
            values.update(body)
        # Slack ignores a token inside a JSON body; it must come as a Bearer header.
        values.pop("token", None)
    elif request.method == "POST":
        form = await request.post()
        values.update({k: v for k, v in form.items() if isinstance(v, str)})
    token = bearer
    if token is None:
        raw = values.get("token")
        token = raw if isinstance(raw, str) and raw else None
    return ApiRequest(args=Args(values), token=token, warnings=tuple(warnings))
