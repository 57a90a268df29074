"""The value the policy engine judges, built from a verified envelope.

The engine judges a :class:`~relay.core.model.SlackMessage`: typed parts of lines of
segments, files with their metadata, and the message's kind. A parsed Slack event is one;
the lines and files a partner's envelope discloses are another, built here directly, one
body line per disclosed line (in order) and one file per disclosed file, so that the
decision's ``kept_lines`` and ``kept_files`` index the envelope's own lines and files: a
relay passing the envelope on withholds exactly what its policy would not send, without
rendering and comparing text.
"""

from __future__ import annotations

from collections.abc import Sequence

from relay.core.model import Line, MessageKind, Segment, SlackFile, SlackMessage, Text, TextPart
from relay.core.mrkdwn import parse_mrkdwn

__all__ = ["FileMeta", "envelope_content"]

FileMeta = tuple[str, str, str, int]  # title, alt text, media type, size


def _one_line(text: str) -> Line:
    lines = parse_mrkdwn(text)
    if not lines:
        return Line(())
    if len(lines) == 1:
        return lines[0]
    segments: list[Segment] = []
    for n, line in enumerate(lines):
        if n:
            segments.append(Text(" "))
        segments.extend(line.segments)
    return Line(tuple(segments), lines[0].kind, lines[0].indent)


def envelope_content(
    lines: Sequence[str], files: Sequence[FileMeta] = (), *, kind: MessageKind = MessageKind.POST
) -> SlackMessage:
    """A message made of an envelope's disclosed lines (mrkdwn, one line each) and files."""
    return SlackMessage(
        kind=kind,
        subtype="",
        channel=None,
        ts=None,
        target_ts=None,
        thread_ts=None,
        broadcast=False,
        user=None,
        team=None,
        bot_id=None,
        parts=(TextPart(where="envelope", lines=tuple(_one_line(t) for t in lines), body=True),),
        files=tuple(
            SlackFile(
                id=f"envelope-file-{i}",
                name="",
                title=title,
                alt_txt=alt,
                mimetype=mime,
                filetype="",
                size=size,
            )
            for i, (title, alt, mime, size) in enumerate(files)
        ),
        from_blocks=False,
    )
