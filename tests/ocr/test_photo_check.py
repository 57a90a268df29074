"""The sending relay's second reading (issue 17): a redacted photo that still reads as text
to remove is withheld (``photo_text.not_clean``); a photo never read is withheld, never sent
as clean. With a stand-in reader, so the outcome does not depend on the engine's luck."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import cast

from relay.core.envelope import FileRef
from relay.core.model import MessageKind, SlackFile, SlackMessage, TextPart
from relay.core.mrkdwn import parse_mrkdwn
from relay.core.photo import Box, PhotoStatus, PhotoText, line_of
from relay.core.policy.engine import evaluate_outbound_all
from relay.core.policy.load import load_policy
from relay.flow.photos import NOT_CLEAN, PhotoCheck
from relay.flow.wire import Prepared
from relay.ocr.reader import PhotoReader

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
POLICY = load_policy(
    (ROOT / "policies" / "baseline.yaml").read_text(encoding="utf-8"),
    source="baseline.yaml",
    today=NOW.date(),
)
SOURCE = PhotoText(
    status=PhotoStatus.READ,
    lines=(
        line_of([("Blue", (10, 10, 60, 30), 95), ("van", (70, 10, 110, 30), 95)]),
        line_of(
            [
                ("CI", (10, 50, 30, 70), 95),
                ("Maria", (40, 50, 100, 70), 95),
                ("Okafor", (110, 50, 180, 70), 95),
            ]
        ),
    ),
    size=(400, 100),
)


class _Reader:
    """Reads every photo as ``text``; paints nothing (the bytes say which boxes)."""

    def __init__(self, text: PhotoText) -> None:
        self.text = text
        self.painted: list[tuple[Box, ...]] = []

    async def read(self, data: bytes) -> PhotoText:
        return self.text

    async def blackout(self, data: bytes, boxes: tuple[Box, ...]) -> tuple[bytes, str]:
        self.painted.append(boxes)
        return data + b"painted", "image/png"


def _message() -> SlackMessage:
    f = SlackFile(
        id="F1", name="IMG.png", title="", alt_txt="", mimetype="image/png", filetype="", size=9
    )
    return SlackMessage(
        kind=MessageKind.POST,
        subtype="file_share",
        channel=None,
        ts=None,
        target_ts=None,
        thread_ts=None,
        broadcast=False,
        user=None,
        team=None,
        bot_id=None,
        parts=(
            TextPart(
                where="text",
                lines=tuple(parse_mrkdwn("BOLO: blue van seen on Elm St at 0300 today.")),
                body=True,
            ),
        ),
        files=(f,),
        from_blocks=False,
    )


FILES = {
    "F1": Prepared(
        ref=FileRef(sha256=hashlib.sha256(b"png").hexdigest(), mime="image/png", size=3),
        data=b"png",
    )
}


def _moved(text: PhotoText, dx: int) -> PhotoText:
    """``text`` with every word ``dx`` pixels to the right (outside the painted boxes)."""
    return replace(
        text,
        lines=tuple(
            line_of(
                [
                    (w.text, (w.box[0] + dx, w.box[1], w.box[2] + dx, w.box[3]), w.conf)
                    for w in line.words
                ]
            )
            for line in text.lines
        ),
    )


async def test_a_photo_still_unclean_after_the_blackout_is_withheld() -> None:
    fake = _Reader(SOURCE)
    check = PhotoCheck(cast(PhotoReader, fake), POLICY)
    message = await check.read(_message(), FILES)
    assert message.files[0].photo == SOURCE
    decisions = evaluate_outbound_all(message, POLICY, "bolo", now=NOW)
    assert decisions["MA9990200"].message is not None
    assert decisions["MA9990200"].message.files[0].blackout
    fake.text = _moved(SOURCE, 200)  # the source's line still reads, beside the black boxes
    out, ready = await check.finish(message, FILES, decisions, NOW)
    assert ready["MA9990200"]["F1"] == "photo_text_not_clean"
    assert NOT_CLEAN in {r.rule for r in out["MA9990200"].reasons}
    assert fake.painted, "it was painted and read again"


async def test_a_clean_second_reading_sends_the_painted_bytes() -> None:
    fake = _Reader(SOURCE)
    check = PhotoCheck(cast(PhotoReader, fake), POLICY)
    message = await check.read(_message(), FILES)
    decisions = evaluate_outbound_all(message, POLICY, "bolo", now=NOW)
    fake.text = replace(SOURCE, lines=SOURCE.lines[:1])  # the source's line is gone now
    _, ready = await check.finish(message, FILES, decisions, NOW)
    sent = ready["MA9990200"]["F1"]
    assert isinstance(sent, Prepared)
    assert sent.data == b"pngpainted"
    assert sent.ref.sha256 == hashlib.sha256(b"pngpainted").hexdigest()


async def test_a_photo_never_read_is_not_sent_as_clean() -> None:
    fake = _Reader(SOURCE)
    check = PhotoCheck(cast(PhotoReader, fake), POLICY)
    message = _message()  # not read: no text attached
    decisions = evaluate_outbound_all(message, POLICY, "bolo", now=NOW)
    _, ready = await check.finish(message, FILES, decisions, NOW)
    assert ready["MA9990200"]["F1"] == "photo_text_not_checked"
