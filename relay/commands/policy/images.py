"""Photos in policy cases (issue 17): ``relay policy test`` cases whose ``files`` entries carry
``"image": "PATH"`` (a PNG or JPEG relative to the case file) and ``relay policy apply
--image NAME=PATH`` are judged with the text the OCR reads in those images, exactly as the
relay reads a photo it fetched from Slack (re-encoded, then read); what a partner would see of
each photo (read again after the blackout) counts as visible text for ``must_strip`` and
``must_keep``. A file with no image data is reported ``photo_text.not_checked``.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from relay.core.model import SlackMessage
from relay.core.photo import PhotoStatus, PhotoText, outside
from relay.core.policy.decision import Decision
from relay.ocr.reader import PhotoReader
from relay.ocr.worker import blackout

__all__ = ["case_images", "photo_view", "read_image", "with_images"]

_reader: list[PhotoReader] = []


def _the_reader() -> PhotoReader:
    if not _reader:
        _reader.append(PhotoReader())
        atexit.register(_reader[0].close)
    return _reader[0]


def read_image(path: Path) -> tuple[bytes, PhotoText]:
    """The image re-encoded as the relay would send it, and the text read in it."""
    from relay.slack.files import reencode  # Pillow only; the Slack side is not started

    try:
        data, _ = reencode(path.read_bytes())
    except (OSError, ValueError):
        return b"", PhotoText(status=PhotoStatus.FAILED, code="unreadable_image")
    return data, _the_reader().read_now(data)


def case_images(case: dict[str, Any], base: Path) -> dict[str, Path]:
    """A case's images by file name (``"image"`` paths are relative to the case file)."""
    out: dict[str, Path] = {}
    for f in case.get("files") or []:
        if isinstance(f, dict) and isinstance(f.get("image"), str):
            out[str(f.get("name", ""))] = base / f["image"]
    return out


def with_images(
    message: SlackMessage, images: Mapping[str, Path]
) -> tuple[SlackMessage, dict[str, bytes]]:
    """``message`` with the text read in the images named by file name; and their bytes by
    file id (for :func:`photo_view`)."""
    if not images:
        return message, {}
    data: dict[str, bytes] = {}
    files = []
    for f in message.files:
        path = images.get(f.name)
        if path is None:
            files.append(f)
            continue
        raw, photo = read_image(path)
        data[f.id] = raw
        files.append(replace(f, photo=photo))
    return replace(message, files=tuple(files)), data


def photo_view(decision: Decision, data: Mapping[str, bytes]) -> dict[str, str]:
    """What a partner could read in each photo that leaves (by file id): read again after
    the blackout, as the relay does before it lets a redacted photo go."""
    out: dict[str, str] = {}
    if decision.message is None:
        return out
    for f in decision.message.files:
        raw = data.get(f.id)
        if raw is None or f.withheld or f.photo is None:
            continue
        seen = f.photo
        if f.blackout:
            redacted, _ = blackout(raw, f.blackout)
            seen = outside(_the_reader().read_now(redacted), f.blackout)
        out[f.id] = "\n".join(line.text for line in seen.lines)
    return out
