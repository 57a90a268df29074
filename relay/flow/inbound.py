"""Inbound: a partner's envelope -> verified -> stored -> judged -> posted -> passed on.

:meth:`Inbound.accept` answers the partner: it verifies against the pinned keys, checks that
the TLS peer is the last signer and the topic is accepted from it, and stores the envelope
durably (dedupe on issuer + envelope id, and an inbound queue row, in one transaction with its
audit record). :meth:`Inbound.process` is the inbound queue's work on one stored envelope:
judge it once with this agency's policy, hand it to the poster port, and sign a hop for every
partner routing allows, withholding what this agency's policy would not send.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from relay.core import routing
from relay.core.canonical import canonicalize
from relay.core.defaults import ENVELOPE_MAX_AGE, ENVELOPE_MAX_LIFETIME
from relay.core.envelope import EnvelopeKind, VerifiedEnvelope, verify_envelope
from relay.core.json_strict import JsonRefused, loads_strict
from relay.core.keys import Keyring
from relay.core.model import AgencyId, MessageKind
from relay.core.policy.engine import Decision, evaluate_inbound, evaluate_relay
from relay.core.policy.model import Action, Policy
from relay.core.policy.outbound import OutboundMessage
from relay.core.reasons import Reason
from relay.errors import AuditWriteError, VerificationError
from relay.federation.server import Accepted
from relay.flow.hops import blobs_present, pass_on
from relay.flow.photos import Received, said_withheld, shown_photos
from relay.flow.queues import Outcome, Worked
from relay.flow.records import Recorder, digest
from relay.flow.wire import Signer, order_key
from relay.lab.crashpoints import crash_point
from relay.store.aio import AsyncStore
from relay.store.contract import (
    BlobHoldings,
    Blobs,
    ClaimedInbound,
    InboundQueue,
    OutboxItem,
    PostCopy,
    PostMap,
    ReceiveOutcome,
)

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord


class InboundStore(InboundQueue, PostMap, Blobs, BlobHoldings, Protocol):
    """The inbound queue, where copies were posted, and the photos partners pushed."""


__all__ = ["Delivery", "Inbound", "PostPort"]

_POSTED = {  # envelope kind -> audit event and metric kind of what was done in Slack
    EnvelopeKind.POST: "post",
    EnvelopeKind.EDIT: "edit",
    EnvelopeKind.DELETE: "delete",
    EnvelopeKind.CANCEL: "cancel",
}
_VERIFIED_BYTES = 16 << 20  # envelopes verified on acceptance, kept for the queue (bounded)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """An accepted envelope, judged by this agency's inbound policy, ready to post."""

    envelope: VerifiedEnvelope
    decision: Decision
    sender: str
    attempt: int = 1  # more than 1: an earlier attempt may have posted (reconcile first)
    since: float = 0.0  # when the envelope was accepted: no attempt posted it before then
    # Copies made, mapped with the item's settlement (else the retry finds them by mark).
    posts: list[PostCopy] = field(default_factory=list)


# Posts a delivery (the Slack poster); False: withheld by this agency's choice.
PostPort = Callable[[Delivery], Awaitable[bool | None]]
_RETRACT = Decision(
    action=Action.FORWARD, reasons=(), message=OutboundMessage(kind=MessageKind.DELETE)
)


