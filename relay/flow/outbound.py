"""Outbound: a message from this agency's workspace -> judged -> signed -> queued.

The message is judged once for every partner; per partner an envelope of what that partner
may receive is built (``aud`` = the partner, ``onward`` = may it pass it on), signed, and
queued in the durable outbox in one transaction with its audit records and with the Slack
event marked done. Nothing is sent from here: the outbox (:mod:`relay.flow.outbox`) does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import structlog

from relay.core import routing
from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    build_envelope,
    sign_origin,
)
from relay.core.model import AgencyId, SlackMessage
from relay.core.mrkdwn import render_line
from relay.core.policy.engine import Decision, evaluate_outbound_all
from relay.core.policy.model import Action, Policy
from relay.errors import AuditUnavailable
from relay.flow.records import Recorder, digest
from relay.flow.wire import Prepared, Signer, order_key, wire
from relay.lab.crashpoints import crash_point
from relay.store.aio import AsyncStore
from relay.store.contract import Blobs, Outbox, OutboxItem

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord
    from relay.flow.photos import PhotoCheck, Ready
    from relay.flow.shadow import Shadow


class Declined(Exception):
    """Raised by an ``extra`` write (a review decided before) to undo the transaction: nothing
    is queued or recorded, and it is not an audit failure."""


class OutboundStore(Outbox, Blobs, Protocol):
    """What the outbound flow writes: the outbox, and the photos it pushes."""


class ReviewHook(Protocol):
    """The supervisor's review queue as the outbound flow sees it
    (:class:`relay.flow.review.ReviewQueue`)."""

    async def adjust(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> dict[str, Decision]:
        """The decisions as the review queue has them: an edit of a released message judged
        as the release was for its partners; a reply to a post held for review held too."""

    def opened(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> Callable[[], object] | None:
        """The store write that opens a review of ``out`` (None: nothing to review)."""

    def wake(self) -> None: ...

    def held_for(self, envelope_id: str) -> frozenset[str]: ...


__all__ = ["Declined", "Outbound", "Outgoing", "ReviewHook"]

log = structlog.get_logger("relay.flow")
# Reasons that mean the partner never was to get this message at all (nothing to retract).
_NOT_SHARED = frozenset({"topic_not_shared", "partner_unknown", "agreement_expired"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """A message taken from the workspace, with what the relay knows about it."""

    message: SlackMessage
    topic: str
    author: str  # the officer's display name, already judged
    envelope_id: str
    kind: EnvelopeKind
    thread: str | None = None  # the envelope id of the thread's first message
    target: str | None = None  # the envelope id an edit, delete or cancel is about
    files: Mapping[str, Prepared] = field(default_factory=dict)  # Slack file id -> bytes
    event_key: str | None = None  # the Slack event marked done with the envelopes


class Outbound:
    def __init__(
        self,
        *,
        agency: str,
        policy: Policy,
        signer: Signer,
        store: AsyncStore,
        recorder: Recorder,
        ttl: dt.timedelta,
        clock: Callable[[], dt.datetime],
        wake: Callable[[str], None],
        review: ReviewHook | None = None,
        shadow: Shadow | None = None,
        photos: PhotoCheck | None = None,
    ) -> None:
        self.agency = agency
        self.policy = policy
        self.signer = signer
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.recorder = recorder
        self.ttl = ttl
        self.clock = clock
        self.wake = wake  # the outbox loop of a partner: work queued
        self.review = review  # the supervisor's review queue (None: not configured)
        self.shadow = shadow  # the candidate policy: judged after, never in force
        self.photos = photos  # the text in photos read, and redacted (None: never read)

    async def publish(self, out: Outgoing) -> dict[str, Decision]:
        """Judge ``out`` for every partner and queue for each what it may receive. An edit
        no longer safe for a partner retracts that partner's copy (a ``delete`` envelope)
        instead of leaving the old text standing; an edit of a message a supervisor released
        is judged as the release was (its mode). What the policy stopped on rules a person
        may decide on opens a review (``review``), in the same transaction."""
        if not await self.recorder.ready():
            raise AuditUnavailable("audit writes are failing: nothing is forwarded")
        now = self.clock()
        out = await self.read_photos(out)  # the text in its photos, read first
        decisions = evaluate_outbound_all(out.message, self.policy, out.topic, now=now)
        if self.review is not None:  # released posts' edits; replies to a held post
            decisions = await self.review.adjust(out, decisions, now)
        decisions, ready = await self._photos(out, decisions, now)
        extra = self.review.opened(out, decisions, now) if self.review is not None else None
        unsent: set[str] = set()
        if out.kind is EnvelopeKind.EDIT and out.target:  # nothing to retract where it never went
            for partner, decision in decisions.items():
                if decision.action is Action.BLOCK and not await self.aio.sent_to(
                    partner, out.target
                ):
                    unsent.add(partner)
        await self._queue(out, decisions, now, extra=extra, ready=ready, unsent=frozenset(unsent))
        if self.shadow is not None:  # what leaves is queued: the candidate only compares
            await self.shadow.judge(out.message, out.topic, out.envelope_id, decisions, now)
        return decisions

    async def release(
        self, out: Outgoing, decisions: dict[str, Decision], *, inside: Callable[[], object]
    ) -> None:
        """Queue what a supervisor released (``decisions``: only the partners released to),
        with ``inside`` (the review's decision and its records) in the same transaction: if
        ``inside`` raises, nothing is queued."""
        if not await self.recorder.ready():
            raise AuditUnavailable("audit writes are failing: nothing is forwarded")
        now = self.clock()
        decisions, ready = await self._photos(out, decisions, now)
        await self._queue(out, decisions, now, extra=inside, ready=ready)

    async def read_photos(self, out: Outgoing) -> Outgoing:
        """``out`` with the text read in its photos attached to its files (issue 17): what
        the policy judges before anything is decided about it."""
        if self.photos is None or not out.files:
            return out
        return replace(out, message=await self.photos.read(out.message, out.files))

    async def _photos(
        self, out: Outgoing, decisions: dict[str, Decision], now: dt.datetime
    ) -> tuple[dict[str, Decision], Ready]:
        """Photos blacked out where the decisions say, read again, withheld unless clean."""
        if self.photos is None or not out.files:
            return decisions, {}
        return await self.photos.finish(out.message, out.files, decisions, now)

    async def _queue(
        self,
        out: Outgoing,
        decisions: dict[str, Decision],
        now: dt.datetime,
        *,
        extra: Callable[[], object] | None,
        ready: Ready,
        unsent: frozenset[str] = frozenset(),
    ) -> None:
        outgoing: list[OutboxItem] = []
        records: list[AuditRecord] = []
        blobs: dict[str, Prepared] = {}
        for partner, decision in decisions.items():
            item, made = self._envelope(
                out, partner, decision, now, ready.get(partner, {}), partner in unsent
            )
            records += made
            if item is not None:
                outgoing.append(item[0])
                blobs.update({p.ref.sha256: p for p in item[1]})

        def write() -> None:
            # One transaction: the audit records, the photos and envelopes for every partner,
            # a review opened or decided, and the Slack event marked done.
            if extra is not None:
                extra()
            self.recorder.append(records)
            for blob in blobs.values():
                self.store.put_blob(sha256=blob.ref.sha256, mime=blob.ref.mime, data=blob.data)
            self.store.enqueue(outgoing, now=now.timestamp(), finish_event=out.event_key)

        try:
            await self.aio.durable(write)
        except Declined:
            raise
        except Exception:
            if records:
                self.recorder.commit_failed()
                log.error("audit_write_failed", envelope=out.envelope_id)
            raise
        crash_point("after_outbox_commit")
        if out.message.ts and out.kind is EnvelopeKind.POST:
            with contextlib.suppress(ValueError):
                waited = now.timestamp() - float(out.message.ts)
                for queued in outgoing:
                    self.recorder.metrics.observe("queued", queued.partner, waited)
        for queued in outgoing:
            self.wake(queued.partner)
        if self.review is not None:
            self.review.wake()

    def _envelope(
        self,
        out: Outgoing,
        partner: str,
        decision: Decision,
        now: dt.datetime,
        ready: Mapping[str, Prepared | str],
        unsent: bool = False,
    ) -> tuple[tuple[OutboxItem, list[Prepared]] | None, list[AuditRecord]]:
        """The signed envelope for one partner (None: nothing goes) and its records."""
        rules = tuple(dict.fromkeys(r.rule for r in decision.reasons))
        actor = out.message.user or None
        self.recorder.metrics.decision(
            "outbound", partner, out.topic, decision.action.value, rules
        )
        common = {
            "source": self.agency,
            "destination": partner,
            "actor_user": actor,
            "actor_agency": self.agency if actor else None,
            "envelope_id": out.envelope_id,
            "topic": out.topic,
            "policy": self.policy.ref,
        }
        records: list[AuditRecord] = [
            *self.recorder.entry("decision", rules=rules, outcome=decision.action.value, **common)
        ]
        kind, lines, refs, blobs = out.kind, [], [], []
        if decision.action is Action.BLOCK or decision.message is None:
            if (
                out.kind is not EnvelopeKind.EDIT
                or unsent  # the partner never had it (held for review, say): no retraction
                or decision.reasons[0].rule in _NOT_SHARED
            ):
                return None, records
            kind = EnvelopeKind.DELETE  # retract what the partner has
        else:
            lines = [render_line(line) for line in decision.message.lines]
            missing = withheld = 0
            for f in decision.message.files:
                prepared = ready.get(f.id, out.files.get(f.id))
                unread = (
                    prepared is not None
                    and self.policy.photo_text == "checked"
                    and f.photo is None
                    and f.mimetype.startswith("image/")
                )
                if isinstance(prepared, str) or f.withheld or unread:
                    withheld += 1  # its text could not be checked or cleaned (issue 17)
                elif prepared is not None:  # title and alt text as the policy let them go
                    refs.append(replace(prepared.ref, title=f.title[:1000], alt=f.alt_txt[:1000]))
                    blobs.append(prepared)
                else:  # Slack would not hand it over: said, never dropped without a trace
                    missing += 1
            if missing:
                lines.append(f"_({missing} photo(s) could not be forwarded by the relay)_")
            if withheld:
                lines.append(
                    f"_({withheld} photo(s) withheld by the relay: the text in them could not "
                    "be checked)_"
                )
        try:
            unsigned = build_envelope(
                issuer=AgencyId(self.agency),
                envelope_id=EnvelopeId(out.envelope_id),
                issued_at=now,
                expires_at=now + self.ttl,
                kind=kind,
                topic=out.topic,
                marking=decision.marking,
                author=Author(name=out.author, agency=AgencyId(self.agency)),
                lines=lines,
                files=refs,
                salts=[secrets.token_urlsafe(16) for _ in range(len(lines) + len(refs))],
                thread=EnvelopeId(out.thread) if out.thread else None,
                broadcast=out.message.broadcast and out.thread is not None,
                target=EnvelopeId(out.target) if out.target else None,
                audience=AgencyId(partner),
                onward=routing.onward_allowed(self.policy, self.policy.partners[partner]),
            )
        except ValueError:
            # e.g. more lines than an envelope holds: nothing goes, the reason is kept
            self.recorder.problem("outbound", out.envelope_id, "envelope_invalid")
            return None, records
        body = wire(sign_origin(unsigned, key=self.signer.key, kid=self.signer.kid))
        records += self.recorder.entry(
            "sign", digest=digest(body), kid=self.signer.kid, outcome=kind.value, **common
        )
        item = OutboxItem(
            partner=partner,
            envelope_id=out.envelope_id,
            order_key=order_key(out.thread, out.target, out.envelope_id),
            body=body,
            blobs=tuple((b.ref.sha256, b.ref.mime) for b in blobs),
            expires_at=(now + self.ttl).timestamp(),
        )
        return (item, blobs), records
