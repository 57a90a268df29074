"""What the engine decides for one partner: the :class:`Decision` and the rules that
tripped (built-in ones are :class:`relay.core.reasons.Reason` values)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from relay.core.policy.model import Action
from relay.core.policy.outbound import OutboundMessage

__all__ = ["Decision", "RuleCount", "block_decision", "sorted_reasons"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleCount:
    """A rule that tripped (a built-in :class:`~relay.core.reasons.Reason` or a detector's
    id) and how many times."""

    rule: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What a partner receives. ``kept_lines`` and ``kept_files`` index the body lines (in
    display order across the body parts) and files that leave exactly as they came in, so a
    relay passing a signed envelope on withholds the rest without comparing text; ``trace``
    lists the removed units with their rule ids (for ``relay policy apply --explain``);
    ``marking`` the highest portion mark that survives."""

    action: Action
    message: OutboundMessage | None
    reasons: tuple[RuleCount, ...]
    kept_lines: frozenset[int] = frozenset()
    kept_files: frozenset[int] = frozenset()
    trace: tuple[tuple[int, str], ...] = ()
    # the highest portion mark among the lines that leave (``U//LES``), None when unmarked:
    # the envelope's ``marking`` claim
    marking: str | None = None


def block_decision(*rules: tuple[str, int]) -> Decision:
    """A block, with one reason per (rule id, count)."""
    return Decision(
        action=Action.BLOCK,
        message=None,
        reasons=tuple(RuleCount(rule=r, count=c) for r, c in rules),
    )


def sorted_reasons(reasons: Counter[str]) -> tuple[RuleCount, ...]:
    """The reasons with a count, by rule id."""
    return tuple(RuleCount(rule=str(r), count=c) for r, c in sorted(reasons.items()) if c > 0)
