"""The text read in photos, judged as units of their files (issue 17).

Each photo's lines (:class:`~relay.core.photo.PhotoText`) are cut into units like the
message's own lines (:func:`relay.core.policy.scan.scan_message`), in blocks of kind
``photo``: every detector reads them (both scopes, ``text`` and ``files``), the protected
people of the message are looked for in them and theirs in the message.

Rule ids: a rule that fires on a photo's text is reported as ``photo_text.<rule id>``
(``photo_text.chri.ncic_fields`` blocks; ``photo_text.informant.source`` blacks out), so a
decision says the text was in a photo; the engine's own:

* ``photo_text.not_checked``: an image with no pixels to read (a policy test case or an
  event without image data): reported, never passed as clean; the action is unchanged;
* ``photo_text.unread``: the OCR failed (time budget, error, engine missing): the photo is
  withheld;
* ``photo_text.unreadable``: words read with low confidence: blacked out, or the photo
  withheld (``photo_text_unreadable: withhold``).

What a strip rule removes from a photo comes back as the padded boxes of its words
(:attr:`~relay.core.model.SlackFile.blackout`); the flow paints them and reads the photo again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Final

from relay.core.model import SlackFile
from relay.core.photo import Box, PhotoStatus, boxes_between, low_confidence, merge_boxes
from relay.core.policy.model import Policy
from relay.core.policy.scan import Scan
from relay.core.policy.units import Segmented

__all__ = [
    "MIN_CONFIDENCE",
    "NOT_CHECKED",
    "PHOTO_TEXT",
    "UNREAD",
    "UNREADABLE",
    "photo_outcome",
    "photo_rule",
    "split_hits",
]

PHOTO_TEXT: Final = "photo_text"
NOT_CHECKED: Final = "photo_text.not_checked"
UNREAD: Final = "photo_text.unread"
UNREADABLE: Final = "photo_text.unreadable"
# Words read below this confidence (Tesseract's 0-100) may be text the engine could not
# read: 30 keeps clear print (90+) and a plate's odd glyph (35) while catching garbage.
MIN_CONFIDENCE: Final = 30


def photo_rule(rule: str) -> str:
    return f"{PHOTO_TEXT}.{rule}"


def split_hits(seg: Segmented, rule: str, blocks: set[int]) -> list[tuple[str, int]]:
    """A block rule's hits: ``rule`` for the message's blocks, ``photo_text.<rule>`` for
    photos' blocks."""
    photo = sum(1 for b in blocks if seg.blocks[b].kind == "photo")
    out = []
    if len(blocks) > photo:
        out.append((rule, len(blocks) - photo))
    if photo:
        out.append((photo_rule(rule), photo))
    return out


def photo_outcome(
    f: SlackFile,
    fi: int,
    policy: Policy,
    scan: Scan,
    removed: dict[int, str],
    reasons: Counter[str],
    trace: list[tuple[int, str]],
) -> SlackFile:
    """File ``fi`` as it may leave: the boxes of its removed units and unreadable words to
    black out, or withheld; ``reasons`` and ``trace`` get what was done."""
    if policy.photo_text != "checked" or not f.mimetype.startswith("image/"):
        return f
    photo = f.photo
    if photo is None:
        reasons[NOT_CHECKED] += 1
        return f
    if photo.status is not PhotoStatus.READ:
        reasons[UNREAD] += 1
        return replace(f, withheld=photo.code or "ocr_error")
    seg = scan.seg
    boxes: list[Box] = []
    seen: set[int] = set()
    for line, (fj, _) in scan.photo_lines.items():
        if fj != fi:
            continue
        for u in seg.line_units.get(line, ()):
            rule = removed.get(u)
            if rule is None or u in seen:
                continue
            seen.add(u)
            for i, a, z in seg.units[u].spans:
                boxes.extend(boxes_between(photo.lines[scan.photo_lines[i][1]], a, z))
            reasons[photo_rule(rule)] += 1
            trace.append((u, photo_rule(rule)))
    low = low_confidence(photo, MIN_CONFIDENCE)
    if low:
        if policy.photo_text_unreadable == "withhold":
            reasons[UNREADABLE] += 1
            return replace(f, withheld="photo_text_unreadable")
        boxes.extend(low)
        reasons[UNREADABLE] += len(low)
    if not boxes:
        return f
    return replace(f, blackout=merge_boxes(boxes, photo.size))
