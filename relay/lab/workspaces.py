"""The emulator's workspaces as files and lines: what ``relay emulator`` reads and prints.

A workspaces file (``relay emulator --workspaces FILE``, ``DIR/emulator.json`` of a lab) is JSON,
either a list of workspaces or an object ``{"host", "port", "workspaces": [...]}``::

    {"host": "127.0.0.1", "port": 41234,
     "workspaces": [{"team": "T0CT1LAB", "name": "Havenport PD",
                     "bot_token": "xoxb-...", "signing_secret": "...",
                     "events_url": "http://127.0.0.1:41235/slack/events",
                     "interactivity_url": "http://127.0.0.1:41235/slack/interactivity",
                     "channels": {"bolo": "C0CT1BOLO"},
                     "users": {"r.okafor": {"id": "U0OKAFOR01", "token": "xoxp-...",
                                            "display_name": "Det. Sgt. R. Okafor"}}}]}

The first line ``relay emulator`` prints has the same ``workspaces`` shape (without
``events_url``, ``interactivity_url`` and ``display_name``), so it can be fed back. See
``docs/lab.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from relay.lab.emulator import ChannelSpec, Emulator, EventsApi, UserSpec, WorkspaceSpec

__all__ = [
    "WorkspacesError",
    "WorkspacesFile",
    "demo_workspaces",
    "emulator_line",
    "handle",
    "read_workspaces",
]

_TEAM: Final = re.compile(r"^T[A-Z0-9]{2,20}$")
_CHANNEL_ID: Final = re.compile(r"^[CG][A-Z0-9]{2,20}$")
_CHANNEL_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_USER_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_USER_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_TOP_KEYS: Final = {"host", "port", "workspaces", "emulator", "api_url"}
_WS_KEYS: Final = {
    "team",
    "name",
    "bot_token",
    "signing_secret",
    "events_url",
    "interactivity_url",
    "channels",
    "users",
}
_USER_KEYS: Final = {"id", "token", "display_name"}


class WorkspacesError(ValueError):
    """A workspaces file that cannot be used; ``str()`` is one line naming file and place."""


@dataclass(frozen=True, slots=True)
class WorkspacesFile:
    specs: tuple[WorkspaceSpec, ...]
    host: str | None = None
    port: int | None = None


def handle(display_name: str) -> str:
    """An officer's user name from a display name: ``Det. Sgt. R. Okafor`` -> ``r.okafor``."""
    words = [w.strip(".").lower() for w in display_name.split() if w.strip(".")]
    return ".".join(words[-2:]) if words else "officer"


def demo_workspaces() -> tuple[WorkspaceSpec, ...]:
    """The demo's four agencies (``relay demo``): teams, channels and officers, the app's
    bot a member of every channel, no event target."""
    from relay.commands.demo import agencies
    from relay.lab.network import TOPICS

    return tuple(
        WorkspaceSpec(
            team_id=a.team,
            name=a.name,
            domain=a.name.lower().replace(" ", "-"),
            users=tuple(UserSpec(id=u, name=handle(n), display_name=n) for u, n in a.officers),
            channels=tuple(ChannelSpec(id=a.channel(t), name=t) for t in TOPICS),
        )
        for a in agencies()
    )


def emulator_line(emu: Emulator) -> dict[str, Any]:
    """``{"emulator", "api_url", "workspaces": [...]}``: the first line of ``relay emulator``
    and of ``relay lab up``."""
    workspaces = []
    for ws in emu.state.workspaces.values():
        workspaces.append(
            {
                "team": ws.team_id,
                "name": ws.name,
                "bot_token": ws.bot_token,
                "signing_secret": ws.signing_secret,
                "channels": {ch.name: ch.id for ch in ws.channels.values()},
                "users": {
                    u.name: {"id": u.id, "token": ws.user_tokens[u.id]}
                    for u in ws.users.values()
                    if not u.is_bot
                },
            }
        )
    return {"emulator": emu.base_url, "api_url": emu.api_url, "workspaces": workspaces}


def read_workspaces(path: Path) -> WorkspacesFile:
    """Load and check a workspaces file; :class:`WorkspacesError` names the first problem."""
    try:
        raw: object = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspacesError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspacesError(f"{path}: cannot read ({type(exc).__name__})") from None
    except ValueError as exc:
        raise WorkspacesError(f"{path}: not JSON ({exc})") from None
    return parse_workspaces(raw, str(path))


def _fail(source: str, where: str, message: str) -> WorkspacesError:
    return WorkspacesError(f"{source}: {where}: {message}")


