"""Slack's limits on message content: text length, Block Kit shape, attachment count."""

from __future__ import annotations

from typing import Final

from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Json

__all__ = ["check_attachments", "check_blocks", "check_text"]

MAX_TEXT: Final = 40_000
MAX_BLOCKS: Final = 50
MAX_ATTACHMENTS: Final = 100
_KNOWN: Final = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)


def check_text(text: str | None) -> None:
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")


def _invalid(message: str, pointer: str) -> SlackError:
    return SlackError(
        "invalid_blocks",
        extra={"response_metadata": {"messages": [f"[ERROR] {message} [json-pointer:{pointer}]"]}},
    )


def _text_len(block: Json, key: str, limit: int, pointer: str) -> None:
    obj = block.get(key)
    if isinstance(obj, dict) and len(str(obj.get("text", ""))) > limit:
        raise _invalid(f"must be less than {limit + 1} characters", f"{pointer}/{key}/text")


def check_blocks(raw: object) -> list[Json] | None:
    """Validate ``blocks`` the way chat.postMessage reports problems (first one only)."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    if len(raw) > MAX_BLOCKS:
        raise _invalid(f"no more than {MAX_BLOCKS} items allowed", "/blocks")
    seen: set[str] = set()
    blocks: list[Json] = []
    for i, block in enumerate(raw):
        pointer = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in _KNOWN:
            raise _invalid("unsupported type", f"{pointer}/type")
        bid = block.get("block_id")
        if isinstance(bid, str):
            if bid in seen:
                raise _invalid(f"duplicate block_id {bid}", f"{pointer}/block_id")
            seen.add(bid)
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                raise _invalid("must provide either text or fields", pointer)
            _text_len(block, "text", 3000, pointer)
        elif kind == "header":
            _text_len(block, "text", 150, pointer)
        elif kind in {"context", "rich_text"}:
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                raise _invalid("must provide elements", f"{pointer}/elements")
            if kind == "context" and len(elements) > 10:
                raise _invalid("no more than 10 items allowed", f"{pointer}/elements")
        blocks.append(block)
    return blocks


def check_attachments(raw: object) -> list[Json] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        raise SlackError("invalid_attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise SlackError("too_many_attachments")
    return [dict(a, id=i + 1) for i, a in enumerate(raw)]
