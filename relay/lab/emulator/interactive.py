"""Interaction payloads as Slack sends them (docs.slack.dev/reference/interaction-payloads):
``block_actions`` for a button clicked in a message, ``view_submission`` for a submitted modal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from relay.lab.emulator.blockkit import input_elements
from relay.lab.emulator.model import Channel, Json, Workspace

__all__ = ["InputValue", "block_actions", "state_values", "user_json", "view_submission"]

InputValue = str | Sequence[str] | None
"""What a person entered in one input: text, an option's value, several options' values."""

_TEXT_INPUTS: Final = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
)
_ONE_OPTION: Final = frozenset({"static_select", "radio_buttons"})
_OPTIONS: Final = frozenset({"multi_static_select", "checkboxes"})


def user_json(ws: Workspace, user_id: str) -> Json:
    user = ws.users[user_id]
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": ws.team_id}


def _base(ws: Workspace, kind: str, user_id: str, trigger_id: str) -> Json:
    return {
        "type": kind,
        "user": user_json(ws, user_id),
        "api_app_id": ws.app_id,
        "token": ws.verification_token,
        "trigger_id": trigger_id,
        "team": {"id": ws.team_id, "domain": ws.domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def block_actions(
    ws: Workspace,
    ch: Channel,
    *,
    user_id: str,
    message: Json,
    block_id: str,
    button: Json,
    trigger_id: str,
    response_url: str,
    action_ts: str,
) -> Json:
    """A button clicked in a channel message (the message as the clicker sees it now)."""
    action: Json = {
        "action_id": button["action_id"],
        "block_id": block_id,
        "text": {"emoji": True, **button["text"]},
        "type": "button",
        "action_ts": action_ts,
    }
    for key in ("value", "style", "url"):
        if key in button:
            action[key] = button[key]
    return {
        **_base(ws, "block_actions", user_id, trigger_id),
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": ch.id,
            "is_ephemeral": False,
        },
        "channel": {"id": ch.id, "name": ch.name},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission(ws: Workspace, *, user_id: str, view: Json, trigger_id: str) -> Json:
    """A submitted modal; ``view`` carries ``state.values``."""
    return {
        **_base(ws, "view_submission", user_id, trigger_id),
        "view": view,
        "response_urls": [],
    }


def _option(element: Json, value: str, where: str) -> Json:
    for option in element.get("options") or []:
        if option.get("value") == value:
            return dict(option)
    raise ValueError(f"{where}: no option with value {value!r}")


def _one(element: Json, entered: InputValue, where: str) -> Json:
    kind = element["type"]
    if kind in _TEXT_INPUTS:
        if entered is not None and not isinstance(entered, str):
            raise ValueError(f"{where}: a {kind} takes a string")
        if entered is not None and kind == "plain_text_input":
            low, high = element.get("min_length", 0), element.get("max_length", 3000)
            if not low <= len(entered) <= high:
                raise ValueError(f"{where}: {len(entered)} characters, not {low}..{high}")
        return {"type": kind, "value": entered}
    if kind in _ONE_OPTION:
        if entered is not None and not isinstance(entered, str):
            raise ValueError(f"{where}: a {kind} takes one option value")
        chosen = None if entered is None else _option(element, entered, where)
        return {"type": kind, "selected_option": chosen}
    if kind in _OPTIONS:
        if isinstance(entered, str):
            raise ValueError(f"{where}: a {kind} takes a list of option values")
        return {
            "type": kind,
            "selected_options": [_option(element, v, where) for v in entered or ()],
        }
    raise ValueError(f"{where}: the driver cannot fill a {kind}")


def state_values(blocks: list[Json], values: Mapping[str, Mapping[str, InputValue]]) -> Json:
    """``state.values`` for a submission: ``{block_id: {action_id: {type, value |
    selected_option | selected_options}}}`` for every input block. A Slack client refuses to
    submit a required input left empty, an unknown option or text out of its length bounds:
    so does this (``ValueError``: a test bug)."""
    known: dict[tuple[str, str], tuple[Json, Json]] = {
        (block["block_id"], element["action_id"]): (block, element)
        for block, element in input_elements(blocks)
    }
    for block_id, entries in values.items():
        for action_id in entries:
            if (block_id, action_id) not in known:
                raise ValueError(f"the view has no input {block_id}/{action_id}")
    out: Json = {}
    for (block_id, action_id), (block, element) in known.items():
        entered = values.get(block_id, {}).get(action_id)
        where = f"{block_id}/{action_id}"
        if entered in (None, "", []) and not block.get("optional", False):
            raise ValueError(f"{where} is required")
        out.setdefault(block_id, {})[action_id] = _one(element, entered or None, where)
    return out
