"""The text in a message's photos, read before it is judged and redacted before it is signed
(issue 17).

Before the policy: every photo fetched from Slack is read by the OCR (off the event loop, in
the reader's process pool) and its text attached to its file, so the policy judges it as units
of that file. After: a photo whose decision blacks out boxes is painted, re-encoded and read
again; what is read outside the black boxes is judged again for the same partner, and the
photo goes only if that comes back clean. Otherwise, and when the OCR failed, the photo is
withheld: the partner sees a line saying so, the author's note names the rule.

Nothing here logs recognised text: the flow records rule ids and counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from relay.core.envelope import FileRef, VerifiedEnvelope
from relay.core.model import Line, SlackFile, SlackMessage, Text, TextPart
from relay.core.photo import Box, PhotoStatus, outside
from relay.core.policy.content import envelope_content
from relay.core.policy.decision import Decision, RuleCount
from relay.core.policy.engine import judge
from relay.core.policy.model import Action, Policy
from relay.flow.wire import Prepared
from relay.ocr.reader import PhotoReader
from relay.store.aio import AsyncStore

__all__ = [
    "NOT_CLEAN",
    "PhotoCheck",
    "Ready",
    "Received",
    "read_received",
    "said_withheld",
    "shown_photos",
]

NOT_CLEAN: Final = "photo_text.not_clean"  # still held text to remove once blacked out
NOT_CHECKED: Final = "photo_text_not_checked"  # a photo the OCR was never asked to read

# Per partner: a Slack file id -> the bytes that go (redacted where needed) or why not.
Ready = dict[str, dict[str, Prepared | str]]


class PhotoCheck:
    def __init__(self, reader: PhotoReader, policy: Policy) -> None:
        self.reader = reader
        self.policy = policy

    async def read(self, message: SlackMessage, files: Mapping[str, Prepared]) -> SlackMessage:
        """``message`` with the text read in each of its fetched photos."""
        if self.policy.photo_text != "checked" or not files:
            return message
        out: list[SlackFile] = []
        for f in message.files:
            prepared = files.get(f.id)
            if prepared is None or not prepared.ref.mime.startswith("image/"):
                out.append(f)
                continue
            out.append(replace(f, photo=await self.reader.read(prepared.data)))
        return replace(message, files=tuple(out))

    async def finish(
        self,
        message: SlackMessage,
        files: Mapping[str, Prepared],
        decisions: dict[str, Decision],
        now: dt.datetime,
    ) -> tuple[dict[str, Decision], Ready]:
        """Each partner's photos as they go, and its decision with ``photo_text.not_clean``
        where a redacted photo still read as text to remove (that photo is withheld)."""
        ready: Ready = {}
        painted: dict[tuple[str, tuple[Box, ...]], Prepared] = {}
        out = dict(decisions)
        checked = self.policy.photo_text == "checked"
        for ori, decision in decisions.items():
            if decision.message is None or decision.action is Action.BLOCK:
                continue
            mine: dict[str, Prepared | str] = {}
            unclean = 0
            for fi, f in enumerate(decision.message.files):
                prepared = files.get(f.id)
                if prepared is None:
                    continue  # not fetched: the outbound flow says so
                if f.withheld:
                    mine[f.id] = f.withheld
                elif checked and f.photo is None and f.mimetype.startswith("image/"):
                    mine[f.id] = NOT_CHECKED  # never read: never passed as clean
                elif f.blackout:
                    key = (f.id, f.blackout)
                    if key not in painted:
                        painted[key] = await self._paint(prepared, f.blackout)
                    redacted = painted[key]
                    if await self._clean(message, fi, redacted, f.blackout, decision, ori, now):
                        mine[f.id] = redacted
                    else:
                        mine[f.id] = "photo_text_not_clean"
                        unclean += 1
            ready[ori] = mine
            if unclean:
                reasons = (*decision.reasons, RuleCount(rule=NOT_CLEAN, count=unclean))
                out[ori] = replace(
                    decision,
                    action=Action.REDACT,
                    reasons=tuple(sorted(reasons, key=lambda r: r.rule)),
                )
        return out, ready

    async def _paint(self, prepared: Prepared, boxes: tuple[Box, ...]) -> Prepared:
        data, mime = await self.reader.blackout(prepared.data, boxes)
        ref = FileRef(sha256=hashlib.sha256(data).hexdigest(), mime=mime, size=len(data))
        return Prepared(ref=ref, data=data)

    async def _clean(
        self,
        message: SlackMessage,
        fi: int,
        redacted: Prepared,
        boxes: tuple[Box, ...],
        decided: Decision,
        ori: str,
        now: dt.datetime,
    ) -> bool:
        """The redacted photo read again: nothing left for this partner's policy to remove,
        judged with the message's text (its people looked for in the photo). A release a
        supervisor made of a message the policy blocks is judged with the lines that go."""
        again = await self.reader.read(redacted.data)
        if again.status is not PhotoStatus.READ:
            return False
        files = tuple(
            replace(f, photo=outside(again, boxes)) if i == fi else replace(f, photo=None)
            for i, f in enumerate(message.files)
        )
        partner = self.policy.partners.get(ori)
        decision = judge(replace(message, files=files), self.policy, partner, now=now)
        if decision.action is Action.BLOCK and decided.message is not None:
            if any(r.rule.startswith("photo_text.") for r in decision.reasons):
                return False
            going = TextPart(where="released", lines=decided.message.lines, body=True)
            sent = replace(message, parts=(going,), files=files)
            decision = judge(sent, self.policy, partner, now=now)
        if decision.action is Action.BLOCK or decision.message is None:
            return False
        f = decision.message.files[fi]
        return not f.blackout and not f.withheld


async def read_received(
    reader: PhotoReader,
    policy: Policy,
    content: SlackMessage,
    blobs: Sequence[tuple[str, bytes] | None],
) -> SlackMessage:
    """A partner's message with the text this relay reads in its photos (``blobs``: each
    file's media type and bytes as pushed, None when not held). The receiving agency reads
    the pixels itself rather than trusting a sender's text (docs/ocr.md)."""
    if policy.photo_text != "checked" or not content.files:
        return content
    files = []
    for f, blob in zip(content.files, blobs, strict=True):
        files.append(f if blob is None else replace(f, photo=await reader.read(blob[1])))
    return replace(content, files=tuple(files))


