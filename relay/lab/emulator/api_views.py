"""Modals: ``views.open`` (exchanging a trigger_id) and ``views.update``, checked like Slack.

A ``trigger_id`` comes with an interaction (a button click, a view submission); Slack lets an
app exchange it once, within 3 seconds (docs.slack.dev/reference/methods/views.open:
``invalid_trigger_id``, ``exchanged_trigger_id``, ``expired_trigger_id``). The view object
follows the modal reference (docs.slack.dev/reference/views/modal-views): ``type: modal``,
``title`` plain_text of at most 24 characters, ``close``/``submit`` likewise (``submit`` required
with an input block), at most 100 blocks, ``private_metadata`` 3000, ``callback_id`` and
``external_id`` 255 (unique in the team), the whole view at most 250 kB (``view_too_large``).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Final

from relay.lab.emulator.blockkit import MAX_VIEW_BLOCKS, BlockKit, fill_ids, invalid
from relay.lab.emulator.call import BOT_OR_USER, Call, Method
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Json, Workspace
from relay.lab.emulator.state import EmulatorState

__all__ = ["TRIGGER_TTL", "Trigger", "View", "ViewStore"]

TRIGGER_TTL: Final = 3.0
MAX_VIEW_BYTES: Final = 250_000
_TRIGGER: Final = re.compile(r"^\d+\.\d+\.[0-9a-f]{8,}$")
_OPTIONAL: Final = (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255))


@dataclass(slots=True, kw_only=True)
class Trigger:
    id: str
    team_id: str
    user_id: str
    issued: float
    used: bool = False


@dataclass(slots=True, kw_only=True)
class View:
    """An open modal: who sees it, its current definition and ``hash``."""

    id: str
    team_id: str
    user_id: str
    body: Json
    hash: str
    closed: bool = False
    submissions: list[Json] = field(default_factory=list)

    @property
    def external_id(self) -> str:
        value = self.body.get("external_id")
        return value if isinstance(value, str) else ""


def _bad(message: str, pointer: str) -> SlackError:
    return invalid("invalid_arguments", message, pointer)


def check_view(raw: object) -> Json:
    """A modal view object as views.open/views.update accept it (first problem only)."""
    if raw is None:
        raise _bad("missing required field: view", "/view")
    if len(json.dumps(raw, ensure_ascii=False).encode()) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    if not isinstance(raw, dict):
        raise _bad("must be an object", "/view")
    if raw.get("type") != "modal":
        raise _bad("must be one of modal", "/view/type")
    kit = BlockKit("invalid_arguments", "/view/blocks", MAX_VIEW_BLOCKS)
    kit.text(raw.get("title"), "/view/title", limit=24, plain=True)
    for key in ("close", "submit"):
        if key in raw:
            kit.text(raw[key], f"/view/{key}", limit=24, plain=True)
    if "blocks" not in raw:
        raise _bad("missing required field: blocks", "/view")
    blocks = kit.blocks(raw["blocks"])
    if "submit" not in raw and any(b.get("type") == "input" for b in blocks):
        raise _bad("must provide submit when blocks contain an input", "/view/submit")
    for key, limit in _OPTIONAL:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise _bad("must be a string", f"/view/{key}")
        if isinstance(value, str) and len(value) > limit:
            raise _bad(f"must be less than {limit + 1} characters", f"/view/{key}")
    for key in ("clear_on_close", "notify_on_close"):
        if key in raw and not isinstance(raw[key], bool):
            raise _bad("must be a boolean", f"/view/{key}")
    return {**raw, "blocks": fill_ids(blocks)}


class ViewStore:
    """Triggers handed out with interactions and the modals opened with them."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.triggers: dict[str, Trigger] = {}
        self.views: dict[str, View] = {}

    def issue_trigger(self, ws: Workspace, user_id: str) -> str:
        value = f"{self._state.now()}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[value] = Trigger(
            id=value, team_id=ws.team_id, user_id=user_id, issued=self._state.clock()
        )
        return value

    def new_hash(self) -> str:
        return f"{self._state.now()}.{secrets.token_urlsafe(6)}"

    def view_json(self, ws: Workspace, view: View) -> Json:
        """The view as views.open answers it and as view payloads carry it."""
        body = view.body
        return {
            "id": view.id,
            "team_id": ws.team_id,
            "type": "modal",
            "blocks": body["blocks"],
            "private_metadata": body.get("private_metadata", ""),
            "callback_id": body.get("callback_id", ""),
            "state": {"values": {}},
            "hash": view.hash,
            "title": {"emoji": True, **body["title"]},
            "clear_on_close": body.get("clear_on_close", False),
            "notify_on_close": body.get("notify_on_close", False),
            "close": {"emoji": True, **body["close"]} if "close" in body else None,
            "submit": {"emoji": True, **body["submit"]} if "submit" in body else None,
            "previous_view_id": None,
            "root_view_id": view.id,
            "app_id": ws.app_id,
            "external_id": view.external_id,
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }

    def _taken(self, team_id: str, external_id: str, but: str | None = None) -> bool:
        return bool(external_id) and any(
            v.team_id == team_id and v.external_id == external_id and v.id != but
            for v in self.views.values()
        )

    def _exchange(self, call: Call) -> Trigger:
        value = call.args.text("trigger_id") or ""
        if not _TRIGGER.match(value):
            raise SlackError(
                "invalid_arguments", extra={"response_metadata": {"messages": [_INVALID]}}
            )
        trigger = self.triggers.get(value)
        if trigger is None or trigger.team_id != call.ws.team_id:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self._state.clock() - trigger.issued > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        return trigger

    async def open(self, call: Call) -> Json:
        body = check_view(call.args.structured("view", "invalid_arguments"))
        trigger = self._exchange(call)
        external_id = body.get("external_id", "")
        if self._taken(call.ws.team_id, external_id):
            raise SlackError("duplicate_external_id")
        trigger.used = True
        view = View(
            id=self._state.new_id("V"),
            team_id=call.ws.team_id,
            user_id=trigger.user_id,
            body=body,
            hash=self.new_hash(),
        )
        self.views[view.id] = view
        self._state.changes.notify()
        return {"view": self.view_json(call.ws, view)}

    def find(self, team_id: str, view_id: str, external_id: str) -> View | None:
        for view in self.views.values():
            if view.team_id != team_id or view.closed:
                continue
            if (view_id and view.id == view_id) or (
                external_id and view.external_id == external_id
            ):
                return view
        return None

    async def update(self, call: Call) -> Json:
        view_id, external_id = call.args.text("view_id") or "", call.args.text("external_id") or ""
        if bool(view_id) == bool(external_id):
            raise _bad("exactly one of view_id, external_id is required", "/view_id")
        body = check_view(call.args.structured("view", "invalid_arguments"))
        view = self.find(call.ws.team_id, view_id, external_id)
        if view is None:
            raise SlackError("not_found")
        wanted = call.args.text("hash")
        if wanted and wanted != view.hash:
            raise SlackError("hash_conflict")
        if self._taken(call.ws.team_id, body.get("external_id", ""), but=view.id):
            raise SlackError("duplicate_external_id")
        if view.external_id and not body.get("external_id"):
            body["external_id"] = view.external_id  # the view keeps its identifier
        view.body, view.hash = body, self.new_hash()
        self._state.changes.notify()
        return {"view": self.view_json(call.ws, view)}

    def methods(self) -> dict[str, Method]:
        return {
            "views.open": Method(handler=self.open, tokens=BOT_OR_USER, json=True),
            "views.update": Method(handler=self.update, tokens=BOT_OR_USER, json=True),
        }


_INVALID: Final = "invalid `trigger_id`"
