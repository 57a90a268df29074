"""Which detectors a supervisor may never overrule (issue 16): a plain rule over the policy
model, used by the loader (a policy may not mark them ``reviewable``) and by the review views.
"""

from __future__ import annotations

from typing import Final

from relay.core.policy.model import Detector

__all__ = ["NEVER_REVIEWABLE", "PROTECTED_SETS", "never_reviewable"]

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


# Pattern sets that find what no person may release, by the start of their name (the
# baseline's and any agency's that follow its naming): a detector built on one is never
# reviewable whatever its id, so a protected rule cannot be disabled and re-added under
# another name to make it reviewable.
PROTECTED_SETS: Final = (
    "classified",
    "ncic",
    "chri",
    "juvenile",
    "minor",
    "age_field",
    "school",
    "victim",
    "sex_offense",
    "sealed",
    "protected",
    "source",
    "informant",
    "undercover",
    "uc_",
)


def never_reviewable(det: Detector) -> bool:
    """Whether ``det`` guards something no person may release: its rule family, people it
    protects, or a pattern set (in ``when`` or ``context``) of a protected kind."""
    family = det.id.split(".", 1)[0]
    sets = {name for group in det.when for name in group} | set(det.context)
    return (
        family in NEVER_REVIEWABLE
        or bool(det.protects)
        or any(name.startswith(PROTECTED_SETS) for name in sets)
    )
