"""The relay service: wires the pure core to the ports (store, peer client, delivery).

Outbound: ``publish`` judges a message once, per partner builds an envelope of what that
partner may receive (``aud`` = the partner, ``onward`` = may it pass it on), signs and sends.
Inbound: ``handle_peer_envelope`` verifies against pinned keys, checks the TLS peer is the
last signer and the topic is accepted from it, stores durably (dedupe on issuer + envelope id,
and an inbound queue row, in one transaction), answers; then the inbound queue applies the
inbound policy, hands the message to the delivery port (the Slack poster) and queues it for
the partners routing allows, withholding every line its own policy would not send.

Nothing is sent from here directly: every envelope goes through the durable outbox
(:mod:`relay.delivery`), so a crash, restart or partner outage loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core import routing
from relay.core.backoff import Attempt
from relay.core.canonical import canonicalize
from relay.core.envelope import (
    Author,
    EnvelopeId,
    EnvelopeKind,
    FileRef,
    SignedEnvelope,
    VerifiedEnvelope,
    add_hop,
    build_envelope,
    sign_origin,
    verify_envelope,
)
from relay.core.keys import KeyId, Keyring, PinnedKey, public_jwk
from relay.core.model import AgencyId, MessageKind, SlackMessage
from relay.core.mrkdwn import render_line
from relay.core.policy.content import envelope_content
from relay.core.policy.engine import Decision, evaluate_inbound, evaluate_outbound_all
from relay.core.policy.model import Action, Policy
from relay.core.policy.outbound import OutboundMessage
from relay.delivery import Dispatcher, InboundWorker, QueueTuning, WireSender, Worked
from relay.errors import VerificationError
from relay.federation.server import Accepted, LinkReason
from relay.lab.crashpoints import crash_point
from relay.ledger import AuditWriteError
from relay.metrics import RelayMetrics
from relay.store.contract import (
    ClaimedEnvelope,
    ClaimedInbound,
    OutboxItem,
    ReceiveOutcome,
    RefusalRecord,
    Store,
)
from relay.store.group import GroupWriter

if TYPE_CHECKING:
    from relay.core.audit import AuditRecord
    from relay.ledger import Ledger

__all__ = ["AuditUnavailable", "Delivery", "Prepared", "RelayService", "Sender"]

# Reasons that mean the partner never was to get this message at all (nothing to retract).
_NOT_SHARED = frozenset({"topic_not_shared", "partner_unknown", "agreement_expired"})
log = structlog.get_logger("relay.service")
# Audit fields whose values come from outside (Slack, partners): left out if they do not fit.
_LOOSE_FIELDS = frozenset({"actor_user", "topic", "rules", "kid", "actor_agency", "source"})
_POSTED = {  # envelope kind -> audit event and metric kind of what was done in Slack
    EnvelopeKind.POST: "post",
    EnvelopeKind.EDIT: "edit",
    EnvelopeKind.DELETE: "delete",
    EnvelopeKind.CANCEL: "cancel",
}
_KIND = {
    MessageKind.POST: EnvelopeKind.POST,
    MessageKind.EDIT: EnvelopeKind.EDIT,
    MessageKind.DELETE: EnvelopeKind.DELETE,
}


class AuditUnavailable(AuditWriteError):
    """Audit writes are failing: nothing is forwarded until the ledger takes writes again.
    Retryable: the Slack event (or queue item) stays and is tried again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="audit_unavailable")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A file ready to share: its metadata claim and its re-encoded bytes."""

    ref: FileRef
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """An accepted envelope, judged by this agency's inbound policy, ready to post."""

    envelope: VerifiedEnvelope
    decision: Decision
    sender: str
    attempt: int = 1  # more than 1: an earlier attempt may have posted (reconcile first)


Sender = WireSender  # the port envelopes leave through (``PeerClient`` in production)
Poster = Callable[[Delivery], Awaitable[None]]


def _order_key(thread: str | None, target: str | None, own: str) -> str:
    """A thread's first message: its replies, edits, deletes and cancels queue behind it."""
    return thread or target or own


