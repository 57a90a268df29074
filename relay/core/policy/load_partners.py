"""A policy's partners from its YAML: ORI, kind, information exchange agreement (an expired one
does not load), topics shared and accepted, marking ceiling.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from relay.core.model import AgencyId
from relay.core.policy.model import Level, Partner
from relay.core.policy.reader import Reader, read_level
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["ORI_PATTERN", "read_partner"]

ORI_PATTERN: Final = re.compile(r"^[A-Z]{2}[A-Z0-9]{7}$")
_PARTNER_KINDS: Final = frozenset(
    {
        "law_enforcement",
        "parole_probation",
        "fusion_center",
        "prosecutor",
        "federal",
        "corrections",
    }
)


def read_partner(
    loc: Loc, topics: set[str], default_ceiling: Level, today: dt.date, problems: Problems
) -> Partner | None:
    r = Reader(
        loc,
        "partner",
        {
            "ori",
            "name",
            "state",
            "kind",
            "agreement",
            "share",
            "accept",
            "ceiling",
            "allow_categories",
            "redisseminate",
        },
        problems,
    )
    ori = r.get("ori", str, required=True)
    if ori is not None and not ORI_PATTERN.match(ori):
        problems.add(r.line_of("ori"), "partner ori must match ^[A-Z]{2}[A-Z0-9]{7}$")
    kind = r.get("kind", str, required=True)
    if kind is not None and kind not in _PARTNER_KINDS:
        problems.add(r.line_of("kind"), f"unknown partner kind '{kind}'")
    agreement_loc = r.data.get("agreement")
    agreement_id, expires = "", dt.date.min
    if agreement_loc is None:
        problems.add(r.line, "missing key 'agreement' (information exchange agreement)")
    else:
        a = Reader(agreement_loc, "agreement", {"id", "expires"}, problems)
        agreement_id = a.get("id", str, "", required=True) or ""
        expires = a.get("expires", dt.date, dt.date.min, required=True)
        if isinstance(expires, dt.datetime):
            expires = expires.date()
        if a.data.get("expires") and expires < today:
            problems.add(
                a.line_of("expires"),
                f"agreement {agreement_id or '?'} expired on {expires.isoformat()}",
            )
    share, accept = r.strings("share"), r.strings("accept")
    for topic, line in [*share, *accept]:
        if topic not in topics:
            problems.add(line, f"topic '{topic}' is not one of this agency's topics")
    if ori is None or kind is None:
        return None
    return Partner(
        ori=AgencyId(ori),
        name=r.get("name", str, "", required=True) or "",
        kind=kind,
        state=r.get("state", str, "") or "",
        agreement_id=agreement_id,
        agreement_expires=expires,
        share=frozenset(t for t, _ in share),
        accept=frozenset(t for t, _ in accept),
        ceiling=read_level(r, "ceiling", default_ceiling),
        allow_categories=frozenset(c.upper() for c, _ in r.strings("allow_categories")),
        redisseminate=bool(r.get("redisseminate", bool, False)),
    )
