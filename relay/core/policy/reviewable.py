"""Which detectors a supervisor may never overrule (issue 16): a plain rule over the policy
model, used by the loader (a policy may not mark them ``reviewable``) and by the review views.
"""

from __future__ import annotations

from typing import Final

from relay.core.policy.model import Detector

__all__ = ["NEVER_REVIEWABLE", "never_reviewable"]

# Rule families a person may never release, whatever a policy says: the first segment of a
# detector id. A detector that protects people (sources, undercover officers) or matches
# classified markings is never reviewable either.
NEVER_REVIEWABLE: Final = frozenset(
    {
        "classified",
        "chri",
        "informant",
        "undercover",
        "juvenile",
        "sex_victim",
        "protected",
        "sealed",
    }
)


def never_reviewable(det: Detector) -> bool:
    """Whether ``det`` guards something no person may release."""
    family = det.id.split(".", 1)[0]
    sets = {name for group in det.when for name in group}
    return family in NEVER_REVIEWABLE or bool(det.protects) or "classified" in sets
