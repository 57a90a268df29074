"""Typed, frozen values for a Slack message, built from an allowlist of known fields.

The parser (:mod:`relay.core.slack_parse`) turns a wire event into these values; nothing from
the wire dict is carried along opaquely. A message's visible content is a tuple of
:class:`Line` values, each a tuple of :class:`Segment` values: plain text, a link, or a
workspace-local reference (user, channel, user group, broadcast) that never leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, NewType

from relay.core.ids import AgencyId, ChannelId
from relay.core.photo import Box, PhotoText

__all__ = [
    "AgencyId",
    "ChannelId",
    "Line",
    "LineKind",
    "Link",
    "MessageKind",
    "Ref",
    "Segment",
    "SlackFile",
    "SlackMessage",
    "SlackTs",
    "Text",
    "TextPart",
    "UserId",
]

SlackTs = NewType("SlackTs", str)
UserId = NewType("UserId", str)


class MessageKind(StrEnum):
    """What a message event asks the relay to do."""

    POST = "post"
    EDIT = "edit"
    DELETE = "delete"
    IGNORED = "ignored"  # a subtype the relay does not carry (joins, topic changes, ...)


class LineKind(StrEnum):
    PARAGRAPH = "paragraph"
    BULLET = "bullet"
    ORDERED = "ordered"
    QUOTE = "quote"
    PREFORMATTED = "preformatted"


# Segments and lines are NamedTuples rather than frozen dataclasses: just as immutable and
# typed, and several times cheaper to build, which matters on the per-message hot path.
class Text(NamedTuple):
    """Plain display text (mrkdwn entities already decoded)."""

    text: str
    bold: bool = False
    italic: bool = False
    strike: bool = False
    code: bool = False


class Link(NamedTuple):
    url: str
    label: str = ""


class Ref(NamedTuple):
    """A workspace-local reference: ``kind`` is user, channel, usergroup, broadcast or team."""

    kind: str
    target: str
    label: str = ""


Segment = Text | Link | Ref


class Line(NamedTuple):
    segments: tuple[Segment, ...]
    kind: LineKind = LineKind.PARAGRAPH
    indent: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPart:
    """A run of lines from one place in the message.

    ``where`` names the place with a closed vocabulary (``text``, ``blocks``, ``attachment``,
    ``shared_message``, ``metadata``, ``file_preview``, ``fallback``). ``body`` parts are what
    the outgoing message is rebuilt from; the others are scanned but never sent.
    """

    where: str
    lines: tuple[Line, ...]
    body: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackFile:
    id: str
    name: str
    title: str
    alt_txt: str
    mimetype: str
    filetype: str
    size: int
    mode: str = "hosted"
    # The text read in the photo's pixels (None: no image data was there to read; the
    # policy reports the file's text as not checked, never as clean).
    photo: PhotoText | None = None
    # On a decided file: the boxes to black out before it leaves, or why it is withheld
    # (its bytes do not leave; the partner sees a line saying so).
    blackout: tuple[Box, ...] = ()
    withheld: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackMessage:
    """One message event as the relay understands it.

    ``unknown`` lists the dotted paths of fields the parser did not recognise: a non-empty tuple
    makes the engine block with ``unknown_field`` (fail closed). ``parts`` hold every place
    where user text was found.
    """

    kind: MessageKind
    subtype: str
    channel: ChannelId | None
    ts: SlackTs | None
    target_ts: SlackTs | None  # the message an edit or delete applies to
    thread_ts: SlackTs | None
    broadcast: bool
    user: UserId | None
    team: str | None
    bot_id: str | None
    parts: tuple[TextPart, ...]
    files: tuple[SlackFile, ...]
    from_blocks: bool
    unknown: tuple[str, ...] = ()

    @property
    def is_bot(self) -> bool:
        return self.bot_id is not None or self.subtype == "bot_message"
