"""Audit records: what the dissemination ledger holds, one identifier, code, digest or count
per field and never message text (see :mod:`relay.core.audit`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Final

from relay.core.canonical import JSONValue
from relay.core.ids import KID_PATTERN, ORI_PATTERN

__all__ = [
    "AT_PATTERN",
    "GENESIS",
    "HEX64",
    "RECORD_VERSION",
    "AuditEvent",
    "AuditRecord",
    "is_count",
    "parse_rfc3339",
    "rfc3339",
]

GENESIS: Final = "0" * 64
# The record version written now. 1: the chain hash covers the record body (its ``at`` inside
# it) but not the row's time. 2: the record says ``"v": 2`` and the chain hash covers the
# row's time too (``relay.core.audit.link``), so the time the store windows and prunes on is
# hashed. A version 1 record has no ``v`` key, so its bytes and hash are as they were written.
RECORD_VERSION: Final = 2
_MAX_COUNT: Final = 2**53 - 1

_USER: Final = re.compile(r"[UW][A-Z0-9]{2,20}", re.ASCII)
_ENVELOPE_ID: Final = re.compile(r"[A-Za-z0-9._:#/-]{1,128}", re.ASCII)
_HEX64: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
_RULE: Final = re.compile(r"[a-z0-9_.:-]{1,64}", re.ASCII)
_CODE: Final = re.compile(r"[a-z0-9_.-]{1,64}", re.ASCII)
_POLICY: Final = re.compile(rf"{ORI_PATTERN.pattern}@[0-9a-f]{{12}}", re.ASCII)
_CHANNEL: Final = re.compile(r"[CG][A-Z0-9]{2,20}", re.ASCII)  # a Slack channel id
_AT: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)


class AuditEvent(StrEnum):
    """The closed set of events the ledger records."""

    DECISION = "decision"  # the sharing policy judged a message (outbound or inbound)
    SIGN = "sign"  # an envelope was signed
    FORWARD = "forward"  # an envelope was delivered to a partner (a dissemination)
    RECEIVE = "receive"  # a partner's envelope was accepted
    REFUSAL = "refusal"  # a partner's envelope (or request) was refused
    POST = "post"  # posted in the agency's Slack
    EDIT = "edit"
    CANCEL = "cancel"
    DELETE = "delete"
    KEY_CHANGE = "key_change"
    POLICY_CHANGE = "policy_change"
    AUDIT_READ = "audit_read"  # the trail was read (verify, export, disseminations)
    AUDIT_RECOVERED = "audit_recovered"  # the first write after failed audit writes
    CHECKPOINT = "checkpoint"  # this relay signed its chain head
    CHECKPOINT_RECEIVED = "checkpoint_received"  # a partner's checkpoint kept
    CHECKPOINT_CONFLICT = "checkpoint_conflict"  # a partner's checkpoint contradicts one kept
    RETENTION = "retention"  # records older than the retention period were pruned
    CHANNEL_CHANGE = "channel_change"  # Slack moved a federated channel to a new id
    RECEIPT = "receipt"  # a partner's signed receipt for an envelope: kept, or passed back
    REVIEW = "review"  # a supervisor released or kept a held message, or its card expired


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-29T18:15:46.123456Z``: UTC, microseconds, ``Z`` (fixed width, so the text
    sorts in time order). A naive datetime is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> dt.datetime:
    """The inverse of :func:`rfc3339` (that exact form only)."""
    value: object = text
    if not isinstance(value, str) or not _AT.fullmatch(value):
        raise ValueError("at")
    try:
        # the pattern fixed the form; fromisoformat (C) checks the calendar, unlike a regex
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError("at") from None


def _is_count(value: object) -> bool:
    """A non-negative int that JSON keeps exact (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT


# field name -> the pattern every value must match (``at`` and ``count`` are checked apart)
_PATTERNS: Final[Mapping[str, re.Pattern[str]]] = {
    "relay": ORI_PATTERN,
    "outcome": _CODE,
    "source": ORI_PATTERN,
    "destination": ORI_PATTERN,
    "actor_user": _USER,
    "actor_agency": ORI_PATTERN,
    "envelope_id": _ENVELOPE_ID,
    "digest": _HEX64,
    "policy": _POLICY,
    "topic": _CODE,
    "kid": KID_PATTERN,
    "channel": _CHANNEL,
    "old_channel": _CHANNEL,
    "reason": _CODE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One audit record: identifiers, codes, digests and counts, never message text."""

    event: AuditEvent
    at: str  # RFC 3339 UTC, microseconds (rfc3339())
    relay: str  # the ORI of the relay that wrote it
    outcome: str  # a code: "ok", "blocked", "delivered", a refusal reason, ...
    source: str | None = None  # ORI
    destination: str | None = None  # ORI
    actor_user: str | None = None  # Slack user id
    actor_agency: str | None = None  # ORI
    envelope_id: str | None = None
    digest: str | None = None  # sha256 hex of the content (never the content)
    rules: tuple[str, ...] = ()  # rule ids that fired
    policy: str | None = None  # policy version: ORI@first 12 hex of the policy file's sha256
    topic: str | None = None
    kid: str | None = None
    count: int | None = None
    channel: str | None = None  # a Slack channel id of the relay's own workspace
    old_channel: str | None = None  # the id it had before (channel_change)
    reason: str | None = None  # a reviewer's reason code (review): the "why" of 28 CFR 23.20
    v: int = RECORD_VERSION  # the record version (1: read from an older ledger)

    def __post_init__(self) -> None:
        try:
            event = AuditEvent(self.event)
        except ValueError:
            raise ValueError("event") from None
        object.__setattr__(self, "event", event)
        parse_rfc3339(self.at)
        for name, pattern in _PATTERNS.items():
            value = getattr(self, name)
            if value is None and name not in ("relay", "outcome"):
                continue
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ValueError(name)
        given: object = self.rules
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise ValueError("rules")
        rules = tuple(given)
        if len(rules) > 64 or any(not isinstance(r, str) or not _RULE.fullmatch(r) for r in rules):
            raise ValueError("rules")
        object.__setattr__(self, "rules", rules)
        if self.count is not None and not _is_count(self.count):
            raise ValueError("count")
        if type(self.v) is not int or self.v not in (1, RECORD_VERSION):
            raise ValueError("v")

    def to_json(self) -> dict[str, JSONValue]:
        """The record as a JSON object: unset fields (None, no rules) are left out."""
        out: dict[str, JSONValue] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == () or (f.name == "v" and value == 1):
                continue  # a version 1 record has no "v": its bytes stay as written
            if f.name == "event":
                out["event"] = str(value)
            elif f.name == "rules":
                out["rules"] = list(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, value: object) -> AuditRecord:
        """Strict reader: an object with known fields of the right types (``ValueError``
        names the first bad field)."""
        if not isinstance(value, Mapping):
            raise ValueError("record")
        known = _FIELDS
        for name in value:
            if name not in known:
                raise ValueError("unknown field")
        for name in ("event", "at", "relay", "outcome"):
            if name not in value:
                raise ValueError(name)
        kwargs: dict[str, Any] = {}
        for name, item in value.items():
            if name == "rules":
                if not isinstance(item, list):
                    raise ValueError("rules")
                kwargs["rules"] = tuple(item)
            elif name in ("count", "v"):
                if isinstance(item, bool) or not isinstance(item, int):
                    raise ValueError(name)
                kwargs[name] = item
            else:
                if not isinstance(item, str):
                    raise ValueError(name)
                kwargs[name] = item
        if kwargs.setdefault("v", 1) == 1 and "v" in value:
            raise ValueError("v")  # version 1 is written without the key, never as "v": 1
        return cls(**kwargs)

    def canonical(self) -> bytes:
        """The record's RFC 8785 (JCS) bytes. Every string field is held to an ASCII pattern
        with no quote, backslash or control character, and ``count`` and ``v`` are integers, so
        JSON with sorted keys and no whitespace *is* JCS here (a property test holds the two
        equal); it is several times faster than the general canonicalizer."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()


_FIELDS: Final = frozenset(f.name for f in fields(AuditRecord))


HEX64: Final = _HEX64
AT_PATTERN: Final = _AT
is_count: Final = _is_count
