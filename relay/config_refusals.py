"""``federation.refusals`` in ``relay.yaml``: how refusals at the federation listener are
counted and kept (:mod:`relay.flow.refusals`)::

    federation:
      refusals: {window_seconds: 60, keep: 1000}

``window_seconds`` (1-86400): refusals of one peer for one reason are counted per window, with
a ledger record when a window opens and one with the count when it closes. ``keep``
(0-1,000,000): the last refusals kept one by one in the store.
"""

from __future__ import annotations

from typing import Any, Final

from relay.config_sections import mapping, value
from relay.core import defaults
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["refusals_section"]

_KEYS: Final = {"window_seconds", "keep"}
MAX_WINDOW: Final = 86_400
MAX_KEEP: Final = 1_000_000


def refusals_section(loc: Loc | None, problems: Problems, line: int) -> dict[str, Any]:
    """The ``FederationConfig`` fields (``refusal_window``, ``refusals_kept``) it sets."""
    if loc is None:
        return {}
    m = mapping(loc, "refusals", _KEYS, problems, line)
    window = value(m, "window_seconds", (int, float), problems, loc.line, defaults.REFUSAL_WINDOW)
    keep = value(m, "keep", int, problems, loc.line, defaults.REFUSALS_KEPT)
    if not 1 <= window <= MAX_WINDOW:
        problems.add(m["window_seconds"].line, f"refusals.window_seconds must be 1-{MAX_WINDOW}")
        window = defaults.REFUSAL_WINDOW
    if not 0 <= keep <= MAX_KEEP:
        problems.add(m["keep"].line, f"refusals.keep must be 0-{MAX_KEEP}")
        keep = defaults.REFUSALS_KEPT
    return {"refusal_window": float(window), "refusals_kept": keep}
