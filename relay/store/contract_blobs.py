"""The blob holdings role of the store contract (:mod:`relay.store.contract`): who pushed each
file, how much every partner holds here, which envelopes name each file, and the sweep that
deletes the files nothing needs any more.

A file is needed while an envelope naming it is still to be worked: an inbound item pending
and not expired (to post it, or pass it on), or an outbox row pending (unsent, or a retry to
come) and not expired. Posted, withheld, refused or dead-lettered is settled (a dead letter an
operator retries goes without the file). A file nothing needs is deleted when an envelope named
it after its last push (it was used), or else once it has been held longer than the grace
period (pushed, and never named)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

__all__ = ["BlobHold", "BlobHoldings", "BlobQueue", "BlobSweep", "BlobUsage"]

BlobQueue = Literal["inbound", "outbox"]  # where the envelope naming a file waits


class BlobHold(StrEnum):
    STORED = "stored"  # new: kept, charged to the partner that pushed it
    KEPT = "kept"  # held already (its push time renewed: the grace period starts again)
    OVER_QUOTA = "over_quota"  # not kept: the partner's holdings would pass its quota


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobUsage:
    """What one holder has here: ``peer`` the partner's ORI, ``""`` this relay's own files."""

    peer: str
    count: int
    size: int  # bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobSweep:
    deleted: int  # files
    size: int  # their bytes
    names_dropped: int  # references of settled or expired envelopes forgotten


class BlobHoldings(Protocol):
    """Files held per partner, under a quota, and deleted once nothing needs them."""

    def hold_blob(
        self,
        *,
        sha256: str,
        mime: str,
        data: bytes,
        peer: str,
        at: float,
        quota_bytes: int,
        quota_files: int,
    ) -> BlobHold:
        """Keep a file ``peer`` pushed unless its holdings with it would pass a quota."""

    def blob_room(
        self, *, sha256: str, peer: str, size: int, quota_bytes: int, quota_files: int
    ) -> BlobHold:
        """What :meth:`hold_blob` would answer now for a file of ``size`` bytes (a read,
        nothing kept): ``KEPT`` when held already, ``OVER_QUOTA``, else ``STORED``."""

    def name_blobs(
        self,
        *,
        queue: BlobQueue,
        party: str,
        envelope_id: str,
        sha256s: Sequence[str],
        at: float,
    ) -> None:
        """Files an envelope names (``party``: its issuer in the inbound queue, the partner
        of its outbox row): kept while that item needs them."""

    def sweep_blobs(self, *, now: float, grace: float, limit: int) -> BlobSweep:
        """Delete up to ``limit`` files nothing needs (and up to ``limit`` references of
        envelopes settled or expired), in one transaction."""

    def blob_usage(self) -> list[BlobUsage]:
        """Files held and their bytes, per holder."""
