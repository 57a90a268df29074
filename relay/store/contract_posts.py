"""The post map and blob roles of the store contract (:mod:`relay.store.contract`)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["Blobs", "PostCopy", "PostMap"]


class PostCopy(NamedTuple):
    """Where this relay posted an envelope: recorded with the item's settlement."""

    issuer: str
    envelope_id: str
    channel: str
    ts: str


class PostMap(Protocol):
    """Envelope -> the Slack message it was posted as (edits and deletes find it)."""

    def map_post(self, *, issuer: str, envelope_id: str, channel: str, ts: str) -> None: ...

    def forget_post(self, *, issuer: str, envelope_id: str) -> None:
        """The copy is gone (retracted): a later edit posts the message again."""

    def lookup_post(self, *, issuer: str, envelope_id: str) -> tuple[str, str] | None: ...

    def post_at(self, channel: str, ts: str) -> tuple[str, str] | None: ...  # what it copies


class Blobs(Protocol):
    """File contents by sha256 (what a partner fetches before the envelope naming it)."""

    def put_blob(self, *, sha256: str, mime: str, data: bytes) -> None: ...

    def get_blob(self, sha256: str) -> tuple[str, bytes] | None: ...
