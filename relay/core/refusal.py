"""Kept for importers of the old name: envelope refusals are :class:`relay.core.reasons.Reason`
values (``VerificationError.code``). Use ``relay.core.reasons.Reason`` in new code."""

from __future__ import annotations

from relay.core.reasons import Reason as Refusal

__all__ = ["Refusal"]
