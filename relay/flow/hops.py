"""A relay's hop: a received envelope passed on to one partner, signed by this relay, with
what this agency's policy would not send withheld (:meth:`relay.flow.inbound.Inbound.process`
decides where it goes)."""

from __future__ import annotations

import datetime as dt

from relay.core import routing
from relay.core.envelope import EnvelopeKind, VerifiedEnvelope, add_hop
from relay.core.model import AgencyId
from relay.core.policy.engine import Decision
from relay.core.policy.model import Action, Policy
from relay.flow.wire import Signer, order_key, wire
from relay.store.aio import AsyncStore
from relay.store.contract import OutboxItem

__all__ = ["blobs_present", "pass_on"]


async def blobs_present(aio: AsyncStore, verified: VerifiedEnvelope) -> frozenset[str]:
    """The envelope's files this relay holds the bytes of (only those can go on)."""
    wanted = [f.file.sha256 for f in verified.files]
    if not wanted:
        return frozenset()
    store = aio.store
    return frozenset(
        await aio.run(lambda: [sha for sha in wanted if store.get_blob(sha) is not None])
    )


def pass_on(
    verified: VerifiedEnvelope,
    target: str,
    decision: Decision,
    present: frozenset[str],
    now: dt.datetime,
    *,
    policy: Policy,
    signer: Signer,
) -> OutboxItem | None:
    """This relay's hop for ``target``, withholding what its policy would not send:
    every line and file the decision did not keep exactly as it came (a line the policy
    cut a sentence out of, or a file whose title it cleared, cannot be re-signed, so it
    is withheld whole). A post with nothing left is not passed on; an edit or delete
    always is (an edit with every line withheld retracts the copy downstream)."""
    blocked = decision.action is Action.BLOCK or decision.message is None
    kept = set() if blocked else decision.kept_lines
    kept_files = set() if blocked else decision.kept_files
    if verified.kind in (EnvelopeKind.POST, EnvelopeKind.CANCEL) and not kept:
        return None
    withhold = [line.index for i, line in enumerate(verified.lines) if i not in kept]
    withhold_files, blobs = [], []
    for i, f in enumerate(verified.files):  # the outbox pushes the bytes of what goes on
        if (
            i not in kept_files
            or f.file.mime not in policy.file_types
            or f.file.sha256 not in present
        ):
            withhold_files.append(f.index)
        else:
            blobs.append((f.file.sha256, f.file.mime))
    hopped = add_hop(
        verified.envelope,
        key=signer.key,
        kid=signer.kid,
        from_agency=verified.last_signer,
        to_agency=AgencyId(target),
        at=now,
        policy=policy.ref,
        withhold_lines=withhold,
        withhold_files=withhold_files,
        onward=routing.onward_allowed(policy, policy.partners[target]),
    )
    return OutboxItem(
        partner=target,
        envelope_id=verified.envelope_id,
        order_key=order_key(verified.thread, verified.target, verified.envelope_id),
        body=wire(hopped),
        blobs=tuple(blobs),
        expires_at=verified.expires_at.timestamp(),
    )
