"""Reading ``relay.yaml``'s ``slack.review`` section (issue 16): the review channel, whether
redactions are reviewed too, when cards expire and alert, and the reason codes offered."""

from __future__ import annotations

import re
from typing import Final

from relay.config_schema import ReviewConfig
from relay.config_sections import mapping as _mapping
from relay.config_sections import value as _value
from relay.core import defaults
from relay.core.ids import is_channel_id
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["review_section"]

_KEYS: Final = {"channel", "redactions", "expire_hours", "alert_minutes", "reasons"}
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}", re.ASCII)


def review_section(loc: Loc | None, problems: Problems) -> ReviewConfig | None:
    if loc is None or loc.value is None:
        return None
    m = _mapping(loc, "slack.review", _KEYS, problems, loc.line)
    channel = _value(m, "channel", str, problems, loc.line, "")
    if not is_channel_id(channel):
        where = m.get("channel")
        problems.add(
            where.line if where is not None else loc.line,
            "slack.review.channel must be the id of a private channel in this workspace",
        )
    expire = _value(m, "expire_hours", (int, float), problems, loc.line, None)
    alert = _value(m, "alert_minutes", (int, float), problems, loc.line, None)
    expire_hours = float(expire if expire is not None else defaults.REVIEW_EXPIRE_HOURS)
    alert_minutes = float(alert if alert is not None else defaults.REVIEW_ALERT_MINUTES)
    if not 0 < expire_hours <= 24 * 30:
        problems.add(m["expire_hours"].line, "slack.review.expire_hours: more than 0, at most 720")
    if not 0 < alert_minutes <= expire_hours * 60:
        where = m.get("alert_minutes") or m.get("expire_hours") or loc
        problems.add(
            where.line,
            "slack.review.alert_minutes must be more than 0 and no longer than expire_hours",
        )
    reasons: tuple[str, ...] = defaults.REVIEW_REASONS
    listed = m.get("reasons")
    if listed is not None:
        if not isinstance(listed.value, list) or not listed.value:
            problems.add(listed.line, "slack.review.reasons must be a list of reason codes")
        else:
            codes = []
            for item in listed.value:
                if isinstance(item.value, str) and _CODE.fullmatch(item.value):
                    codes.append(item.value)
                else:
                    problems.add(
                        item.line,
                        "slack.review.reasons: a code of lower-case letters, digits and _",
                    )
            if len(codes) > 20 or len(set(codes)) != len(codes):
                problems.add(listed.line, "slack.review.reasons: at most 20, each once")
            reasons = tuple(dict.fromkeys(codes)) or reasons
    return ReviewConfig(
        channel=channel,
        redactions=_value(m, "redactions", bool, problems, loc.line, False),
        expire_hours=expire_hours,
        alert_minutes=alert_minutes,
        reasons=reasons,
    )
