"""`relay status --config FILE [--json]`: the relay's queues from its store, and whether it runs.

Read from the store, so it works while the relay is down; any instance's host can run it. A
table by default; with ``--json`` one JSON object (a contract)::

    {
      "agency": "CT9990100",
      "generated_at": "2026-11-26T12:00:00Z",          # RFC 3339 UTC, whole seconds
      "relay": {
        "state": "ready" | "running" | "not_running" | "no_admin_listener",
        "url": "http://127.0.0.1:9469/readyz" | null,  # what was asked (2 s timeout)
        "http_status": 200 | 503 | null
      },
      "partners": [                                    # by ORI: relay.yaml's and any queued
        {"ori": "MA9990200",
         "queued": 3,          # outbox items pending (due, waiting for a retry, or leased)
         "due": 2,             # pending with their next attempt due now (leased ones too)
         "leased": 1 | null,   # pending and leased by an instance now (null: not known)
         "dead": 1,            # dead letters
         "oldest_queued_age_seconds": 312 | null,
         "last_dead_reason": "http_410" | null}        # of the newest dead letter
      ],
      "inbound": {"queued", "due", "leased", "dead", "oldest_queued_age_seconds",
                  "last_dead_reason"},                 # the same fields, every sender
      "slack_pending_events": 0,                       # Slack events taken, not processed
      "refusals": [                                    # the last 5, oldest first
        {"at": "2026-11-26T11:58:00Z", "peer": "unknown", "reason": "signature_invalid"}
      ],
      "refusal_windows": [                             # the last 10 by start, newest first
        {"peer": "unknown", "reason": "peer_unknown",  # every refusal, counted per window
         "started_at": "2026-11-26T11:58:00Z", "ended_at": "2026-11-26T11:59:00Z",
         "count": 2000, "open": false}                 # open: counted up to ended_at so far
      ]
    }

``state``: ``ready`` when ``GET /readyz`` on the admin listener answers 200, ``running`` when it
answers anything else (up, not ready), ``not_running`` when nothing answers in 2 s, and
``no_admin_listener`` when ``relay.yaml`` has no ``admin:`` section. The probe goes straight
to the listener, never through a proxy (``HTTP_PROXY`` and the like are ignored). Ids,
counts, times and reason codes only, never message text.

Exit codes: 0 (whatever the relay's state), 1 the store cannot be opened or read, 2 a
``relay.yaml`` that does not load or usage. Errors are one line on stderr, never a traceback,
never the store URL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from relay.commands.common import CommandError, duration, load_config, printable, using_store
from relay.config import AdminConfig, RelayConfig
from relay.errors import exit_code
from relay.store.contract import Store

__all__ = ["add_parser", "collect_status", "probe_admin"]

_LIMIT: Final = 100_000
_REFUSALS: Final = 5
_WINDOWS: Final = 10
_TIMEOUT: Final = 2.0


@dataclass(slots=True)
class _Counts:
    queued: int = 0
    due: int = 0
    leased: int | None = None
    dead: int = 0
    oldest: float | None = None
    last_dead_seq: int = -1
    last_dead_reason: str | None = None

    def wire(self, now: float) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "due": self.due,
            "leased": self.leased,
            "dead": self.dead,
            "oldest_queued_age_seconds": (
                max(0, int(now - self.oldest)) if self.oldest is not None else None
            ),
            "last_dead_reason": self.last_dead_reason,
        }


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(math.floor(seconds), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the admin listener ------------------------------------------------------------------------
def probe_admin(admin: AdminConfig | None, timeout: float = _TIMEOUT) -> dict[str, Any]:
    """``GET /readyz`` on the admin listener: ready, running (answers, not ready) or not."""
    if admin is None:
        return {"state": "no_admin_listener", "url": None, "http_status": None}
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(admin.host, admin.host)  # noqa: S104
    netloc = f"[{host}]" if ":" in host else host
    url = f"http://{netloc}:{admin.port}/readyz"
    status: int | None = None
    try:
        # A fixed http:// URL built from relay.yaml's admin listener, asked directly: never
        # through HTTP_PROXY/http_proxy (a proxied agency network would answer for it).
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (OSError, ValueError):
        status = None
    state = "not_running" if status is None else "ready" if status == 200 else "running"
    return {"state": state, "url": url, "http_status": status}


def collect_status(
    config: RelayConfig, store: Store, *, now: float, admin: dict[str, Any]
) -> dict[str, Any]:
    """The ``--json`` object (see the module docstring) from an open store."""
    partners: dict[str, _Counts] = {ori: _Counts() for ori in config.partners}
    inbound = _Counts()

    def counts(queue: str, peer: str) -> _Counts:
        return partners.setdefault(peer, _Counts()) if queue == "outbox" else inbound

    for stat in store.queue_stats():
        c = counts(stat.queue, stat.peer)
        if stat.state == "pending":
            c.queued += stat.count
            c.oldest = stat.oldest if c.oldest is None else min(c.oldest, stat.oldest)
        elif stat.state == "dead":
            c.dead += stat.count
    for entry in store.queue_entries(state="pending", limit=_LIMIT):
        if entry.next_at <= now:
            counts(entry.queue, entry.peer).due += 1
    for entry in store.queue_entries(state="dead", limit=_LIMIT):
        c = counts(entry.queue, entry.peer)
        seq = int(entry.id.partition("-")[2])
        if seq > c.last_dead_seq:
            c.last_dead_seq, c.last_dead_reason = seq, entry.reason
    leased = store.lease_counts(now)
    for ori, c in partners.items():
        c.leased = leased.get(("outbox", ori), 0)
    inbound.leased = sum(n for (queue, _), n in leased.items() if queue == "inbound")
    refusals = store.refusals(limit=_REFUSALS)
    windows = store.refusal_windows(limit=_WINDOWS)
    return {
        "agency": config.agency,
        "generated_at": _rfc3339(now),
        "relay": admin,
        "partners": [{"ori": ori, **partners[ori].wire(now)} for ori in sorted(partners)],
        "inbound": inbound.wire(now),
        "slack_pending_events": store.pending_event_count(),
        "refusals": [
            {"at": _rfc3339(r.at.timestamp()), "peer": r.peer, "reason": r.reason}
            for r in refusals
        ],
        "refusal_windows": [
            {
                "peer": w.peer,
                "reason": w.reason,
                "started_at": _rfc3339(w.started.timestamp()),
                "ended_at": _rfc3339(w.ended.timestamp()),
                "count": w.count,
                "open": not w.closed,
            }
            for w in windows
        ],
    }


# -- output ------------------------------------------------------------------------------------
def _duration(seconds: int | None) -> str:
    return "-" if seconds is None else duration(seconds)


def _cell(value: Any) -> str:
    return printable("-" if value is None else str(value))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


_STATES: Final = {
    "ready": "running, ready",
    "running": "running, not ready",
    "not_running": "not running",
    "no_admin_listener": "unknown (no admin: listener in relay.yaml)",
}


def render(status: dict[str, Any]) -> str:
    relay = status["relay"]
    where = f" ({relay['url']} -> {relay['http_status'] or 'no answer'})" if relay["url"] else ""
    out = [f"relay {status['agency']}: {_STATES[relay['state']]}{where}", ""]
    header = ["QUEUE", "PEER", "QUEUED", "DUE", "LEASED", "DEAD", "OLDEST", "LAST DEAD REASON"]
    rows = [header]
    for p in [*status["partners"], {"ori": "(all senders)", **status["inbound"]}]:
        queue = "inbound" if p["ori"] == "(all senders)" else "outbox"
        rows.append(
            [
                queue,
                _cell(p["ori"]),
                str(p["queued"]),
                str(p["due"]),
                _cell(p["leased"]),
                str(p["dead"]),
                _duration(p["oldest_queued_age_seconds"]),
                _cell(p["last_dead_reason"]),
            ]
        )
    out += _table(rows)
    out += ["", f"Slack events pending: {status['slack_pending_events']}", ""]
    windows = status.get("refusal_windows") or []
    if windows:
        out.append(f"Refusals counted, last {len(windows)} windows:")
        out += _table(
            [
                ["START", "END", "PEER", "REASON", "COUNT"],
                *(
                    [
                        w["started_at"],
                        w["ended_at"] + (" (open)" if w["open"] else ""),
                        _cell(w["peer"]),
                        _cell(w["reason"]),
                        str(w["count"]),
                    ]
                    for w in windows
                ),
            ]
        )
        out.append("")
    if status["refusals"]:
        out.append(f"Last {len(status['refusals'])} refusals:")
        out += _table(
            [
                ["TIME", "PEER", "REASON"],
                *([r["at"], _cell(r["peer"]), _cell(r["reason"])] for r in status["refusals"]),
            ]
        )
    else:
        out.append("No refusals.")
    return "\n".join(out) + "\n"


def _status(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        base_dir = Path(config.source).parent
        # "cannot open the store" (no backend named): the message is a contract.
        with using_store(config.store, base_dir, prog="relay status", name_backend=False) as store:
            now = time.time()
            admin = probe_admin(config.admin)
            status = collect_status(config, store, now=now, admin=admin)
    except CommandError as fail:
        print(fail.message, file=sys.stderr)
        return exit_code(fail)
    sys.stdout.write(json.dumps(status) + "\n" if args.json else render(status))
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="queues, dead letters and refusals from the store")
    p.add_argument("--config", required=True, metavar="FILE", help="relay.yaml")
    p.add_argument("--json", action="store_true", help="one JSON object (a contract)")
    p.set_defaults(func=_status)
