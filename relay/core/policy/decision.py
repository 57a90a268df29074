"""What the engine decides for one partner: the :class:`Decision`, its reasons, and the
built-in rule ids those reasons name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from relay.core.policy.model import Action
from relay.core.policy.outbound import OutboundMessage

__all__ = ["Decision", "Reason", "Rule", "block_decision", "sorted_reasons"]


class Rule(StrEnum):
    """Built-in reasons; policy detectors add their own ids."""

    PARTNER_UNKNOWN = "partner_unknown"
    TOPIC_NOT_SHARED = "topic_not_shared"
    TOPIC_NOT_ACCEPTED = "topic_not_accepted"
    AGREEMENT_EXPIRED = "agreement_expired"
    UNKNOWN_FIELD = "unknown_field"
    NOT_RELAYED = "not_relayed"
    BOT_NOT_FEDERATED = "bot_not_federated"
    FILE_TYPE = "file_type_not_allowed"
    FILE_UNVERIFIABLE = "file_unverifiable"
    TEARLINE = "tearline"
    MARKING_UNKNOWN = "marking_unknown"
    ABOVE_CEILING = "marking_above_ceiling"
    SHARED_DROPPED = "shared_content_dropped"
    NOTHING_LEFT = "nothing_left"
    LANGUAGE_NOT_COVERED = "language_not_covered"
    TOO_COMPLEX = "too_complex"  # more than the engine will evaluate (fail closed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    rule: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a partner receives. ``kept_lines`` and ``kept_files`` index the body lines (in
    display order across the body parts) and files that leave exactly as they came in, so a
    relay passing a signed envelope on withholds the rest without comparing text; ``trace``
    lists the removed units with their rule ids (for ``relay policy apply --explain``)."""

    action: Action
    message: OutboundMessage | None
    reasons: tuple[Reason, ...]
    kept_lines: frozenset[int] = frozenset()
    kept_files: frozenset[int] = frozenset()
    trace: tuple[tuple[int, str], ...] = ()


def block_decision(*rules: tuple[str, int]) -> Decision:
    """A block, with one reason per (rule id, count)."""
    return Decision(
        action=Action.BLOCK, message=None, reasons=tuple(Reason(rule=r, count=c) for r, c in rules)
    )


def sorted_reasons(reasons: Counter[str]) -> tuple[Reason, ...]:
    """The reasons with a count, by rule id."""
    return tuple(Reason(rule=str(r), count=c) for r, c in sorted(reasons.items()) if c > 0)
