"""Block Kit as Slack checks it: block and element types, text objects and their limits.

Messages (``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``) report a problem as
``invalid_blocks``; views (``views.open``/``views.update``) as ``invalid_arguments``. Both carry
Slack's ``response_metadata.messages`` line ``[ERROR] <what> [json-pointer:<where>]``, first
problem only. Limits follow the Block Kit reference (docs.slack.dev/reference/block-kit):
blocks, block elements and composition objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Final

from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Json
from relay.lab.emulator.shapes import block_id as short_id

__all__ = [
    "MAX_MESSAGE_BLOCKS",
    "MAX_VIEW_BLOCKS",
    "BlockKit",
    "buttons",
    "fill_ids",
    "input_elements",
    "invalid",
]

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_ID: Final = 255
_SELECTS: Final = frozenset(
    f"{multi}{kind}_select"
    for multi in ("", "multi_")
    for kind in ("static", "external", "users", "conversations", "channels")
)
_CHOICES: Final = frozenset({"checkboxes", "radio_buttons", "overflow"})
_PICKERS: Final = frozenset({"datepicker", "timepicker", "datetimepicker"})
_ACTIONS: Final = _SELECTS | _CHOICES | _PICKERS | {"button", "workflow_button"}
_ACCESSORY: Final = (_ACTIONS - {"datetimepicker"}) | {"image"}
_INPUTS: Final = (
    _SELECTS
    | _PICKERS
    | {"checkboxes", "radio_buttons", "plain_text_input", "email_text_input"}
    | {"number_input", "url_text_input", "rich_text_input", "file_input"}
)
_TYPES: Final = frozenset(
    {"actions", "context", "divider", "file", "header", "image", "input", "markdown"}
    | {"rich_text", "section", "video"}
)
_TEXT_TYPES: Final = frozenset({"plain_text", "mrkdwn"})
_OPTION_LIMITS: Final = {"static_select": 100, "multi_static_select": 100, "overflow": 5}


def invalid(error: str, message: str, pointer: str) -> SlackError:
    """Slack's refusal of a Block Kit payload: ``error`` with one ``[ERROR]`` line."""
    line = f"[ERROR] {message} [json-pointer:{pointer}]"
    return SlackError(error, extra={"response_metadata": {"messages": [line]}})


