"""Slack's limits on message content: text length, Block Kit shape, attachment count."""

from __future__ import annotations

from typing import Final

from relay.lab.emulator.blockkit import MAX_MESSAGE_BLOCKS, BlockKit, fill_ids
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Json

__all__ = ["check_attachments", "check_blocks", "check_text"]

MAX_TEXT: Final = 40_000
MAX_ATTACHMENTS: Final = 100


def check_text(text: str | None) -> None:
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")


def check_blocks(raw: object) -> list[Json] | None:
    """Validate a message's ``blocks`` the way chat.postMessage reports problems (first one
    only, :mod:`relay.lab.emulator.blockkit`); missing interactive ids are filled in."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    checked = BlockKit("invalid_blocks", "/blocks", MAX_MESSAGE_BLOCKS).blocks(raw)
    return fill_ids(checked)


def check_attachments(raw: object) -> list[Json] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        raise SlackError("invalid_attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise SlackError("too_many_attachments")
    return [dict(a, id=i + 1) for i, a in enumerate(raw)]
