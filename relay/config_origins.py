"""``relay.yaml``'s ``origins:``: the signing keys of agencies heard from only through a hop.

An envelope relayed by a partner (a fusion center, say) still carries its origin's signature,
and the receiving relay verifies it against a key it pinned for the origin: a partner's keys
are pinned under ``partners:``; an agency this relay has no link with is pinned here, with
the same key shape and no ``url`` or ``tls_sha256`` (this relay never talks to it). An
envelope whose origin key is pinned nowhere is refused (``key_not_pinned``).

    origins:
      - ori: CT9990100
        keys:
          - {kid: "CT9990100#2026-k1", public_key: ..., not_before: ..., not_after: ...}
"""

from __future__ import annotations

from relay.config_schema import OriginKeys, PartnerLink
from relay.config_sections import key_section, mapping, value
from relay.core.ids import is_ori
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["origins_section"]


def _origin(loc: Loc, problems: Problems) -> OriginKeys | None:
    m = mapping(loc, "origin", {"ori", "keys"}, problems, loc.line)
    ori = value(m, "ori", str, problems, loc.line, "")
    if ori and not is_ori(ori):
        problems.add(m["ori"].line, "origin ori must match ^[A-Z]{2}[A-Z0-9]{7}$")
    keys_loc = m.get("keys")
    if keys_loc is not None and not isinstance(keys_loc.value, list):
        problems.add(keys_loc.line, "origin keys must be a list of keys")
    keys = []
    for item in keys_loc.value if keys_loc and isinstance(keys_loc.value, list) else []:
        key = key_section(item, problems)
        if key is None:
            continue
        if ori and not key.kid.startswith(f"{ori}#"):
            problems.add(item.line, f"key {key.kid} is not a key of {ori}")
        keys.append(key)
    if not keys:
        problems.add(
            keys_loc.line if keys_loc else loc.line, "origin needs at least one pinned signing key"
        )
    if not ori:
        return None
    return OriginKeys(ori=ori, keys=tuple(keys))


def origins_section(
    loc: Loc | None, problems: Problems, *, agency: str, partners: dict[str, PartnerLink]
) -> dict[str, OriginKeys]:
    """Every ``origins:`` entry by ORI; none this agency itself or one of its partners (their
    keys are pinned under ``partners:``), none twice, no kid pinned twice."""
    if loc is None or loc.value is None:
        return {}
    if not isinstance(loc.value, list):
        problems.add(loc.line, "origins must be a list of agencies (ori and keys)")
        return {}
    out: dict[str, OriginKeys] = {}
    kids = {k.kid for link in partners.values() for k in link.keys}
    for item in loc.value:
        origin = _origin(item, problems)
        if origin is None:
            continue
        if origin.ori == agency:
            problems.add(item.line, f"origin {origin.ori} is this agency")
        elif origin.ori in partners:
            problems.add(
                item.line, f"origin {origin.ori} is a partner: pin its keys under partners"
            )
        elif origin.ori in out:
            problems.add(item.line, f"duplicate origin '{origin.ori}'")
        for key in origin.keys:
            if key.kid in kids:
                problems.add(item.line, f"key {key.kid} is pinned twice")
            kids.add(key.kid)
        out.setdefault(origin.ori, origin)
    return out
