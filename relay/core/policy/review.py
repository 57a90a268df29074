"""What a supervisor may release of a message the policy stopped (issue 16), as plain
functions over the policy.

A detector marked ``reviewable: true`` lets a person decide instead of the rule. Two views
are offered for each partner:

* **without the flagged parts** (``without_flagged``): the units of reviewable block rules
  are removed as a strip rule would remove them, and the rest goes;
* **as written** (``as_written``): the units of reviewable rules are kept.

Both are the ordinary engine run over a variant of the policy (reviewable block detectors
turned into strip detectors, or reviewable detectors left out), so everything that is never
reviewable (classified markings, criminal-history returns, informants and undercover
officers, juveniles, sex-offence victims, sealed and protected records, built-in rules for
what the relay cannot evaluate) is applied exactly as always: its units are removed, and a
message it blocks has no view to release.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from relay.core.model import SlackMessage
from relay.core.mrkdwn import line_text
from relay.core.policy.decision import Decision
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.model import Action, Detector, Policy
from relay.core.policy.reviewable import NEVER_REVIEWABLE, never_reviewable

__all__ = [
    "NEVER_REVIEWABLE",
    "ReviewCase",
    "ReviewMode",
    "message_digest",
    "never_reviewable",
    "review_case",
    "variant",
]


class ReviewMode(StrEnum):
    WITHOUT_FLAGGED = "without_flagged"
    AS_WRITTEN = "as_written"


# id(policy) -> (the policy, kept so the id is not reused; its variants). A relay holds one
# or two policies (current and candidate); a reload replaces them, so a few entries suffice.
_VARIANTS: dict[int, tuple[Policy, dict[ReviewMode, Policy]]] = {}
_KEEP: Final = 8


def variant(policy: Policy, mode: ReviewMode) -> Policy:
    """``policy`` as a reviewer's release in ``mode`` applies it (built once per policy)."""
    entry = _VARIANTS.get(id(policy))
    if entry is None or entry[0] is not policy:
        while len(_VARIANTS) >= _KEEP:
            del _VARIANTS[next(iter(_VARIANTS))]
        entry = _VARIANTS[id(policy)] = (policy, {})
    cached = entry[1]
    if mode not in cached:
        dets: list[Detector] = []
        for det in policy.detectors:
            if not det.reviewable or never_reviewable(det):
                dets.append(det)
            elif mode is ReviewMode.WITHOUT_FLAGGED:
                dets.append(
                    replace(det, action=Action.REDACT) if det.action is Action.BLOCK else det
                )
        cached[mode] = replace(policy, detectors=tuple(dets))
    return cached[mode]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewCase:
    """One partner's decision under the policy and what a reviewer could release instead."""

    partner: str
    current: Decision
    flagged: tuple[str, ...]  # the reviewable rule ids that tripped
    views: dict[ReviewMode, Decision]  # only the views that would send something

    @property
    def releasable(self) -> bool:
        return bool(self.views)


def _reviewable_ids(policy: Policy) -> frozenset[str]:
    return frozenset(d.id for d in policy.detectors if d.reviewable and not never_reviewable(d))


def review_case(
    message: SlackMessage,
    policy: Policy,
    partner: str,
    topic: str,
    current: Decision,
    *,
    now: dt.datetime,
    redactions: bool = False,
) -> ReviewCase | None:
    """The review case for ``partner`` when ``current`` stopped something a person may
    decide on (a block on reviewable rules only; with ``redactions``, also a redaction by a
    reviewable rule); None when there is nothing to review."""
    reviewable = _reviewable_ids(policy)
    rules = tuple(dict.fromkeys(r.rule for r in current.reasons))
    flagged = tuple(r for r in rules if r in reviewable)
    if not flagged:
        return None
    if current.action is Action.BLOCK:
        if len(flagged) != len(rules):
            return ReviewCase(partner=partner, current=current, flagged=flagged, views={})
    elif current.action is not Action.REDACT or not redactions:
        return None
    views: dict[ReviewMode, Decision] = {}
    for mode in ReviewMode:
        if mode is ReviewMode.WITHOUT_FLAGGED and current.action is Action.REDACT:
            views[mode] = current
            continue
        decided = evaluate_outbound(message, variant(policy, mode), partner, topic, now=now)
        if decided.action is not Action.BLOCK and decided.message is not None:
            views[mode] = decided
    return ReviewCase(partner=partner, current=current, flagged=flagged, views=views)


def message_digest(message: SlackMessage) -> str:
    """sha256 of what a reviewer judged (every text part and file's name, title, alt text):
    a release checks the message still reads the same."""
    doc = [
        [[p.where, [line_text(line) for line in p.lines]] for p in message.parts],
        [[f.id, f.name, f.title, f.alt_txt] for f in message.files],
    ]
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode()).hexdigest()
