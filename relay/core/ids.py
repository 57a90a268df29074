"""The relay's identifiers: one ``NewType`` and one pattern each, and their validators.

- **ORI** (:data:`AgencyId`): an agency's NCIC ORI, two letters then seven letters or digits
  (``CT9990100``).
- **kid** (:data:`KeyId`): ``<ORI>#<suffix>``, the suffix 1-64 of ``A-Z a-z 0-9 . _ -``
  (``CT9990100#2026-k1``). 64 is the longest suffix any part of the relay accepted (relay.yaml,
  the audit trail, metrics); the envelope reader accepted 32 and now takes what relay.yaml may
  pin. ``relay keygen`` still makes suffixes of at most :data:`NEW_KID_SUFFIX_MAX` (32).
- **envelope id** (:data:`EnvelopeId`): an envelope's ``jti``, 1-128 of ``A-Z a-z 0-9 . _ : -``.
- **channel id** (:data:`ChannelId`): a Slack channel id, ``C`` or ``G`` then 2 or more
  capitals or digits.
- **user id**: a Slack user id, ``U`` or ``W`` (Enterprise Grid) then 2 or more capitals or
  digits; a **user group id**: ``S`` then 2 or more capitals or digits.

Patterns are unanchored and compiled ``re.ASCII``: use ``fullmatch`` (or the ``is_*``
helpers); they are also embedded in larger patterns (``envelope_claims``).
"""

from __future__ import annotations

import re
from typing import Final, NewType, TypeGuard

__all__ = [
    "CHANNEL_ID_PATTERN",
    "ENVELOPE_ID_PATTERN",
    "KID_PATTERN",
    "KID_SUFFIX_PATTERN",
    "NEW_KID_SUFFIX_MAX",
    "ORI_PATTERN",
    "USERGROUP_ID_PATTERN",
    "USER_ID_PATTERN",
    "AgencyId",
    "ChannelId",
    "EnvelopeId",
    "KeyId",
    "is_channel_id",
    "is_envelope_id",
    "is_kid",
    "is_ori",
    "is_user_id",
    "is_usergroup_id",
    "issuer_of",
    "message_place",
    "parse_ori",
]

AgencyId = NewType("AgencyId", str)
KeyId = NewType("KeyId", str)
EnvelopeId = NewType("EnvelopeId", str)
ChannelId = NewType("ChannelId", str)

ORI_PATTERN: Final = re.compile(r"[A-Z]{2}[A-Z0-9]{7}", re.ASCII)
KID_SUFFIX_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
KID_PATTERN: Final = re.compile(rf"{ORI_PATTERN.pattern}#{KID_SUFFIX_PATTERN.pattern}", re.ASCII)
NEW_KID_SUFFIX_MAX: Final = 32
ENVELOPE_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
CHANNEL_ID_PATTERN: Final = re.compile(r"[CG][A-Z0-9]{2,}", re.ASCII)
USER_ID_PATTERN: Final = re.compile(r"[UW][A-Z0-9]{2,}", re.ASCII)
USERGROUP_ID_PATTERN: Final = re.compile(r"S[A-Z0-9]{2,}", re.ASCII)


def _fits(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_ori(value: object) -> TypeGuard[AgencyId]:
    return _fits(ORI_PATTERN, value)


def is_kid(value: object) -> TypeGuard[KeyId]:
    return _fits(KID_PATTERN, value)


def is_envelope_id(value: object) -> TypeGuard[EnvelopeId]:
    return _fits(ENVELOPE_ID_PATTERN, value)


def is_channel_id(value: object) -> TypeGuard[ChannelId]:
    return _fits(CHANNEL_ID_PATTERN, value)


def is_user_id(value: object) -> TypeGuard[str]:
    return _fits(USER_ID_PATTERN, value)


def is_usergroup_id(value: object) -> TypeGuard[str]:
    return _fits(USERGROUP_ID_PATTERN, value)


def parse_ori(text: str) -> AgencyId:
    """An agency ORI: two letters then seven letters or digits (``CT9990100``)."""
    if not is_ori(text):
        raise ValueError("not an ORI")
    return AgencyId(text)


def issuer_of(envelope_id: str) -> str:
    """The agency an envelope id names first (``<ORI>.<rest>``: the issuer leads every id)."""
    return envelope_id.split(".", 1)[0]


def message_place(envelope_id: str) -> tuple[str, str, str] | None:
    """(issuer, channel id it had first, Slack ts) of a message's own envelope id
    (``<ORI>.<channel>.<secs>.<micros>``); None for an edit's, a delete's or any other."""
    parts = envelope_id.split(".")
    if len(parts) != 4:
        return None
    return parts[0], parts[1], f"{parts[2]}.{parts[3]}"
