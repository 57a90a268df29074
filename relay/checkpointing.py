"""The audit ledger at work in a running relay: what every start records (the policy and
the partners' keys in force), partners' checkpoints received into the ledger, and the loop
that signs and sends this relay's checkpoints and prunes past retention."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass

import structlog

from relay.assemble import Parts
from relay.core.keys import Keyring
from relay.core.policy.model import Policy
from relay.errors import DeliveryError
from relay.ledger import Ledger
from relay.metrics import RelayMetrics

__all__ = ["ReceivedCheckpoints", "audit_start", "checkpoint_loop", "send_checkpoint"]

log = structlog.get_logger("relay.audit")


@dataclass(frozen=True, slots=True)
class ReceivedCheckpoints:
    """Partners' checkpoints into the ledger, counted."""

    ledger: Ledger
    metrics: RelayMetrics

    def receive_checkpoint(self, partner: str, token: str) -> str:
        outcome = self.ledger.receive_checkpoint(partner, token)
        self.metrics.checkpoint("received", partner, outcome)
        if outcome == "conflict":
            log.error("audit_checkpoint_conflict", partner=partner)
        return outcome

    def kept_tokens(self, issuer: str) -> list[str]:
        return self.ledger.kept_tokens(issuer)


def audit_start(ledger: Ledger, policy: Policy, keyring: Keyring) -> None:
    """At every start: the policy version and the pinned keys in force from now on (the
    ledger shows every change, since nothing changes without a restart)."""
    try:
        ledger.append(
            [
                ledger.entry("policy_change", outcome="loaded", policy=policy.ref),
                *(
                    ledger.entry(
                        "key_change",
                        actor_agency=k.agency,
                        kid=k.kid,
                        outcome="revoked" if k.revoked else "pinned",
                    )
                    for k in keyring.keys
                ),
            ]
        )
    except Exception:  # noqa: BLE001 - the relay starts; nothing leaves until the ledger works
        log.error("audit_write_failed", audit_event="policy_change")


async def checkpoint_loop(parts: Parts, every: float) -> None:
    """Every ``every`` seconds: sign the audit chain head and send it to every partner, who
    keep it (a truncated or forked history shows against it); once a day, prune records
    past retention."""
    ledger = parts.ledger
    last_prune = 0.0
    while True:
        await asyncio.sleep(every)
        await send_checkpoint(parts)
        if time.time() - last_prune > 86400:
            last_prune = time.time()
            try:
                await asyncio.to_thread(ledger.prune, dt.datetime.now(dt.UTC))
            except Exception:  # noqa: BLE001 - tried again tomorrow
                log.error("audit_prune_failed")


async def send_checkpoint(parts: Parts) -> None:
    """Sign a checkpoint now and send it to every partner (also tests)."""
    ledger = parts.ledger
    try:
        token = await asyncio.to_thread(ledger.make_checkpoint)
    except Exception:  # noqa: BLE001 - the ledger is failing: counted, tried next interval
        log.error("audit_checkpoint_failed")
        return
    parts.metrics.checkpoint_time.set(time.time())
    for partner in sorted(parts.config.partners):
        try:
            outcome = await parts.client.send_checkpoint(partner, token)
        except DeliveryError as exc:
            outcome = exc.code
        except Exception:  # noqa: BLE001 - one partner's odd answer never ends the loop
            outcome = "internal"
        parts.metrics.checkpoint("sent", partner, str(outcome))
        log.info("audit_checkpoint_sent", partner=partner, outcome=str(outcome))