class Inbound:
    def __init__(
        self,
        *,
        agency: str,
        policy: Policy,
        keyring: Keyring,
        signer: Signer,
        store: AsyncStore,
        recorder: Recorder,
        poster: PostPort | None,
        hop_limit: int,
        skew: dt.timedelta,
        clock: Callable[[], dt.datetime],
        wake: Callable[[], None],
        mapped: Callable[[str], bool] | None = None,
        bounds: tuple[dt.timedelta, dt.timedelta] = (ENVELOPE_MAX_AGE, ENVELOPE_MAX_LIFETIME),
        photos: Received | None = None,
        duplicates: Callable[..., None] | None = None,
    ) -> None:
        self.agency = agency
        self.policy = policy
        self.keyring = keyring
        self.signer = signer
        self.aio = store  # every store call off the event loop, one facade
        self.store = store.store  # blocking: only inside a durable write
        self.recorder = recorder
        self.poster = poster  # None: a relay without a workspace judges and passes on only
        self.hop_limit = hop_limit
        self.skew = skew
        self.max_age, self.max_lifetime = bounds  # federation.envelope_max_{age,lifetime}
        # A replay's "receive ... duplicate" record, aggregated per peer and window
        # (RefusalLog.note_duplicate); None: one record per replay, in its transaction.
        self.duplicates = duplicates
        self.clock = clock
        self.wake = wake  # the inbound queue: work stored
        # Whether a topic has a channel to post in (None: no workspace, nothing is posted).
        self.mapped = mapped
        self.received = photos or Received(None, policy, store)  # lines, files, photo text
        # Envelopes this instance verified when it accepted them, until judged: the queue
        # need not verify them again. After a restart, or on another instance, it verifies
        # the stored bytes.
        self._verified: OrderedDict[tuple[str, str], tuple[VerifiedEnvelope, int]] = OrderedDict()
        self._verified_bytes = 0

    # -- the partner's request -----------------------------------------------------------
    async def accept(self, body: bytes, *, peer: str, data: object | None = None) -> Accepted:
        """``body`` as the partner sent it (``data``: already parsed, in a transaction)."""
        now = self.clock()
        if data is None:  # the listener parses it; strictly here too, for other callers
            try:
                data = loads_strict(body, max_bytes=len(body))
            except JsonRefused as exc:
                raise VerificationError("body is not strict JSON", code=exc.peer_code) from None
        verified = self.verify(data, now)
        if verified.last_signer != peer:
            raise VerificationError("TLS peer is not the last signer", code="issuer_mismatch")
        partner = self.policy.partners.get(peer)
        if partner is None or verified.topic not in partner.accept:
            raise VerificationError(
                "topic not accepted from this partner", code=Reason.TOPIC_NOT_ACCEPTED
            )
        if self.mapped is not None and not self.mapped(verified.topic):
            # accepted, but no channel: the sender keeps it queued until relay.yaml is right
            raise VerificationError(
                "topic mapped to no channel", code=Reason.TOPIC_NOT_MAPPED, http_status=422
            )
        if not await self.recorder.ready():
            raise VerificationError("audit unavailable", code=Reason.UNAVAILABLE, http_status=503)
        outcome = await self._store(verified, body, peer, now)
        crash_point("after_envelope_commit")
        new = outcome is ReceiveOutcome.NEW
        metrics = self.recorder.metrics
        metrics.envelope_received(peer, verified.topic, "new" if new else "duplicate")
        signed_at = verified.hops[-1].at if verified.hops else verified.issued_at
        metrics.observe("hop", peer, (now - signed_at).total_seconds())
        if new and len(body) <= _VERIFIED_BYTES // 16:
            self._verified[(verified.issuer, verified.envelope_id)] = (verified, len(body))
            self._verified_bytes += len(body)
            while self._verified_bytes > _VERIFIED_BYTES:
                self._verified_bytes -= self._verified.popitem(last=False)[1][1]
            self.wake()
        return Accepted(
            envelope_id=verified.envelope_id, duplicate=not new, issuer=verified.issuer
        )

    async def _store(
        self, verified: VerifiedEnvelope, body: bytes, peer: str, now: dt.datetime
    ) -> ReceiveOutcome:
        hashed = digest(canonicalize(verified.envelope.to_wire()))

        def record(got: ReceiveOutcome) -> dict[str, Any]:
            return {
                "source": peer,
                "destination": self.agency,
                "actor_agency": verified.issuer,
                "envelope_id": verified.envelope_id,
                "digest": hashed,
                "topic": verified.topic,
                "kid": verified.origin_kid,
                "outcome": "duplicate" if got is not ReceiveOutcome.NEW else "new",
            }

        def write() -> ReceiveOutcome:
            got = self.store.record_received(
                issuer=verified.issuer,
                envelope_id=verified.envelope_id,
                digest=hashed,
                sender=peer,
                body=body,
                at=now,
                order_key=order_key(verified.thread, verified.target, verified.envelope_id),
                expires_at=verified.expires_at.timestamp(),
            )
            if got is ReceiveOutcome.NEW and verified.files:  # kept while this item needs them
                self.store.name_blobs(
                    queue="inbound",
                    party=verified.issuer,
                    envelope_id=verified.envelope_id,
                    sha256s=[f.file.sha256 for f in verified.files],
                    at=now.timestamp(),
                )
            if got is ReceiveOutcome.NEW or (
                got is not ReceiveOutcome.CONFLICT and self.duplicates is None
            ):
                self.recorder.append(self.recorder.entry("receive", **record(got)))
            return got

        try:
            outcome = await self.aio.durable(write)
        except AuditWriteError:
            raise VerificationError(
                "audit unavailable", code=Reason.UNAVAILABLE, http_status=503
            ) from None
        except Exception:
            self.recorder.commit_failed()  # the commit with the receipt's record failed
            raise
        if (
            outcome is not ReceiveOutcome.NEW
            and outcome is not ReceiveOutcome.CONFLICT
            and (self.duplicates is not None)
        ):
            self.duplicates(peer, **record(outcome))  # counted; written in aggregate
        if outcome is ReceiveOutcome.CONFLICT:
            raise VerificationError(
                "envelope id reused for another envelope",
                code=Reason.REPLAYED,
                http_status=409,
            )
        return outcome

    def verify(self, data: Any, now: dt.datetime) -> VerifiedEnvelope:
        """Against the pinned keys, addressed to this relay, within the hop limit."""
        return verify_envelope(
            data,
            self.keyring,
            now=now,
            max_hops=self.hop_limit,
            skew=self.skew,
            receiver=AgencyId(self.agency),
            max_age=self.max_age,
            max_lifetime=self.max_lifetime,
        )

    # -- the inbound queue's work --------------------------------------------------------
    async def process(self, item: ClaimedInbound) -> Worked:
        """Judge, post and work out the envelopes to pass on for one accepted envelope.

        Unless this instance still holds the result of verifying it on acceptance, the
        stored bytes are verified again as of that time: nothing unverified is posted."""
        kept = self._verified.pop((item.issuer, item.envelope_id), None)
        verified = None
        if kept is not None:
            verified, size = kept
            self._verified_bytes -= size
        if verified is None:
            at = dt.datetime.fromtimestamp(item.created_at, dt.UTC)
            verified = self.verify(json.loads(item.body), at)
        records: list[AuditRecord] = []
        posts: list[PostCopy] = []
        try:
            forwards, outcome = await self._judge_and_pass_on(
                verified, item.sender, item.attempts, records, posts, since=item.created_at
            )
        except Exception:
            if posts:  # posted, then failed: the copy stays findable for the retry
                await self._keep(posts)
            raise
        return Worked(forwards=forwards, records=records, posts=posts, outcome=outcome)

    async def _keep(self, posts: list[PostCopy]) -> None:
        maps = [functools.partial(self.store.map_post, **c._asdict()) for c in posts]
        with contextlib.suppress(Exception):  # the store away: the retry looks in Slack
            await self.aio.durable(lambda: [m() for m in maps])

    async def _judge_and_pass_on(
        self,
        verified: VerifiedEnvelope,
        sender: str,
        attempt: int,
        records: list[AuditRecord],
        posts: list[PostCopy],
        *,
        since: float = 0.0,
    ) -> tuple[list[OutboxItem], Outcome]:
        """The envelopes to pass on, and what was done here (a receipt's status, reason)."""
        now = self.clock()
        content = await self.received.content(verified)  # its photos read here, not trusted
        targets = routing.relay_targets(
            self.policy,
            own=AgencyId(self.agency),
            topic=verified.topic,
            sender=AgencyId(sender),
            path=verified.path,
            hops=len(verified.hops),
            onward=verified.onward,
            hop_limit=self.hop_limit,
            now=now,
        )
        # Judged once: what this agency shows, and (when it passes the envelope on) what each
        # partner may receive of it.
        if targets:
            decision, outbound = evaluate_relay(
                content, self.policy, sender, verified.topic, now=now
            )
        else:
            decision, outbound = (
                evaluate_inbound(content, self.policy, sender, verified.topic, now=now),
                {},
            )
        decision = said_withheld(decision)
        if verified.kind is EnvelopeKind.DELETE:
            decision = _RETRACT  # a retraction carries no content to judge
        elif decision.action is Action.BLOCK and verified.kind is EnvelopeKind.EDIT:
            decision = _RETRACT  # an edit this agency will not show retracts its copy
        rules = tuple(dict.fromkeys(r.rule for r in decision.reasons))
        metrics = self.recorder.metrics
        if attempt <= 1:
            metrics.decision("inbound", sender, verified.topic, decision.action.value, rules)
        common = {
            "source": sender,
            "destination": self.agency,
            "actor_agency": verified.issuer,
            "envelope_id": verified.envelope_id,
            "topic": verified.topic,
            "policy": self.policy.ref,
        }
        records += self.recorder.entry(
            "decision", rules=rules, outcome=decision.action.value, **common
        )
        outcome: Outcome = ("refused", rules[0] if rules else None)
        if decision.action is not Action.BLOCK and self.poster is None:
            # a relay without a workspace: it relayed it, or kept it back (nothing went on)
            outcome = ("relayed", None) if targets else ("withheld", "not_passed_on")
        if decision.action is not Action.BLOCK and self.poster is not None:
            delivery = Delivery(
                envelope=shown_photos(verified, decision),  # not the photos kept back
                decision=decision,
                sender=sender,
                attempt=attempt,
                posts=posts,
                since=since,
            )
            shown = await self.poster(delivery) is not False  # posted before we go on
            what = "delete" if decision is _RETRACT else _POSTED.get(verified.kind, "post")
            if shown:
                metrics.posted(sender, what)
            if verified.kind is EnvelopeKind.POST:
                metrics.observe("posted", sender, (now - verified.issued_at).total_seconds())
            records += self.recorder.entry(
                what, outcome="posted" if shown else "withheld", **common
            )
            outcome = (
                ("retracted", rules[0] if rules else None)
                if decision is _RETRACT
                else ("posted", None)
                if shown
                else ("withheld", "orphan_reply")
            )
        if not targets:
            return [], outcome
        present = await blobs_present(self.aio, verified)
        items = [
            item
            for target in targets
            if (
                item := pass_on(
                    verified,
                    target,
                    outbound[target],
                    present,
                    now,
                    policy=self.policy,
                    signer=self.signer,
                )
            )
        ]
        for item in items:
            records += self.recorder.entry(
                "sign",
                **(common | {"destination": item.partner}),
                digest=digest(item.body),
                kid=self.signer.kid,
                outcome="hop",
            )
        if not items and outcome[0] == "relayed":
            outcome = ("withheld", "not_passed_on")
        return items, outcome