class RelayService:
    def __init__(
        self,
        *,
        agency: str,
        policy: Policy,
        keyring: Keyring,
        signing_key: Ed25519PrivateKey,
        signing_kid: str,
        store: Store,
        sender: Sender,
        fingerprints: dict[str, str],
        hop_limit: int = 4,
        skew: dt.timedelta = dt.timedelta(minutes=2),
        ttl: dt.timedelta = dt.timedelta(days=30),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        tuning: QueueTuning | None = None,
        instance: str | None = None,
        metrics: RelayMetrics | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.agency = agency
        self.policy = policy
        # A relay's own key is pinned too: its own envelopes coming back must verify so the
        # loop is named as such.
        own = PinnedKey(
            kid=KeyId(signing_kid),
            agency=AgencyId(agency),
            public_key=signing_key.public_key().public_bytes_raw(),
            not_before=dt.datetime.min.replace(tzinfo=dt.UTC),
        )
        self.keyring = (
            keyring
            if any(k.kid == signing_kid for k in keyring.keys)
            else Keyring.of([*keyring.keys, own])
        )
        self._key = signing_key
        self._kid = signing_kid
        self.store = store
        self.sender = sender
        self._fingerprints = fingerprints  # sha256 hex -> partner ORI
        self.hop_limit = hop_limit
        self.skew = skew
        self.ttl = ttl
        self.clock = clock
        self.delivered: asyncio.Queue[Delivery] = asyncio.Queue()
        self.poster: Poster | None = None  # set by the Slack bridge; else ``delivered``
        self.undelivered: list[tuple[str, str, str]] = []  # (partner, envelope id, reason)
        self.failures: list[tuple[str, str]] = []  # (envelope id, reason code): never text
        # This instance's name on leases: several instances may share one database.
        self.instance = instance or f"{agency}-{uuid.uuid4().hex[:12]}"
        self.tuning = tuning or QueueTuning()
        self.metrics = metrics if metrics is not None else RelayMetrics()
        self.ledger = ledger  # None only in unit tests: production always keeps the ledger
        if ledger is not None:
            ledger.watch(
                on_failure=self.metrics.audit_failed, on_append=self.metrics.audit_appended
            )
        self.writer = GroupWriter(store)  # writes that precede an acknowledgement, batched
        self.dispatcher = Dispatcher(
            store,
            sender,
            lambda: list(self.policy.partners),
            owner=self.instance,
            clock=self._now,
            tuning=self.tuning,
            on_dead=self._outbox_dead,
            metrics=self.metrics,
            audit=self._audit_forwards if ledger is not None else None,
            may_send=self.audit_ready,
            on_settle_failed=self._settle_failed,
            writer=self.writer,
        )
        self.inbound = InboundWorker(
            store,
            self._process_item,
            owner=self.instance,
            clock=self._now,
            tuning=self.tuning,
            on_forward=self._forwarded,
            on_dead=self._inbound_dead,
            writer=self.writer,
            audit=self._audit_inbound if ledger is not None else None,
            may_take=self.audit_ready,
            on_settle_failed=self._settle_failed,
        )
        self._probe: asyncio.Future[bool] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Envelopes this instance verified when it accepted them, until judged (bounded): the
        # inbound queue need not verify them again. After a restart, or on another instance,
        # it verifies the stored bytes.
        self._verified: OrderedDict[tuple[str, str], VerifiedEnvelope] = OrderedDict()

    def _now(self) -> float:
        return self.clock().timestamp()

    # -- the queues ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the outbox and inbound queue loops (call inside the running event loop);
        what an earlier run left in flight is resumed once its lease expires."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self.dispatcher.run()),
                asyncio.create_task(self.inbound.run()),
                asyncio.create_task(self._heartbeat()),
            ]

    async def _heartbeat(self) -> None:
        """Renew this instance's leases every third of a lease while it runs: work that
        takes longer than a lease (a batch paced by Slack) stays its own; when the instance
        dies the heartbeat stops and the leases run out."""
        every = self.tuning.lease / 3
        while True:
            await asyncio.sleep(every)
            until = self._now() + self.tuning.lease
            try:
                await asyncio.to_thread(self.store.renew, self.instance, until=until)
            except Exception:  # noqa: BLE001 - the store is away: the next beat tries again
                self.failures.append(("heartbeat", "store_unavailable"))
                log.warning("lease_heartbeat_failed", reason="store_unavailable")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Claim nothing more, finish the batches in hand within ``timeout`` seconds, then
        give back every lease still held so another instance (or the next start) takes over
        at once."""
        self.dispatcher.stop()
        self.inbound.stop()
        if self._tasks:
            self._tasks[-1].cancel()  # the heartbeat: leases are released below
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        try:
            self.store.release(self.instance)
        except Exception:  # noqa: BLE001 - the leases expire on their own
            self.failures.append(("release", "store_unavailable"))
            log.warning("lease_release_failed", reason="store_unavailable")

    def _outbox_dead(self, item: ClaimedEnvelope, reason: str) -> None:
        self.undelivered.append((item.partner, item.envelope_id, reason))
        self._dead_letter("outbox", item.partner, item.envelope_id, reason)

    def _inbound_dead(self, item: ClaimedInbound, reason: str) -> None:
        self.failures.append((item.envelope_id, reason))
        self._dead_letter("inbound", item.sender, item.envelope_id, reason)

    def _dead_letter(self, queue: str, peer: str, envelope_id: str, reason: str) -> None:
        """A dead letter counted and logged (ids and codes only)."""
        self.metrics.dead_letter(queue, peer, reason)
        log.warning("dead_letter", queue=queue, partner=peer, envelope=envelope_id, reason=reason)

    # -- the audit ledger ----------------------------------------------------------------
    async def audit_ready(self) -> bool:
        """May this relay forward now? Not while audit writes fail: the ledger is tried
        again (it records that writes came back) and forwarding resumes when it succeeds.
        Callers waiting together share one attempt (one ``audit_recovered`` record)."""
        ledger = self.ledger
        if ledger is None or not ledger.failing:
            return True
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._probe_ledger(ledger))
        return await asyncio.shield(self._probe)

    async def _probe_ledger(self, ledger: Ledger) -> bool:
        try:
            await self.writer.run(
                lambda: ledger.append([ledger.entry("audit_recovered", outcome="recovered")])
            )
        except Exception:  # noqa: BLE001 - still failing: forwarding stays stopped
            return False
        log.warning("audit_recovered")
        return True

    def _settle_failed(self) -> None:
        """A queue settlement (which carries audit records) did not commit."""
        if self.ledger is not None and not self.ledger.failing:
            self.ledger.mark_failed()

    def _audit_entries(self, event: str, **fields: Any) -> list[AuditRecord]:
        """One record (none without a ledger). A value from outside that does not fit its
        field's closed shape (a test's short user id, a partner's odd topic) is left out,
        never written; the record keeps every other field."""
        if self.ledger is None:
            return []
        while True:
            try:
                return [self.ledger.entry(event, **fields)]
            except ValueError as exc:
                field = str(exc)
                if field not in _LOOSE_FIELDS or field not in fields:
                    raise
                log.warning("audit_field_refused", audit_event=event, field=field)
                fields = {k: v for k, v in fields.items() if k != field}

    def _audit_forwards(
        self, sent: Sequence[tuple[ClaimedEnvelope, str]], unconfirmed: Sequence[ClaimedEnvelope]
    ) -> None:
        """In the transaction that settles the outbox: one ``forward`` per envelope a
        partner accepted (who received what, when: the dissemination record), and one with
        outcome ``unconfirmed`` per envelope given up after earlier attempts, any of which
        may have reached the partner (an answer lost, or a settlement that died)."""
        ledger = self.ledger
        if ledger is None or not (sent or unconfirmed):
            return
        answered = [*sent, *((item, "unconfirmed") for item in unconfirmed)]
        ledger.append(
            [
                record
                for item, outcome in answered
                for record in self._audit_entries(
                    "forward",
                    source=self.agency,
                    destination=item.partner,
                    envelope_id=item.envelope_id,
                    digest=hashlib.sha256(item.body).hexdigest(),
                    policy=self.policy.ref,
                    outcome=outcome,
                    kid=self._kid,
                )
            ]
        )

    def _forwarded(self, items: list[OutboxItem]) -> None:
        for item in items:
            self.dispatcher.wake(item.partner)

    # -- outbound ------------------------------------------------------------------------
    async def publish(
        self,
        message: SlackMessage,
        *,
        topic: str,
        author: str,
        envelope_id: str | None = None,
        kind: EnvelopeKind | None = None,
        thread: str | None = None,
        target: str | None = None,
        files: Mapping[str, Prepared] | None = None,
        event_key: str | None = None,
    ) -> dict[str, Decision]:
        """Judge ``message`` for every partner and queue for each what it may receive (in
        one transaction with marking the Slack event ``event_key`` processed).

        ``files`` maps a Slack file id to its re-encoded bytes; a partner receives the files
        its decision kept. An edit that is no longer safe for a partner retracts that
        partner's copy (a ``delete`` envelope) instead of leaving the old text standing.
        """
        if not await self.audit_ready():
            raise AuditUnavailable("audit writes are failing: nothing is forwarded")
        now = self.clock()
        decisions = evaluate_outbound_all(message, self.policy, topic, now=now)
        jti = EnvelopeId(envelope_id or str(uuid.uuid4()))
        kind = kind or _KIND.get(message.kind, EnvelopeKind.POST)
        outgoing: list[OutboxItem] = []
        records: list[AuditRecord] = []
        actor = message.user if message.user else None
        for partner, decision in decisions.items():
            rules = tuple(dict.fromkeys(r.rule for r in decision.reasons))
            self.metrics.decision("outbound", partner, topic, decision.action.value, rules)
            records += self._audit_entries(
                "decision",
                source=self.agency,
                destination=partner,
                actor_user=actor,
                actor_agency=self.agency if actor else None,
                envelope_id=jti,
                topic=topic,
                rules=rules,
                policy=self.policy.ref,
                outcome=decision.action.value,
            )
            this_kind, lines, refs, blobs = kind, [], [], []
            if decision.action is Action.BLOCK or decision.message is None:
                if kind is not EnvelopeKind.EDIT or decision.reasons[0].rule in _NOT_SHARED:
                    continue
                this_kind = EnvelopeKind.DELETE  # retract what the partner has
            else:
                lines = [render_line(line) for line in decision.message.lines]
                for f in decision.message.files:
                    prepared = (files or {}).get(f.id)
                    if prepared is not None:  # title and alt text as the policy let them go
                        refs.append(
                            replace(prepared.ref, title=f.title[:1000], alt=f.alt_txt[:1000])
                        )
                        blobs.append(prepared)
            try:
                unsigned = build_envelope(
                    issuer=AgencyId(self.agency),
                    envelope_id=jti,
                    issued_at=now,
                    expires_at=now + self.ttl,
                    kind=this_kind,
                    topic=topic,
                    marking="LES",
                    author=Author(name=author, agency=AgencyId(self.agency)),
                    lines=lines,
                    files=refs,
                    salts=[_salt() for _ in range(len(lines) + len(refs))],
                    thread=EnvelopeId(thread) if thread else None,
                    broadcast=message.broadcast and thread is not None,
                    target=EnvelopeId(target) if target else None,
                    audience=AgencyId(partner),
                    onward=routing.onward_allowed(self.policy, self.policy.partners[partner]),
                )
            except ValueError:
                # e.g. more lines than an envelope holds: nothing goes, the reason is kept
                self.undelivered.append((partner, jti, "envelope_invalid"))
                log.warning("envelope_invalid", partner=partner, envelope=jti)
                continue
            signed = sign_origin(unsigned, key=self._key, kid=self._kid)
            body = _wire(signed)
            records += self._audit_entries(
                "sign",
                source=self.agency,
                destination=partner,
                actor_user=actor,
                actor_agency=self.agency if actor else None,
                envelope_id=jti,
                digest=hashlib.sha256(body).hexdigest(),
                topic=topic,
                policy=self.policy.ref,
                kid=self._kid,
                outcome=this_kind.value,
            )
            for blob in blobs:  # kept with the envelope: the outbox pushes them first
                self.store.put_blob(sha256=blob.ref.sha256, mime=blob.ref.mime, data=blob.data)
            outgoing.append(
                OutboxItem(
                    partner=partner,
                    envelope_id=jti,
                    order_key=_order_key(thread, target, jti),
                    body=body,
                    blobs=tuple((b.ref.sha256, b.ref.mime) for b in blobs),
                    expires_at=(now + self.ttl).timestamp(),
                )
            )
        # One transaction: the audit records, the envelopes for every partner, and the Slack
        # event marked done.
        ledger = self.ledger

        def write() -> None:
            if ledger is not None and records:
                ledger.append(records)
            self.store.enqueue(outgoing, now=now.timestamp(), finish_event=event_key)

        try:
            await self.writer.run(write)
        except Exception:
            if ledger is not None and records:
                if not ledger.failing:
                    ledger.mark_failed()  # the commit failed: the records are not kept
                log.error("audit_write_failed", envelope=jti)
            raise
        crash_point("after_outbox_commit")
        if message.ts and kind is EnvelopeKind.POST:
            with contextlib.suppress(ValueError):
                waited = now.timestamp() - float(message.ts)
                for item in outgoing:
                    self.metrics.observe("queued", item.partner, waited)
        for item in outgoing:
            self.dispatcher.wake(item.partner)
        return decisions

    # -- inbound -------------------------------------------------------------------------
    def partner_for_fingerprint(self, fingerprint: str) -> str | None:
        return self._fingerprints.get(fingerprint)

    def public_jwks(self) -> dict[str, Any]:
        public = self._key.public_key().public_bytes_raw()
        return {"keys": [public_jwk(public, kid=self._kid)]}

    async def readiness(self) -> dict[str, bool]:
        try:
            await asyncio.to_thread(self.store.ping)
            store_ok = True
        except Exception:  # noqa: BLE001 - any failure means not ready
            store_ok = False
        now = self.clock()
        keys_ok = any(
            not k.revoked and k.not_before <= now and (k.not_after is None or now < k.not_after)
            for k in self.keyring.keys
        )
        return {"store": store_ok, "policy": True, "partner_keys": keys_ok}

    def record_refusal(self, record: RefusalRecord) -> None:
        self.metrics.envelope_refused(record.peer, record.reason)
        log.info(
            "envelope_refused",
            partner=record.peer,
            reason=record.reason,
            status=record.http_status,
            digest=record.digest,
        )
        self.store.record_refusal(record)
        ledger = self.ledger
        if ledger is not None:
            with contextlib.suppress(Exception):  # counted and logged by the ledger
                ledger.append(
                    self._audit_entries(
                        "refusal",
                        source=record.peer if record.peer != "unknown" else None,
                        destination=self.agency,
                        envelope_id=record.envelope_id,
                        digest=record.digest,
                        outcome=record.reason,
                    )
                )

    def store_blob(self, sha256: str, mime: str, data: bytes) -> None:
        self.store.put_blob(sha256=sha256, mime=mime, data=data)

    async def handle_peer_envelope(self, body: bytes, *, peer: str) -> Accepted:
        now = self.clock()
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise VerificationError(
                "body is not JSON", code=LinkReason.BAD_REQUEST, http_status=400
            ) from None
        verified = self._verify(data, now)
        if verified.last_signer != peer:
            raise VerificationError("TLS peer is not the last signer", code="issuer_mismatch")
        partner = self.policy.partners.get(peer)
        if partner is None or verified.topic not in partner.accept:
            raise VerificationError(
                "topic not accepted from this partner", code=LinkReason.TOPIC_NOT_ACCEPTED
            )
        digest = hashlib.sha256(canonicalize(verified.envelope.to_wire())).hexdigest()
        ledger = self.ledger
        if ledger is not None and not await self.audit_ready():
            raise VerificationError(
                "audit unavailable", code=LinkReason.UNAVAILABLE, http_status=503
            )

        def write() -> ReceiveOutcome:
            got = self.store.record_received(
                issuer=verified.issuer,
                envelope_id=verified.envelope_id,
                digest=digest,
                sender=peer,
                body=body,
                at=now,
                order_key=f"{verified.issuer}/"
                + _order_key(verified.thread, verified.target, verified.envelope_id),
                expires_at=verified.expires_at.timestamp(),
            )
            if ledger is not None and got is not ReceiveOutcome.CONFLICT:
                ledger.append(
                    self._audit_entries(
                        "receive",
                        source=peer,
                        destination=self.agency,
                        actor_agency=verified.issuer,
                        envelope_id=verified.envelope_id,
                        digest=digest,
                        topic=verified.topic,
                        kid=verified.origin_kid,
                        outcome="duplicate" if got is not ReceiveOutcome.NEW else "new",
                    )
                )
            return got

        try:
            outcome = await self.writer.run(write)
        except AuditWriteError:
            raise VerificationError(
                "audit unavailable", code=LinkReason.UNAVAILABLE, http_status=503
            ) from None
        except Exception:
            if ledger is not None:
                ledger.mark_failed()  # the commit with the receipt's record failed
            raise
        if outcome is ReceiveOutcome.CONFLICT:
            raise VerificationError(
                "envelope id reused for another envelope",
                code=LinkReason.REPLAYED,
                http_status=409,
            )
        crash_point("after_envelope_commit")
        self.metrics.envelope_received(
            peer, verified.topic, "new" if outcome is ReceiveOutcome.NEW else "duplicate"
        )
        signed_at = verified.hops[-1].at if verified.hops else verified.issued_at
        self.metrics.observe("hop", peer, (now - signed_at).total_seconds())
        if outcome is ReceiveOutcome.NEW:
            self._verified[(verified.issuer, verified.envelope_id)] = verified
            while len(self._verified) > 4096:
                self._verified.popitem(last=False)
            self.inbound.wake()
        return Accepted(
            envelope_id=verified.envelope_id, duplicate=outcome is not ReceiveOutcome.NEW
        )

    def _verify(self, data: Any, now: dt.datetime) -> VerifiedEnvelope:
        """Against the pinned keys, addressed to this relay, within the hop limit."""
        return verify_envelope(
            data,
            self.keyring,
            now=now,
            max_hops=self.hop_limit,
            skew=self.skew,
            receiver=AgencyId(self.agency),
        )

    async def _process_item(self, item: ClaimedInbound) -> Worked:
        """Judge, post and work out the envelopes to pass on for one accepted envelope.

        It was verified when accepted. Unless this instance still holds that result (same
        process, same pinned keys), the stored bytes are verified again as of that time, so
        nothing unverified is ever posted."""
        verified = self._verified.pop((item.issuer, item.envelope_id), None)
        if verified is None:
            verified = self._verify(
                json.loads(item.body), dt.datetime.fromtimestamp(item.created_at, dt.UTC)
            )
        records: list[AuditRecord] = []
        forwards = await self._judge_and_pass_on(
            verified, item.sender, attempt=item.attempts, records=records
        )
        return Worked(forwards=forwards, records=records)

    def _audit_inbound(
        self, item: ClaimedInbound, outcome: Attempt | None, records: Sequence[AuditRecord]
    ) -> None:
        """In the transaction that settles an inbound item. Done (``outcome`` None): its
        decision, what was posted and what was signed onward. Written with the step, not
        before it: the inbound queue takes nothing while audit writes fail, and a settlement
        whose records cannot be written is kept and settled again until they are. Given up
        after earlier attempts: a ``post`` record with outcome ``unconfirmed`` (one of them
        may have posted)."""
        ledger = self.ledger
        if ledger is None:
            return
        if outcome is not None and outcome.state == "dead" and item.attempts > 1:
            records = self._audit_entries(
                "post",
                source=item.sender,
                destination=self.agency,
                actor_agency=item.issuer,
                envelope_id=item.envelope_id,
                policy=self.policy.ref,
                outcome="unconfirmed",
            )
        elif outcome is not None:
            return  # a retry to come: nothing done yet
        ledger.append(records)

    async def _judge_and_pass_on(
        self,
        verified: VerifiedEnvelope,
        sender: str,
        *,
        attempt: int = 1,
        records: list[AuditRecord],
    ) -> list[OutboxItem]:
        now = self.clock()
        content = envelope_content(
            [line.text for line in verified.lines],
            [(f.file.title, f.file.alt, f.file.mime, f.file.size) for f in verified.files],
        )
        retract = Decision(
            action=Action.FORWARD, reasons=(), message=OutboundMessage(kind=MessageKind.DELETE)
        )
        if verified.kind is EnvelopeKind.DELETE:
            decision = retract  # a retraction carries no content to judge
        else:
            decision = evaluate_inbound(content, self.policy, sender, verified.topic, now=now)
            if decision.action is Action.BLOCK and verified.kind is EnvelopeKind.EDIT:
                decision = retract  # an edit this agency will not show retracts its copy
        rules = tuple(dict.fromkeys(r.rule for r in decision.reasons))
        if attempt <= 1:
            self.metrics.decision("inbound", sender, verified.topic, decision.action.value, rules)
        records += self._audit_entries(
            "decision",
            source=sender,
            destination=self.agency,
            actor_agency=verified.issuer,
            envelope_id=verified.envelope_id,
            topic=verified.topic,
            rules=rules,
            policy=self.policy.ref,
            outcome=decision.action.value,
        )
        if decision.action is not Action.BLOCK:
            delivery = Delivery(
                envelope=verified, decision=decision, sender=sender, attempt=attempt
            )
            if self.poster is not None:
                await self.poster(delivery)  # posted (and its ts stored) before we go on
                what = "delete" if decision is retract else _POSTED.get(verified.kind, "post")
                self.metrics.posted(sender, what)
                if verified.kind is EnvelopeKind.POST:
                    waited = (now - verified.issued_at).total_seconds()
                    self.metrics.observe("posted", sender, waited)
                records += self._audit_entries(
                    what,
                    source=sender,
                    destination=self.agency,
                    actor_agency=verified.issuer,
                    envelope_id=verified.envelope_id,
                    topic=verified.topic,
                    policy=self.policy.ref,
                    outcome="posted",
                )
            else:
                await self.delivered.put(delivery)
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
        if not targets:
            return []
        outbound = evaluate_outbound_all(content, self.policy, verified.topic, now=now)
        has_content = verified.kind in (EnvelopeKind.POST, EnvelopeKind.CANCEL)
        forwards = (
            self._pass_on(verified, target, outbound[target], has_content, now)
            for target in targets
        )
        items = [item for item in forwards if item is not None]
        records.extend(
            [
                record
                for item in items
                for record in self._audit_entries(
                    "sign",
                    source=sender,
                    destination=item.partner,
                    actor_agency=verified.issuer,
                    envelope_id=verified.envelope_id,
                    digest=hashlib.sha256(item.body).hexdigest(),
                    topic=verified.topic,
                    policy=self.policy.ref,
                    kid=self._kid,
                    outcome="hop",
                )
            ]
        )
        return items

    def _pass_on(
        self,
        verified: VerifiedEnvelope,
        target: str,
        decision: Decision,
        content: bool,
        now: dt.datetime,
    ) -> OutboxItem | None:
        """Append this relay's hop for ``target``, withholding what its policy would not
        send: every line and file the decision did not keep exactly as it came (a line the
        policy cut a sentence out of, or a file whose title it cleared, cannot be re-signed,
        so it is withheld whole). A post with nothing left is not passed on; an edit or
        delete always is (an edit with every line withheld retracts the copy downstream)."""
        blocked = decision.action is Action.BLOCK or decision.message is None
        kept = set() if blocked else decision.kept_lines
        kept_files = set() if blocked else decision.kept_files
        if content and not kept:
            return None
        withhold = [line.index for i, line in enumerate(verified.lines) if i not in kept]
        withhold_files, blobs = [], []
        for i, f in enumerate(verified.files):  # the outbox pushes the bytes of what goes on
            if (
                i not in kept_files
                or f.file.mime not in self.policy.file_types
                or self.store.get_blob(f.file.sha256) is None
            ):
                withhold_files.append(f.index)
            else:
                blobs.append((f.file.sha256, f.file.mime))
        hopped = add_hop(
            verified.envelope,
            key=self._key,
            kid=self._kid,
            from_agency=verified.last_signer,
            to_agency=AgencyId(target),
            at=now,
            policy=self.policy.ref,
            withhold_lines=withhold,
            withhold_files=withhold_files,
            onward=routing.onward_allowed(self.policy, self.policy.partners[target]),
        )
        return OutboxItem(
            partner=target,
            envelope_id=verified.envelope_id,
            order_key=f"{verified.issuer}/"
            + _order_key(verified.thread, verified.target, verified.envelope_id),
            body=_wire(hopped),
            blobs=tuple(blobs),
            expires_at=verified.expires_at.timestamp(),
        )

    async def drain(self, rounds: int = 3) -> None:
        """Until the queues have nothing due: everything accepted has been judged and posted,
        and every envelope sent or waiting for a retry (tests, ``relay demo``)."""
        if not self._tasks:
            return
        for _ in range(rounds):
            self.inbound.wake()
            self.dispatcher.wake()
            await self.inbound.idle()
            await self.dispatcher.idle()


def _wire(envelope: SignedEnvelope) -> bytes:
    return json.dumps(envelope.to_wire(), separators=(",", ":")).encode()


def _salt() -> str:
    return secrets.token_urlsafe(16)