class BlockKit:
    """One check of a ``blocks`` array; ``error`` is the code Slack answers with."""

    def __init__(self, error: str, root: str, limit: int) -> None:
        self._error = error
        self._root = root
        self._limit = limit
        self._action_ids: set[str] = set()

    def _fail(self, message: str, pointer: str) -> SlackError:
        return invalid(self._error, message, pointer)

    def blocks(self, raw: object) -> list[Json]:
        if not isinstance(raw, list):
            raise self._fail("must be an array", self._root)
        if len(raw) > self._limit:
            raise self._fail(f"no more than {self._limit} items allowed", self._root)
        seen: set[str] = set()
        for i, block in enumerate(raw):
            pointer = f"{self._root}/{i}"
            if not isinstance(block, dict) or block.get("type") not in _TYPES:
                raise self._fail("unsupported type", f"{pointer}/type")
            bid = block.get("block_id")
            if bid is not None:
                self._id(bid, f"{pointer}/block_id")
                if bid in seen:
                    raise self._fail(f"duplicate block_id {bid}", f"{pointer}/block_id")
                seen.add(bid)
            self._block(block, pointer)
        return list(raw)

    def _block(self, block: Json, pointer: str) -> None:
        match block["type"]:
            case "section":
                self._section(block, pointer)
            case "header":
                self.text(block.get("text"), f"{pointer}/text", limit=150, plain=True)
            case "context":
                elements = self._list(block, "elements", pointer, 10)
                for j, element in enumerate(elements):
                    where = f"{pointer}/elements/{j}"
                    if isinstance(element, dict) and element.get("type") == "image":
                        continue
                    self.text(element, where, limit=None)
            case "actions":
                elements = self._list(block, "elements", pointer, 25)
                for j, element in enumerate(elements):
                    self._element(element, f"{pointer}/elements/{j}", _ACTIONS)
            case "input":
                self.text(block.get("label"), f"{pointer}/label", limit=2000, plain=True)
                if "hint" in block:
                    self.text(block["hint"], f"{pointer}/hint", limit=2000, plain=True)
                if "element" not in block:
                    raise self._fail("missing required field: element", pointer)
                self._element(block["element"], f"{pointer}/element", _INPUTS)
            case "rich_text":
                self._list(block, "elements", pointer, None)

    def _section(self, block: Json, pointer: str) -> None:
        if "text" not in block and "fields" not in block:
            raise self._fail("must provide either text or fields", pointer)
        if "text" in block:
            self.text(block["text"], f"{pointer}/text", limit=3000)
        if "fields" in block:
            fields = self._list(block, "fields", pointer, 10)
            for j, field in enumerate(fields):
                self.text(field, f"{pointer}/fields/{j}", limit=2000)
        if "accessory" in block:
            self._element(block["accessory"], f"{pointer}/accessory", _ACCESSORY)

    def _list(self, block: Json, key: str, pointer: str, limit: int | None) -> list[object]:
        items = block.get(key)
        if not isinstance(items, list) or not items:
            raise self._fail(f"must provide {key}", f"{pointer}/{key}")
        if limit is not None and len(items) > limit:
            raise self._fail(f"no more than {limit} items allowed", f"{pointer}/{key}")
        return items

    def text(self, obj: object, pointer: str, *, limit: int | None, plain: bool = False) -> None:
        """A text composition object: ``plain_text`` (or ``mrkdwn`` unless ``plain``), a
        non-empty ``text`` of at most ``limit`` characters."""
        if obj is None:
            field = pointer.rsplit("/", 1)[-1]
            raise self._fail(f"missing required field: {field}", pointer.rsplit("/", 1)[0])
        kinds = {"plain_text"} if plain else _TEXT_TYPES
        if not isinstance(obj, dict) or obj.get("type") not in kinds:
            raise self._fail("failed to match all allowed schemas", pointer)
        text = obj.get("text")
        if not isinstance(text, str):
            raise self._fail("missing required field: text", pointer)
        if not text:
            raise self._fail("must be more than 0 characters", f"{pointer}/text")
        if limit is not None and len(text) > limit:
            raise self._fail(f"must be less than {limit + 1} characters", f"{pointer}/text")

    def _string(self, obj: Json, key: str, pointer: str, limit: int) -> None:
        value = obj.get(key)
        if value is None:
            return
        if not isinstance(value, str):
            raise self._fail("must be a string", f"{pointer}/{key}")
        if len(value) > limit:
            raise self._fail(f"must be less than {limit + 1} characters", f"{pointer}/{key}")

    def _id(self, value: object, pointer: str) -> None:
        if not isinstance(value, str) or not value:
            raise self._fail("must be a non-empty string", pointer)
        if len(value) > MAX_ID:
            raise self._fail(f"must be less than {MAX_ID + 1} characters", pointer)

    def _element(self, element: object, pointer: str, allowed: frozenset[str]) -> None:
        if not isinstance(element, dict) or element.get("type") not in allowed:
            raise self._fail("unsupported type", f"{pointer}/type")
        kind = element["type"]
        if kind == "image":
            return
        if "action_id" in element:
            action_id = element["action_id"]
            self._id(action_id, f"{pointer}/action_id")
            if action_id in self._action_ids:
                raise self._fail(f"duplicate action_id {action_id}", f"{pointer}/action_id")
            self._action_ids.add(action_id)
        if "placeholder" in element:
            self.text(element["placeholder"], f"{pointer}/placeholder", limit=150, plain=True)
        if kind == "button":
            self.text(element.get("text"), f"{pointer}/text", limit=75, plain=True)
            self._string(element, "value", pointer, 2000)
            self._string(element, "url", pointer, 3000)
            self._string(element, "accessibility_label", pointer, 75)
            if element.get("style") not in (None, "primary", "danger"):
                raise self._fail("must be one of primary, danger", f"{pointer}/style")
        elif kind == "plain_text_input":
            self._string(element, "initial_value", pointer, 3000)
            for key, low in (("min_length", 0), ("max_length", 1)):
                n = element.get(key)
                if n is not None and (not isinstance(n, int) or not low <= n <= 3000):
                    raise self._fail(f"must be between {low} and 3000", f"{pointer}/{key}")
        elif kind in _OPTION_LIMITS or kind in ("checkboxes", "radio_buttons"):
            self._options(element, pointer, _OPTION_LIMITS.get(kind, 10))

    def _options(self, element: Json, pointer: str, limit: int) -> None:
        if "options" not in element and "option_groups" in element:
            return
        options = self._list(element, "options", pointer, limit)
        for j, option in enumerate(options):
            where = f"{pointer}/options/{j}"
            if not isinstance(option, dict):
                raise self._fail("must be an object", where)
            self.text(option.get("text"), f"{where}/text", limit=75)
            self._string(option, "value", where, 150)


def _interactive(block: Json) -> Iterator[Json]:
    if block.get("type") == "actions":
        yield from (e for e in block.get("elements", []) if isinstance(e, dict))
    elif block.get("type") == "input" and isinstance(block.get("element"), dict):
        yield block["element"]
    elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
        yield from (a for a in (block["accessory"],) if a.get("type") != "image")


def fill_ids(blocks: list[Json]) -> list[Json]:
    """Slack gives a block without ``block_id`` and an element without ``action_id`` generated
    ones; the emulator does so (stably) for blocks holding interactive elements, the ones an
    interaction payload names."""
    taken = {b["block_id"] for b in blocks if isinstance(b.get("block_id"), str)}
    out: list[Json] = []
    for i, block in enumerate(blocks):
        elements = list(_interactive(block))
        if not elements:
            out.append(block)
            continue
        block = dict(block)
        seed = json.dumps(block, sort_keys=True) + str(i)
        while "block_id" not in block:
            candidate = short_id(seed)
            seed += "+"
            if candidate not in taken:
                block["block_id"] = candidate
                taken.add(candidate)
        filled = [
            e if "action_id" in e else {**e, "action_id": short_id(f"{seed}{j}a")}
            for j, e in enumerate(elements)
        ]
        if block["type"] == "actions":
            block["elements"] = filled
        elif block["type"] == "input":
            block["element"] = filled[0]
        else:
            block["accessory"] = filled[0]
        out.append(block)
    return out


def buttons(blocks: list[Json]) -> Iterator[tuple[str, Json]]:
    """(block_id, button) for every button in a message's blocks."""
    for block in blocks:
        for element in _interactive(block):
            if element.get("type") == "button" and block.get("block_id"):
                yield block["block_id"], element


def input_elements(blocks: list[Json]) -> Iterator[tuple[Json, Json]]:
    """(input block, its element) for every input block of a view."""
    for block in blocks:
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            yield block, block["element"]
