"""The relay service: wires the pure core to the ports (store, peer client, delivery).

Outbound: ``publish`` judges a message once, per partner builds an envelope of what that
partner may receive (``aud`` = the partner, ``onward`` = may it pass it on), signs and sends.
Inbound: ``handle_peer_envelope`` verifies against pinned keys, checks the TLS peer is the
last signer and the topic is accepted from it, stores durably (dedupe on issuer + envelope id),
answers; then ``_process`` applies the inbound policy, hands the message to the delivery port
and re-forwards where routing allows, withholding every line its own policy would not send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core import routing
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
from relay.core.model import AgencyId, Line, MessageKind, SlackMessage, TextPart
from relay.core.mrkdwn import parse_mrkdwn, render_line
from relay.core.policy.engine import Decision, evaluate_inbound, evaluate_outbound_all
from relay.core.policy.model import Action, Policy
from relay.core.policy.outbound import OutboundMessage
from relay.errors import DeliveryError, VerificationError
from relay.federation.server import Accepted, LinkReason
from relay.store.contract import ReceiveOutcome, RefusalRecord, Store

__all__ = ["Delivery", "Prepared", "RelayService", "Sender"]

# Reasons that mean the partner never was to get this message at all (nothing to retract).
_NOT_SHARED = frozenset({"topic_not_shared", "partner_unknown", "agreement_expired"})
_KIND = {
    MessageKind.POST: EnvelopeKind.POST,
    MessageKind.EDIT: EnvelopeKind.EDIT,
    MessageKind.DELETE: EnvelopeKind.DELETE,
}


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


class Sender(Protocol):
    """The port the service sends through (``PeerClient`` in production)."""

    async def send(self, partner: str, envelope: dict[str, Any]) -> object: ...

    async def put_blob(self, partner: str, sha256: str, mime: str, data: bytes) -> None: ...


def _lines_message(lines: Sequence[str]) -> SlackMessage:
    parsed: list[Line] = []
    for text in lines:
        parsed.extend(parse_mrkdwn(text) or (Line(()),))
    return SlackMessage(
        kind=MessageKind.POST,
        subtype="",
        channel=None,
        ts=None,
        target_ts=None,
        thread_ts=None,
        broadcast=False,
        user=None,
        team=None,
        bot_id=None,
        parts=(TextPart(where="envelope", lines=tuple(parsed), body=True),),
        files=(),
        from_blocks=False,
    )


def _kept_indices(original: Sequence[str], decision: Decision) -> set[int]:
    """Indices of lines that leave unchanged (a line the policy rewrote cannot be re-signed,
    so it is withheld, as is every line the policy dropped)."""
    if decision.action is Action.BLOCK or decision.message is None:
        return set()
    out = [render_line(line) for line in decision.message.lines]
    kept: set[int] = set()
    j = 0
    for i, text in enumerate(original):
        if j < len(out) and out[j] == text:
            kept.add(i)
            j += 1
        elif text in out[j:]:
            j = out.index(text, j) + 1
            kept.add(i)
    return kept


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
        self._tasks: set[asyncio.Task[None]] = set()
        self.undelivered: list[tuple[str, str, str]] = []  # (partner, envelope id, reason)
        self.failures: list[tuple[str, str]] = []  # (envelope id, exception type): never text

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
    ) -> dict[str, Decision]:
        """Judge ``message`` for every partner and send each what it may receive.

        ``files`` maps a Slack file id to its re-encoded bytes; a partner receives the files
        its decision kept. An edit that is no longer safe for a partner retracts that
        partner's copy (a ``delete`` envelope) instead of leaving the old text standing.
        """
        now = self.clock()
        decisions = evaluate_outbound_all(message, self.policy, topic, now=now)
        jti = EnvelopeId(envelope_id or str(uuid.uuid4()))
        kind = kind or _KIND.get(message.kind, EnvelopeKind.POST)
        outgoing: list[tuple[str, SignedEnvelope, list[Prepared]]] = []
        for partner, decision in decisions.items():
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
                continue
            outgoing.append((partner, sign_origin(unsigned, key=self._key, kid=self._kid), blobs))
        # Partners in parallel: one slow or unreachable partner never delays the others.
        await asyncio.gather(
            *(self._send_to(partner, signed, blobs, jti) for partner, signed, blobs in outgoing)
        )
        return decisions

    async def _send_to(
        self, partner: str, signed: SignedEnvelope, blobs: list[Prepared], jti: str
    ) -> None:
        try:
            for blob in blobs:
                await self.sender.put_blob(partner, blob.ref.sha256, blob.ref.mime, blob.data)
            await self._send(partner, signed)
        except DeliveryError as exc:
            # Durable retry is the outbox's job (issue #5); the reason code is kept, no text.
            self.undelivered.append((partner, jti, exc.code))

    async def _send(self, partner: str, envelope: SignedEnvelope) -> None:
        try:
            await self.sender.send(partner, envelope.to_wire())
        except DeliveryError:
            # Durable retry is the outbox's job (issue #5); the refusal code is kept, no text.
            raise

    # -- inbound -------------------------------------------------------------------------
    def partner_for_fingerprint(self, fingerprint: str) -> str | None:
        return self._fingerprints.get(fingerprint)

    def public_jwks(self) -> dict[str, Any]:
        public = self._key.public_key().public_bytes_raw()
        return {"keys": [public_jwk(public, kid=self._kid)]}

    async def readiness(self) -> dict[str, bool]:
        try:
            self.store.ping()
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
        self.store.record_refusal(record)

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
        verified = verify_envelope(
            data,
            self.keyring,
            now=now,
            max_hops=self.hop_limit,
            skew=self.skew,
            receiver=AgencyId(self.agency),
        )
        if verified.last_signer != peer:
            raise VerificationError("TLS peer is not the last signer", code="issuer_mismatch")
        partner = self.policy.partners.get(peer)
        if partner is None or verified.topic not in partner.accept:
            raise VerificationError(
                "topic not accepted from this partner", code=LinkReason.TOPIC_NOT_ACCEPTED
            )
        digest = hashlib.sha256(canonicalize(verified.envelope.to_wire())).hexdigest()
        outcome = self.store.record_received(
            issuer=verified.issuer,
            envelope_id=verified.envelope_id,
            digest=digest,
            sender=peer,
            body=body,
            at=now,
        )
        if outcome is ReceiveOutcome.CONFLICT:
            raise VerificationError(
                "envelope id reused for another envelope",
                code=LinkReason.REPLAYED,
                http_status=409,
            )
        if outcome is ReceiveOutcome.NEW:
            task = asyncio.create_task(self._process(verified, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Accepted(
            envelope_id=verified.envelope_id, duplicate=outcome is not ReceiveOutcome.NEW
        )

    async def _process(self, verified: VerifiedEnvelope, sender: str) -> None:
        try:
            await self._judge_and_pass_on(verified, sender)
        except Exception as exc:  # noqa: BLE001 - one bad envelope never stops the relay
            self.failures.append((verified.envelope_id, type(exc).__name__))

    async def _judge_and_pass_on(self, verified: VerifiedEnvelope, sender: str) -> None:
        now = self.clock()
        texts = [line.text for line in verified.lines]
        retract = Decision(
            action=Action.FORWARD, reasons=(), message=OutboundMessage(kind=MessageKind.DELETE)
        )
        if verified.kind is EnvelopeKind.DELETE:
            decision = retract  # a retraction carries no content to judge
        else:
            decision = evaluate_inbound(
                _lines_message(texts), self.policy, sender, verified.topic, now=now
            )
            if decision.action is Action.BLOCK and verified.kind is EnvelopeKind.EDIT:
                decision = retract  # an edit this agency will not show retracts its copy
        if decision.action is not Action.BLOCK:
            await self.delivered.put(Delivery(envelope=verified, decision=decision, sender=sender))
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
            return
        outbound = evaluate_outbound_all(
            _lines_message(texts), self.policy, verified.topic, now=now
        )
        content = verified.kind in (EnvelopeKind.POST, EnvelopeKind.CANCEL)
        await asyncio.gather(
            *(
                self._pass_on(
                    verified, target, _kept_indices(texts, outbound[target]), content, now
                )
                for target in targets
            )
        )

    async def _pass_on(
        self,
        verified: VerifiedEnvelope,
        target: str,
        kept: set[int],
        content: bool,
        now: dt.datetime,
    ) -> None:
        """Append this relay's hop for ``target``, withholding what its policy would not
        send. A post with nothing left is not passed on; an edit or delete always is (an
        edit with every line withheld retracts the copy downstream)."""
        if content and not kept:
            return
        withhold = [line.index for i, line in enumerate(verified.lines) if i not in kept]
        withhold_files = []
        for f in verified.files:  # pass on the bytes of every file that goes on
            blob = self.store.get_blob(f.file.sha256)
            if blob is None or f.file.mime not in self.policy.file_types:
                withhold_files.append(f.index)
                continue
            try:
                await self.sender.put_blob(target, f.file.sha256, f.file.mime, blob[1])
            except DeliveryError:
                withhold_files.append(f.index)
        hopped = add_hop(
            verified.envelope,
            key=self._key,
            kid=self._kid,
            from_agency=verified.last_signer,
            to_agency=AgencyId(target),
            at=now,
            policy=f"{self.policy.ori}@{self.policy.digest[:12]}",
            withhold_lines=withhold,
            withhold_files=withhold_files,
            onward=routing.onward_allowed(self.policy, self.policy.partners[target]),
        )
        try:
            await self._send(target, hopped)
        except DeliveryError as exc:
            self.undelivered.append((target, verified.envelope_id, exc.code))

    async def drain(self) -> None:
        """Wait for in-flight processing (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _salt() -> str:
    return secrets.token_urlsafe(16)
