"""Two decisions for one partner compared: what a candidate policy would change.

Pure and cheap: it reads the decisions' actions, reason counts, ``kept_lines``,
``kept_files`` and ``trace`` (the units each removed, with the rule that removed it), never
text. Kinds of difference, from the candidate's side:

- ``more_blocked`` / ``less_blocked``: the candidate blocks and the current does not, or the
  reverse;
- ``more_stripped`` / ``less_stripped``: both send, and the candidate removes or alters units
  the current keeps (a body line or file the current sends as written and the candidate
  does not, or a unit the candidate removes and the current does not), or the reverse; both
  kinds at once when each keeps something the other removes;
- ``rules_changed``: the same outcome, reached by other rules (a rule started or stopped
  firing, nothing else changed).

Swapping current and candidate swaps ``more_*`` with ``less_*`` and started with stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from relay.core.policy.decision import Decision, block_decision
from relay.core.policy.model import Action
from relay.core.reasons import Reason

__all__ = ["Difference", "Kind", "compare", "compare_all"]


class Kind(StrEnum):
    MORE_BLOCKED = "more_blocked"
    LESS_BLOCKED = "less_blocked"
    MORE_STRIPPED = "more_stripped"
    LESS_STRIPPED = "less_stripped"
    RULES_CHANGED = "rules_changed"


_MIRROR: Final = {
    Kind.MORE_BLOCKED: Kind.LESS_BLOCKED,
    Kind.LESS_BLOCKED: Kind.MORE_BLOCKED,
    Kind.MORE_STRIPPED: Kind.LESS_STRIPPED,
    Kind.LESS_STRIPPED: Kind.MORE_STRIPPED,
    Kind.RULES_CHANGED: Kind.RULES_CHANGED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """How the candidate's decision differs from the current one (empty: no difference).
    ``rules`` gives, per kind, the rule ids behind it, sorted: for ``more_*`` the candidate's
    rules that fire where (or more often than) the current's do not, for ``less_*`` the
    current's, for ``rules_changed`` those started and stopped."""

    kinds: tuple[Kind, ...] = ()
    started: tuple[str, ...] = ()  # rule ids the candidate fires and the current does not
    stopped: tuple[str, ...] = ()  # rule ids the current fires and the candidate does not
    rules: tuple[tuple[Kind, tuple[str, ...]], ...] = ()  # (kind, rule ids), by kind

    @property
    def changed(self) -> bool:
        return bool(self.kinds)

    def rules_for(self, kind: Kind) -> tuple[str, ...]:
        return next((rules for k, rules in self.rules if k is kind), ())

    def mirrored(self) -> Difference:
        """The same difference seen from the other side (current and candidate swapped)."""
        return Difference(
            kinds=tuple(sorted(_MIRROR[k] for k in self.kinds)),
            started=self.stopped,
            stopped=self.started,
            rules=tuple(sorted((_MIRROR[k], v) for k, v in self.rules)),
        )


NO_DIFFERENCE: Final = Difference()


def _counts(d: Decision) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in d.reasons:
        out[r.rule] = out.get(r.rule, 0) + r.count
    return out


def _grown(a: Mapping[str, int], b: Mapping[str, int]) -> set[str]:
    """Rules ``b`` fires more often than ``a`` (including those ``a`` does not fire)."""
    return {rule for rule, n in b.items() if n > a.get(rule, 0)}


def _sends(d: Decision) -> bool:
    return d.action is not Action.BLOCK and d.message is not None


def _removes(kept: Decision, other: Decision) -> tuple[bool, set[str]]:
    """Whether ``other`` removes or alters a unit ``kept`` sends as written, and the rules
    ``other``'s trace names for the units only it removes."""
    removed = {u for u, _ in kept.trace}
    extra = {rule for u, rule in other.trace if u not in removed}
    lost = bool(kept.kept_lines - other.kept_lines) or bool(kept.kept_files - other.kept_files)
    return lost or bool(extra), extra


def compare(current: Decision, candidate: Decision) -> Difference:
    """The kinds of difference between ``current`` and ``candidate`` for one partner."""
    a, b = _counts(current), _counts(candidate)
    started = tuple(sorted(set(b) - set(a)))
    stopped = tuple(sorted(set(a) - set(b)))
    grew, shrank = _grown(a, b), _grown(b, a)
    rules: dict[Kind, tuple[str, ...]] = {}
    sends_a, sends_b = _sends(current), _sends(candidate)
    if sends_a and not sends_b:
        rules[Kind.MORE_BLOCKED] = tuple(sorted(grew or set(b)))
    elif sends_b and not sends_a:
        rules[Kind.LESS_BLOCKED] = tuple(sorted(shrank or set(a)))
    elif sends_a and sends_b:
        more, more_rules = _removes(current, candidate)
        less, less_rules = _removes(candidate, current)
        if more:
            rules[Kind.MORE_STRIPPED] = tuple(sorted(more_rules | grew or set(b)))
        if less:
            rules[Kind.LESS_STRIPPED] = tuple(sorted(less_rules | shrank or set(a)))
    if not rules and (started or stopped):
        rules[Kind.RULES_CHANGED] = tuple(sorted({*started, *stopped}))
    if not rules:
        return NO_DIFFERENCE
    return Difference(
        kinds=tuple(sorted(rules)),
        started=started,
        stopped=stopped,
        rules=tuple(sorted(rules.items())),
    )


def compare_all(
    current: Mapping[str, Decision], candidate: Mapping[str, Decision]
) -> dict[str, Difference]:
    """:func:`compare` for every partner either side names; a partner only one side knows is
    a block (``partner_unknown``) on the other, as :func:`evaluate_outbound` would say."""
    unknown = block_decision((Reason.PARTNER_UNKNOWN, 1))
    out: dict[str, Difference] = {}
    for partner in sorted({*current, *candidate}):
        out[partner] = compare(current.get(partner, unknown), candidate.get(partner, unknown))
    return out
