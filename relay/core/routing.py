"""Which partners get an envelope: at the origin, and at a relay passing on what it received.

Pure: the policy and ``now`` are passed in. The rules (see ``docs/envelope.md``, "Routing"):

- **Origin.** A message in ``topic`` goes to every partner whose ``share`` holds the topic and
  whose agreement has not expired, one envelope each, addressed to it (``aud``). ``onward`` in
  that envelope is :func:`onward_allowed` for the partner (its ``redisseminate``).
- **Relay.** An envelope this relay received and accepted goes on only where the last signer
  allowed it (the verified ``onward``), where the sender is a partner whose ``accept`` holds the
  topic under a live agreement, and where one more hop stays within the hop limit. It then goes
  to the partners sharing the topic under a live agreement that are not already on the path,
  not the sender, not this relay. Each hop record's ``onward`` is again :func:`onward_allowed`.
- **Duplicates.** Two relays may both pass the same envelope to one agency over two paths; the
  receiver posts it once because the store dedupes on the envelope id, not here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from relay.core.defaults import HOP_LIMIT
from relay.core.model import AgencyId
from relay.core.policy.model import Partner, Policy
from relay.core.reasons import Reason

__all__ = [
    "DEFAULT_HOP_LIMIT",
    "RelayPlan",
    "onward_allowed",
    "origin_targets",
    "plan_relay",
    "relay_targets",
]

DEFAULT_HOP_LIMIT: Final = HOP_LIMIT  # what we send on is what our verifier accepts


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayPlan:
    """The partners to pass a received envelope on to; ``held`` says why there are none."""

    targets: tuple[AgencyId, ...]
    # why a received envelope goes to nobody: onward_forbidden, partner_unknown,
    # topic_not_accepted, agreement_expired or hop_limit
    held: Reason | None = None  # None: passing on is allowed (``targets`` may still be empty)


def origin_targets(policy: Policy, topic: str, *, now: dt.datetime) -> tuple[AgencyId, ...]:
    """Partners an envelope this agency writes in ``topic`` goes to, in policy order."""
    return tuple(p.ori for p in policy.partners.values() if _shares(p, topic, now))


def plan_relay(
    policy: Policy,
    *,
    own: AgencyId,
    topic: str,
    sender: AgencyId,
    path: Collection[AgencyId],
    hops: int,
    onward: bool,
    hop_limit: int = DEFAULT_HOP_LIMIT,
    now: dt.datetime,
) -> RelayPlan:
    """Where a received, verified and accepted envelope goes next, or why nowhere.

    ``sender`` is the agency that sent it here (``VerifiedEnvelope.last_signer``), ``path`` the
    agencies it has been through (``VerifiedEnvelope.path``), ``hops`` the hop signatures it
    carries, ``onward`` the permission it carries for us (``VerifiedEnvelope.onward``).
    """
    if hops < 0 or hop_limit < 0:
        raise ValueError("hops and hop_limit must not be negative")
    if not onward:
        return RelayPlan(targets=(), held=Reason.ONWARD_FORBIDDEN)
    source = policy.partners.get(sender)
    if source is None:
        return RelayPlan(targets=(), held=Reason.PARTNER_UNKNOWN)
    if topic not in source.accept:
        return RelayPlan(targets=(), held=Reason.TOPIC_NOT_ACCEPTED)
    if not _live(source, now):
        return RelayPlan(targets=(), held=Reason.AGREEMENT_EXPIRED)
    if hops + 1 > hop_limit:  # our hop would be the next receiver's (hops + 1)th
        return RelayPlan(targets=(), held=Reason.HOP_LIMIT)
    skip = {*path, sender, own}
    return RelayPlan(
        targets=tuple(
            p.ori for p in policy.partners.values() if p.ori not in skip and _shares(p, topic, now)
        )
    )


def relay_targets(
    policy: Policy,
    *,
    own: AgencyId,
    topic: str,
    sender: AgencyId,
    path: Collection[AgencyId],
    hops: int,
    onward: bool,
    hop_limit: int = DEFAULT_HOP_LIMIT,
    now: dt.datetime,
) -> tuple[AgencyId, ...]:
    """:func:`plan_relay`'s targets alone."""
    return plan_relay(
        policy,
        own=own,
        topic=topic,
        sender=sender,
        path=path,
        hops=hops,
        onward=onward,
        hop_limit=hop_limit,
        now=now,
    ).targets


def onward_allowed(policy: Policy, partner: Partner) -> bool:
    """The ``onward`` to sign for ``partner``: its ``redisseminate`` in ``policy``.

    False for a partner entry that is not ``policy``'s own (fail closed).
    """
    return policy.partners.get(partner.ori) == partner and partner.redisseminate


def _shares(partner: Partner, topic: str, now: dt.datetime) -> bool:
    return topic in partner.share and _live(partner, now)


def _live(partner: Partner, now: dt.datetime) -> bool:
    return now.date() <= partner.agreement_expires
