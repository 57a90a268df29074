"""An agency's example case for ``relay policy test``: the Slack event and topic it stands for,
the policy's decision on it, and whether that decision keeps and strips what the case expects."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
from pathlib import Path
from typing import Any, Final

from relay.commands.policy.apply import decision_to_wire
from relay.commands.policy.images import case_images, photo_view, with_images
from relay.core.policy.engine import evaluate_outbound
from relay.core.policy.model import Policy
from relay.core.slack_parse import parse_event

__all__ = [
    "case_topic",
    "decide",
    "resolve_images",
    "run_case",
    "safe",
    "simple_case_to_event",
    "unescape",
    "visible",
]

_CASE_ONLY_KEYS: Final = frozenset({"expected", "note", "case_channel", "_images"})


def _is_full_event(case: dict[str, Any]) -> bool:
    return "event" in case or case.get("type") in ("message", "event_callback")


def simple_case_to_event(case: dict[str, Any]) -> dict[str, Any]:
    """The case as a Slack message event: a full event (``"type": "message"`` or an ``event``
    wrapper) minus the case's own keys (``expected``, ``note``, ``case_channel``), or the
    simple example form (text, channel, files) turned into a bare message event."""
    if _is_full_event(case):
        return {k: v for k, v in case.items() if k not in _CASE_ONLY_KEYS}
    event: dict[str, Any] = {
        "type": "message",
        "text": str(case.get("text", "")),
        "user": "U0CASE0001",
        "ts": "1700000000.000100",
    }
    files = []
    for i, f in enumerate(case.get("files") or []):
        name = str(f.get("name", ""))
        mime = f.get("mimetype") or mimetypes.guess_type(name)[0] or ""
        files.append(
            {
                "id": f"F0CASE{i:04d}",
                "name": name,
                "title": f.get("title", ""),
                "alt_txt": f.get("alt_txt", ""),
                "mimetype": mime,
                "size": 1024,
                "mode": "hosted",
            }
        )
    if files:
        event["files"] = files
        event["subtype"] = "file_share"
    return event


def case_topic(case: dict[str, Any]) -> str:
    """A top-level ``case_channel`` (``#bolo``) if present; else the simple form's ``channel``,
    or a full event's top-level ``channel`` when it is a ``#name`` (not a Slack channel id)."""
    named = case.get("case_channel")
    if isinstance(named, str):
        return named.lstrip("#")
    if _is_full_event(case):
        channel = case.get("channel")
        return channel.lstrip("#") if isinstance(channel, str) and channel.startswith("#") else ""
    return str(case.get("channel", "")).lstrip("#")


def unescape(text: str) -> str:
    """Slack's mrkdwn entities (``&lt;``, ``&gt;``, ``&amp;``) undone."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def visible(message: dict[str, Any] | None) -> str:
    """What a partner's analyst sees of a decided message: its text, then its files' names,
    titles and alt texts."""
    if message is None:
        return ""
    text = unescape(str(message.get("text", "")))
    files = " ".join(
        f"{f.get('name', '')} {f.get('title', '')} {f.get('alt_txt', '')} "
        f"{f.get('photo_text', '')}"
        for f in message.get("files", [])
    )
    return f"{text}\n{files}"


def safe(value: Any, limit: int = 40) -> str:
    """A table cell from a file name or an expected action: printable characters only."""
    text = str(value)[:limit]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def decide(
    case: dict[str, Any], policy: Policy, peer: str | None, topic: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The decision on the case as wire JSON; without ``topic`` the case's own, without
    ``peer`` the first partner the topic is shared with. A case's images (``"image"`` in a
    file, resolved by the loader into ``_images``) are read, and what a partner could read
    in each photo that leaves is the file's ``photo_text`` (visible text, never sent)."""
    topic = topic or case_topic(case)
    if peer is None:
        peer = next((p.ori for p in policy.partners.values() if topic in p.share), "")
    message, data = with_images(parse_event(simple_case_to_event(case)), case.get(_IMAGES, {}))
    decision = evaluate_outbound(message, policy, peer, topic, now=now)
    wire = decision_to_wire(decision)
    seen = photo_view(decision, data)
    for f in (wire.get("message") or {}).get("files", []):
        if f["id"] in seen:
            f["photo_text"] = seen[f["id"]]
    return wire


_IMAGES: Final = "_images"  # set by the loader: file name -> image path


def resolve_images(case: dict[str, Any], base: Path) -> dict[str, Any]:
    """``case`` with its ``"image"`` paths resolved against ``base`` (the case's folder)."""
    images = case_images(case, base)
    return {**case, _IMAGES: images} if images else case


def run_case(
    case: dict[str, Any], policy: Policy, peer: str | None, topic: str | None, now: dt.datetime
) -> tuple[str, list[str]]:
    """Evaluate one case; returns the action and a list of failures (indexes, never text)."""
    expected = case.get("expected") or {}
    wire = decide(case, policy, peer, topic, now)
    everything = json.dumps(wire, ensure_ascii=False) + visible(wire["message"])
    shown = visible(wire["message"])
    failures = []
    if expected.get("action") and expected["action"] != wire["action"]:
        failures.append(f"action {wire['action']} (expected {safe(expected['action'])})")
    for i, s in enumerate(expected.get("must_strip") or []):
        if s in everything:
            failures.append(f"must_strip[{i}] leaked")
    for i, s in enumerate(expected.get("must_keep") or []):
        if s not in shown:
            failures.append(f"must_keep[{i}] missing")
    return str(wire["action"]), failures