def _keys(value: object, allowed: set[str], source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(source, where, "must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(source, where, f"unknown key '{unknown[0]}'")
    return value


def _text(m: dict[str, Any], key: str, source: str, where: str, *, required: bool) -> str:
    value = m.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise _fail(source, f"{where}.{key}", "must be a non-empty string")
    return value


def parse_workspaces(raw: object, source: str) -> WorkspacesFile:
    host: str | None = None
    port: int | None = None
    items = raw
    if isinstance(raw, dict):
        top = _keys(raw, _TOP_KEYS, source, "top level")
        if "workspaces" not in top:
            raise _fail(source, "top level", "missing key 'workspaces'")
        items = top["workspaces"]
        if "host" in top:
            host = _text(top, "host", source, "top level", required=True)
        if "port" in top:
            port = top["port"]
            if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
                raise _fail(source, "port", "must be a port number 0-65535")
    if not isinstance(items, list) or not items:
        raise _fail(source, "workspaces", "must be a non-empty list of workspaces")
    specs = [_workspace(item, source, f"workspaces[{i}]") for i, item in enumerate(items)]
    _unique(((s.team_id, f"team {s.team_id}") for s in specs), source)
    _unique(((s.bot_token, f"bot_token of {s.team_id}") for s in specs if s.bot_token), source)
    _unique(
        (
            (u.token, f"token of {s.team_id} user {u.id}")
            for s in specs
            for u in s.users
            if u.token
        ),
        source,
    )
    return WorkspacesFile(specs=tuple(specs), host=host, port=port)


def _unique(values: Iterable[tuple[str, str]], source: str) -> None:
    seen: set[str] = set()
    for value, what in values:
        if value in seen:
            raise WorkspacesError(f"{source}: duplicate {what}")
        seen.add(value)


def _workspace(item: object, source: str, where: str) -> WorkspaceSpec:
    m = _keys(item, _WS_KEYS, source, where)
    team = _text(m, "team", source, where, required=True)
    if not _TEAM.match(team):
        raise _fail(source, f"{where}.team", f"'{team}' is not a Slack team id (T...)")
    name = _text(m, "name", source, where, required=True)
    bot_token = _text(m, "bot_token", source, where, required=False)
    if bot_token and not bot_token.startswith("xoxb-"):
        raise _fail(source, f"{where}.bot_token", "a bot token starts with xoxb-")
    secret = _text(m, "signing_secret", source, where, required=False)
    urls = {key: m.get(key) for key in ("events_url", "interactivity_url")}
    for key, url in urls.items():
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise _fail(source, f"{where}.{key}", "must be an http(s) URL or null")
    events_url = urls["events_url"]
    channels_raw = m.get("channels")
    if not isinstance(channels_raw, dict) or not channels_raw:
        raise _fail(source, f"{where}.channels", "must map channel names to ids")
    channels: list[ChannelSpec] = []
    for cname, cid in channels_raw.items():
        if not _CHANNEL_NAME.match(cname):
            raise _fail(source, f"{where}.channels", f"'{cname}' is not a channel name")
        if not isinstance(cid, str) or not _CHANNEL_ID.match(cid):
            raise _fail(source, f"{where}.channels.{cname}", f"{cid!r} is not a channel id")
        channels.append(ChannelSpec(id=cid, name=cname, private=cid.startswith("G")))
    _unique(((c.id, f"channel id {c.id} in {team}") for c in channels), source)
    users_raw = m.get("users", {})
    if not isinstance(users_raw, dict):
        raise _fail(source, f"{where}.users", "must map user names to {id, token}")
    users: list[UserSpec] = []
    for uname, spec in users_raw.items():
        uwhere = f"{where}.users.{uname}"
        if not _USER_NAME.match(uname):
            raise _fail(source, f"{where}.users", f"'{uname}' is not a user name")
        u = _keys(spec, _USER_KEYS, source, uwhere)
        uid = _text(u, "id", source, uwhere, required=True)
        if not _USER_ID.match(uid):
            raise _fail(source, f"{uwhere}.id", f"'{uid}' is not a user id (U...)")
        token = _text(u, "token", source, uwhere, required=False)
        if token and not token.startswith("xoxp-"):
            raise _fail(source, f"{uwhere}.token", "a user token starts with xoxp-")
        display = _text(u, "display_name", source, uwhere, required=False)
        users.append(UserSpec(id=uid, name=uname, display_name=display, token=token))
    _unique(((u.id, f"user id {u.id} in {team}") for u in users), source)
    return WorkspaceSpec(
        team_id=team,
        name=name,
        domain=name.lower().replace(" ", "-"),
        channels=tuple(channels),
        users=tuple(users),
        bot_token=bot_token,
        signing_secret=secret,
        delivery=EventsApi(url=events_url) if events_url else None,
        interactivity_url=urls["interactivity_url"] or "",
    )