def said_withheld(decision: Decision) -> Decision:
    """``decision`` with a line saying how many photos this agency's policy keeps back (the
    poster does not upload them: the text in them is withheld or would be blacked out)."""
    message = decision.message
    if message is None:
        return decision
    n = sum(1 for f in message.files if f.withheld or f.blackout)
    if not n:
        return decision
    line = Line((Text(f"({n} photo(s) withheld by this agency's policy: text in them)"),))
    return replace(decision, message=replace(message, lines=(*message.lines, line)))


def shown_photos(verified: VerifiedEnvelope, decision: Decision) -> VerifiedEnvelope:
    """``verified`` without the photos this agency's policy withholds or would black out: the
    poster does not upload them (the decision's lines say so, :func:`said_withheld`)."""
    files = decision.message.files if decision.message is not None else ()
    back = {n for n, f in enumerate(files) if f.withheld or f.blackout}
    if not back:
        return verified
    return replace(verified, files=tuple(f for n, f in enumerate(verified.files) if n not in back))


class Received:
    """A partner's envelope as this relay judges it: its disclosed lines and files, and the
    text this relay reads in its photos (``reader`` None: not read)."""

    def __init__(self, reader: PhotoReader | None, policy: Policy, store: AsyncStore) -> None:
        self.reader = reader
        self.policy = policy
        self.aio = store

    async def content(self, verified: VerifiedEnvelope) -> SlackMessage:
        content = envelope_content(
            [line.text for line in verified.lines],
            [(f.file.title, f.file.alt, f.file.mime, f.file.size) for f in verified.files],
        )
        if self.reader is None or not verified.files:
            return content
        held = [await self.aio.run(self.aio.store.get_blob, f.file.sha256) for f in verified.files]
        return await read_received(self.reader, self.policy, content, held)
