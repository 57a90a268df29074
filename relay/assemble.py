"""The one way to build a relay: from ``relay.yaml`` (a :class:`RelayConfig`) to its parts,
wired by constructor, nothing started. ``relay run``, the demo, chaos, the benches and the
tests all come through here (``relay.app.start_relay`` then starts the listeners).

    Slack events -> Inbox -> Publisher -> Outbound -> outbox (Dispatcher) -> partner
    partner -> Door -> Inbound.accept -> inbound queue -> Inbound.process -> Poster -> Slack
                                                                     \\-> hops to partners
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from relay.assemble_keys import keyring_from_config, load_signing_key, with_own_key
from relay.assemble_shadow import shadow_from_config
from relay.assemble_slack import SlackParts, workspace_side
from relay.assemble_store import open_store_from_config, tuning_from_config
from relay.commands.policy import read_policy
from relay.config import ConfigLoadError, RelayConfig
from relay.core.ids import issuer_of
from relay.core.keys import Keyring
from relay.core.policy.model import Policy
from relay.federation.client import PeerClient
from relay.federation.tls import client_context
from relay.flow.blobs import FileSweep
from relay.flow.door import Door
from relay.flow.inbound import Inbound, PostPort
from relay.flow.outbound import Outbound
from relay.flow.photos import PhotoCheck, Received
from relay.flow.queues import Loop
from relay.flow.receipts import ReceiptDesk
from relay.flow.records import Recorder
from relay.flow.refusals import RefusalLog
from relay.flow.runtime import Queues
from relay.flow.shadow import ShadowSink
from relay.flow.wire import Signer
from relay.ledger import Ledger
from relay.metrics import RelayMetrics
from relay.ocr.metrics import OcrMetrics
from relay.ocr.reader import PhotoReader
from relay.slack.channels import ChannelMap
from relay.slack.connect import connect
from relay.slack.feedback import Feedback
from relay.slack.poster import Poster
from relay.slack.publisher import Observer
from relay.store.aio import AsyncStore
from relay.store.contract import Store
from relay.store.group import GroupWriter

__all__ = [
    "Clock",
    "Parts",
    "PostPort",
    "SlackParts",
    "assemble",
    "keyring_from_config",
    "load_signing_key",
    "utc_now",
]

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Parts:
    """One relay instance, assembled and not yet started."""

    config: RelayConfig
    policy: Policy
    pinned: Keyring  # the partners' keys (readiness, the audit of keys in force)
    signer: Signer
    store: Store  # blocking: for commands and shutdown, never on the event loop
    aio: AsyncStore  # what the flow calls: off the loop, writes batched in group commits
    ledger: Ledger
    metrics: RelayMetrics
    recorder: Recorder
    client: PeerClient
    outbound: Outbound
    inbound: Inbound
    queues: Queues
    door: Door
    files: FileSweep  # photos deleted once no envelope needs them
    receipts: ReceiptDesk
    refusals: RefusalLog  # counted in memory, written in batches (run, flushed at stop)
    instance: str
    slack: SlackParts | None = None
    photos: PhotoReader | None = None  # the OCR's process pool (started on first photo)


async def assemble(
    config: RelayConfig,
    *,
    clock: Clock = utc_now,
    observe: Observer | None = None,
    deliver: PostPort | None = None,
    shadow_sink: ShadowSink | None = None,
) -> Parts:
    """Every part of one relay instance from ``config`` (inside the running event loop: the
    HTTP clients are made here, and Slack's ``auth.test`` is called). ``observe`` sees every
    message judged at the publisher (the lab's report); ``deliver`` takes what a relay
    without a workspace would post (the lab and the tests; without it, nothing is posted);
    ``shadow_sink`` takes the candidate policy's samples (default: counted, nothing more)."""
    now = clock()
    policy = read_policy(str(config.policy), now.date())
    if policy.ori != config.agency:
        raise ConfigLoadError(
            config.source,
            [(1, f"policy {config.policy} is for {policy.ori}, not {config.agency}")],
        )
    fed = config.federation
    metrics = RelayMetrics()
    metrics.start_time.set(now.timestamp())
    metrics.policy(policy.ori, policy.digest, now.timestamp())
    shadow = shadow_from_config(config, now.date(), metrics, shadow_sink)  # before any I/O
    signer = Signer(
        key=load_signing_key(config.signing_key, config.source), kid=config.signing_kid
    )
    pinned = keyring_from_config(config)  # partners' and origins' keys, as relay.yaml pins
    metrics.keys((k.agency, k.kid, k.not_after.timestamp()) for k in pinned.keys if k.not_after)
    keyring = with_own_key(pinned, config.agency, signer)  # what envelopes verify against
    store = open_store_from_config(config)
    ledger = Ledger(
        store,
        agency=config.agency,
        key=signer.key,
        kid=signer.kid,
        keyring=pinned,
        clock=clock,
        retention_days=config.audit.retention_days,
        on_failure=metrics.audit_failed,
        on_append=metrics.audit_appended,
    )
    writer = GroupWriter(store)  # writes that precede an acknowledgement, batched
    aio = AsyncStore(store, writer=writer)  # every store call of the flow, off the loop
    recorder = Recorder(agency=config.agency, ledger=ledger, metrics=metrics, store=aio)
    client = PeerClient(
        {o: link.url for o, link in config.partners.items()},
        client_context(fed.tls_cert, fed.tls_key, fed.tls_ca),
    )
    tuning = tuning_from_config(config)
    instance = f"{config.agency}-{uuid.uuid4().hex[:12]}"  # several may share one database
    conn = await connect(config.slack, metrics, config.source) if config.slack else None
    channels = (
        ChannelMap(config.slack.channels, config.slack.partner_channels) if config.slack else None
    )
    poster = None
    if conn is not None and channels is not None and config.slack is not None:
        poster = Poster(
            policy=policy,
            store=aio,
            caller=conn.caller,
            fetcher=conn.fetcher,
            channels=channels,
            clock=clock,
            on_cancel=policy.cancellations,
            icon_url=config.slack.icon_url,
            icons={o: p.icon_url for o, p in config.partners.items() if p.icon_url},
        )
    feedback = (
        Feedback(
            agency=config.agency,
            store=aio,
            caller=conn.caller,
            channels=channels,
            names={o: p.name for o, p in policy.partners.items()},
        )
        if conn is not None and channels is not None
        else None
    )
    receipts = ReceiptDesk(
        agency=config.agency,
        signer=signer,
        keyring=keyring,
        store=aio,
        recorder=recorder,
        clock=clock,
        sender=client,
        seen=(
            (lambda r: feedback.receipt(r.envelope_id, r.reporter, r.status.value))
            if feedback is not None
            else None
        ),
        backoff=tuning.backoff,
        poll=tuning.poll,
    )

    def undeliverable(envelope_id: str, partner: str, reason: str) -> None:
        if issuer_of(envelope_id) != config.agency:  # passed on for another agency
            if reason != "partner_unknown":  # our own relay.yaml's gap, not the partner's no
                receipts.later(receipts.passed_on_failed(envelope_id, reason))
        elif feedback is not None:
            receipts.later(feedback.undeliverable(envelope_id, partner))

    refusals = RefusalLog(
        agency=config.agency,
        store=aio,
        recorder=recorder,
        clock=clock,
        window=fed.refusal_window,
        keep=fed.refusals_kept,
    )
    stored = Loop()  # the inbound queue's signal: an envelope was stored
    # the text in photos (issue 17, docs/ocr.md): a process pool started on the first photo
    photos = PhotoReader(config.ocr, observe=OcrMetrics(metrics.registry).observe)
    inbound = Inbound(
        agency=config.agency,
        policy=policy,
        keyring=keyring,
        signer=signer,
        store=aio,
        recorder=recorder,
        poster=poster.post if poster else deliver,
        hop_limit=fed.hop_limit,
        skew=fed.clock_skew,
        clock=clock,
        wake=stored.wake,
        mapped=channels.lands if channels and poster else None,
        bounds=(fed.envelope_max_age, fed.envelope_max_lifetime),
        photos=Received(photos, policy, aio),
        duplicates=refusals.note_duplicate,  # replays: one record per peer and window
    )
    queues = Queues(
        agency=config.agency,
        policy_ref=policy.ref,
        kid=signer.kid,
        partners=lambda: list(policy.partners),
        store=aio,
        sender=client,
        recorder=recorder,
        process=inbound.process,
        owner=instance,
        clock=lambda: clock().timestamp(),
        tuning=tuning,
        inbound_signal=stored,
        owe=receipts.owe,
        on_undeliverable=undeliverable,
        on_receipts=receipts.take,
    )
    outbound = Outbound(
        agency=config.agency,
        policy=policy,
        signer=signer,
        store=aio,
        recorder=recorder,
        ttl=fed.envelope_ttl,
        clock=clock,
        wake=queues.outbox.wake,
        shadow=shadow,
        photos=PhotoCheck(photos, policy),
    )
    door = Door(
        agency=config.agency,
        inbound=inbound,
        store=aio,
        recorder=recorder,
        signer=signer,
        keyring=pinned,
        fingerprints={fp: o for o, link in config.partners.items() for fp in link.tls_sha256},
        clock=clock,
        refusals=refusals,
        receipt=receipts.accepted,
        files_quota=(fed.files.partner_quota_bytes, fed.files.partner_quota_files),
    )
    slack = None
    if conn is not None and channels is not None and poster is not None and config.slack:
        slack = await workspace_side(
            config=config,
            slack=config.slack,
            policy=policy,
            conn=conn,
            channels=channels,
            poster=poster,
            feedback=feedback,
            outbound=outbound,
            aio=aio,
            recorder=recorder,
            metrics=metrics,
            clock=clock,
            observe=observe,
            instance=instance,
            tuning=tuning,
            shadow_sink=shadow_sink,
        )
    return Parts(
        photos=photos,
        config=config,
        policy=policy,
        pinned=pinned,
        signer=signer,
        store=store,
        aio=aio,
        ledger=ledger,
        metrics=metrics,
        recorder=recorder,
        client=client,
        outbound=outbound,
        inbound=inbound,
        queues=queues,
        door=door,
        files=FileSweep(
            store=aio,
            recorder=recorder,
            clock=lambda: clock().timestamp(),
            grace=fed.files.orphan_grace,
            interval=fed.files.sweep_interval,
        ),
        receipts=receipts,
        refusals=refusals,
        instance=instance,
        slack=slack,
    )
