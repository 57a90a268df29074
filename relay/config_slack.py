"""Reading ``relay.yaml``'s ``slack:`` section: the workspace, its channels and where its
secrets come from (environment variables or files, never the YAML)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from relay.config_review import review_section
from relay.config_schema import Secret, SlackConfig, Supervisors
from relay.config_sections import mapping as _mapping
from relay.config_sections import value as _value
from relay.core import defaults
from relay.core.ids import is_channel_id, is_ori, is_user_id, is_usergroup_id
from relay.core.policy.yamlnodes import Loc, Problems

__all__ = ["slack_section"]

_SLACK: Final = {
    "team_id",
    "mode",
    "api_url",
    "bot_token_env",
    "bot_token_file",
    "signing_secret_env",
    "signing_secret_file",
    "app_token_env",
    "app_token_file",
    "listen",
    "channels",
    "partner_channels",
    "icon_url",
    "pacing",
    "catch_up_seconds",
    "supervisors",
    "cancel_reaction",
    "status_reaction",
    "review",
}
_FORBIDDEN_SECRETS: Final = {"bot_token", "signing_secret", "app_token", "token"}
_REACTION: Final = re.compile(r"[a-z0-9_+'-]{1,100}", re.ASCII)  # an emoji name, no colons


def _secret(
    m: dict[str, Loc], name: str, base: Path, problems: Problems, line: int, required: bool
) -> Secret:
    env = _value(m, f"{name}_env", str, problems, line, "")
    file = _value(m, f"{name}_file", str, problems, line, "")
    if env and file:
        problems.add(line, f"give {name}_env or {name}_file, not both")
    if required and not env and not file:
        problems.add(line, f"missing {name}_env or {name}_file (secrets never go in the YAML)")
    return Secret(env=env or None, file=(base / file) if file else None)


def _slack(loc: Loc, base: Path, problems: Problems) -> SlackConfig:
    if isinstance(loc.value, dict):
        for key, value in loc.value.items():
            if key in _FORBIDDEN_SECRETS:
                problems.add(
                    value.line,
                    f"'{key}' must not be written in the YAML: name an "
                    f"environment variable ({key}_env) or a file "
                    f"({key}_file)",
                )
    m = _mapping(loc, "slack", _SLACK | _FORBIDDEN_SECRETS, problems, loc.line)
    mode = _value(m, "mode", str, problems, loc.line, "events")
    if mode not in ("events", "socket"):
        problems.add(m["mode"].line, "slack mode must be 'events' or 'socket'")
    listen = _mapping(
        m.get("listen") or Loc({}, loc.line), "listen", {"host", "port"}, problems, loc.line
    )
    channels: dict[str, str] = {}
    ch = m.get("channels")
    if ch is None or not isinstance(ch.value, dict) or not ch.value:
        problems.add(ch.line if ch else loc.line, "slack channels must map channel ids to topics")
    else:
        for cid, topic in ch.value.items():
            if not is_channel_id(cid) or not isinstance(topic.value, str):
                problems.add(topic.line, f"channel '{cid}': a Slack channel id mapped to a topic")
            else:
                channels[cid] = topic.value
    partner_channels = _partner_channels(m.get("partner_channels"), problems)
    cancel = _reaction(m.get("cancel_reaction"), problems)
    status = _reaction(
        m.get("status_reaction"), problems, "status_reaction", defaults.SLACK_STATUS_REACTION
    )
    marks = {cancel: "cancel_reaction", status: "status_reaction"}
    for name, key in marks.items():
        # the relay's own marks on an author's message (receipts), or the two keys at once
        where = m.get(key)
        if name in ("white_check_mark", "warning") or (
            cancel == status and key == "status_reaction"
        ):
            problems.add(
                where.line if where is not None else loc.line,
                f"slack.{key} '{name}' is taken: cancel_reaction and status_reaction must "
                "differ, and neither may be white_check_mark or warning (the relay's own marks)",
            )
    review = review_section(m.get("review"), problems)
    landing = {cid for routes in partner_channels.values() for cid in routes.values()}
    if review is not None and (review.channel in channels or review.channel in landing):
        where = m.get("review")
        problems.add(
            where.line if where is not None else loc.line,
            "slack.review.channel must be a channel of its own, not a federated channel or one "
            "partners' posts land in (the cards show the original text)",
        )
    every = m.get("catch_up_seconds")
    if every is not None and (not isinstance(every.value, int | float) or every.value < 1):
        problems.add(every.line, "slack.catch_up_seconds must be a number of seconds >= 1")
    return SlackConfig(
        team_id=_value(m, "team_id", str, problems, loc.line, ""),
        mode=mode,
        api_url=_value(m, "api_url", str, problems, loc.line, defaults.SLACK_API_URL),
        bot_token=_secret(m, "bot_token", base, problems, loc.line, True),
        signing_secret=_secret(m, "signing_secret", base, problems, loc.line, mode == "events"),
        app_token=_secret(m, "app_token", base, problems, loc.line, mode == "socket"),
        host=_value(listen, "host", str, problems, loc.line, defaults.SLACK_HOST),
        port=_value(listen, "port", int, problems, loc.line, defaults.SLACK_PORT),
        channels=channels,
        partner_channels=partner_channels,
        icon_url=_value(m, "icon_url", str, problems, loc.line, "") or None,
        pacing=_value(m, "pacing", bool, problems, loc.line, True),
        catch_up_seconds=float(
            _value(
                m, "catch_up_seconds", (int, float), problems, loc.line, defaults.SLACK_CATCH_UP
            )
        ),
        supervisors=_supervisors(m.get("supervisors"), problems),
        cancel_reaction=cancel,
        status_reaction=status,
        review=review,
    )


def _supervisors(loc: Loc | None, problems: Problems) -> Supervisors:
    """``supervisors: {users: [U...], usergroup: S...}``, both optional."""
    if loc is None or loc.value is None:
        return Supervisors()
    m = _mapping(loc, "slack.supervisors", {"users", "usergroup"}, problems, loc.line)
    users: set[str] = set()
    listed = m.get("users")
    if listed is not None and not isinstance(listed.value, list):
        problems.add(listed.line, "slack.supervisors.users must be a list of Slack user ids")
    elif listed is not None:
        for user in listed.value:
            if is_user_id(user.value):
                users.add(user.value)
            else:
                shown = str(user.value)[:40]
                problems.add(
                    user.line, f"slack.supervisors.users: '{shown}' is not a Slack user id (U…/W…)"
                )
    group = m.get("usergroup")
    usergroup = None
    if group is not None and is_usergroup_id(group.value):
        usergroup = group.value
    elif group is not None:
        problems.add(
            group.line,
            f"slack.supervisors.usergroup: '{str(group.value)[:40]}' is not a Slack user group "
            "id (S…)",
        )
    return Supervisors(users=frozenset(users), usergroup=usergroup)


def _reaction(
    loc: Loc | None,
    problems: Problems,
    key: str = "cancel_reaction",
    default: str = defaults.SLACK_CANCEL_REACTION,
) -> str:
    if loc is None or loc.value is None:
        return default
    if isinstance(loc.value, str) and _REACTION.fullmatch(loc.value):
        return loc.value
    problems.add(
        loc.line,
        f"slack.{key} must be an emoji name without colons (e.g. {default}), "
        f"not '{str(loc.value)[:40]}'",
    )
    return default


def _partner_channels(loc: Loc | None, problems: Problems) -> dict[str, dict[str, str]]:
    """``partner_channels``: per topic, where partners' posts land instead of the channel
    officers post in: a channel id (every partner), or ``{default: id, ORI: id, ...}``."""
    out: dict[str, dict[str, str]] = {}
    if loc is None:
        return out
    if not isinstance(loc.value, dict):
        problems.add(loc.line, "slack.partner_channels must map topics to channel ids")
        return out
    for topic, where in loc.value.items():
        if isinstance(where.value, str):
            entries = {"default": where}
        elif isinstance(where.value, dict):
            entries = dict(where.value)
        else:
            problems.add(where.line, f"partner_channels '{topic}': a channel id, or a mapping")
            continue
        routes: dict[str, str] = {}
        for who, cid in entries.items():
            if who != "default" and not is_ori(who):
                problems.add(
                    cid.line, f"partner_channels '{topic}': '{who}' is not 'default' or an ORI"
                )
            elif not isinstance(cid.value, str) or not is_channel_id(cid.value):
                problems.add(cid.line, f"partner_channels '{topic}': a Slack channel id")
            else:
                routes["*" if who == "default" else who] = cid.value
        out[str(topic)] = routes
    return out


slack_section = _slack
