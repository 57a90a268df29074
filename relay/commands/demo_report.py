"""What ``relay demo`` prints: every post the relays made (``--json``), or the report.

The report shows, per message an agency wrote (Havenport's examples, then the replies that
came back), what each partner received unit by unit or why not, for a copy that came through
a hop its path, and for a reply where it landed: in the thread of the origin's message or of
the agency's copy of it. Then the conversation in one line, the audit ledgers and a summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relay.commands.demo import CT, DUNNE, MA
from relay.core.mrkdwn import unescape
from relay.core.policy.units import split_units
from relay.lab.network import TOPICS

if TYPE_CHECKING:
    from relay.flow.inbound import Delivery
    from relay.lab.network import Network

__all__ = ["print_report", "relay_posts", "summary", "via"]

Post = dict[str, Any]  # a message as the emulator shows it


def _delivery(net: Network, ori: str, origin: str, envelope_id: str) -> Delivery:
    delivery = net.received.get((ori, origin, envelope_id))
    if delivery is None:  # posted only by a relay: never so in the demo
        raise LookupError(f"{ori} has no delivery of {envelope_id}")
    return delivery


def via(net: Network, ori: str, origin: str, envelope_id: str) -> list[str]:
    """The relaying agencies a copy came through to ``ori``, in order: the hop signers of the
    envelope ``ori``'s relay verified and posted (``[]``: from its writer directly)."""
    return [str(hop.signer) for hop in _delivery(net, ori, origin, envelope_id).envelope.hops]


def _posts(net: Network) -> list[tuple[dict[str, Any], Post]]:
    """Every message the relays posted, in any workspace: its --json line and the post."""
    assert net.emu is not None  # noqa: S101
    out: list[tuple[dict[str, Any], Post]] = []
    for ori, node in net.nodes.items():
        for topic in TOPICS:
            posts = net.emu.bot_posts(node.agency.team, node.agency.channel(topic))
            for post in posts:
                payload = ((post.get("metadata") or {}).get("event_payload")) or {}
                if "envelope_id" not in payload:
                    continue  # a file share belongs to the post it follows
                envelope_id, origin = str(payload["envelope_id"]), str(payload.get("origin"))
                files = [
                    f.get("title") or f.get("name")
                    for p in posts
                    if p.get("thread_ts") in (post["ts"], post.get("thread_ts"))
                    for f in p.get("files") or []
                    if str(f.get("name", "")).startswith(envelope_id)
                ]
                envelope = _delivery(net, ori, origin, envelope_id).envelope
                line = {
                    "workspace": ori,
                    "channel": topic,
                    "text": post.get("text", ""),
                    "files": files,
                    "thread_of": None if envelope.thread is None else str(envelope.thread),
                    "origin": origin,
                    "envelope_id": envelope_id,
                    "via": [str(hop.signer) for hop in envelope.hops],
                }
                out.append((line, post))
    return out


def relay_posts(net: Network) -> list[dict[str, Any]]:
    """Every message the relays posted in any workspace (the origin's own included: the
    replies partners made in its thread), in the --json line format."""
    return [line for line, _ in _posts(net)]


def _root_ts(net: Network, ori: str, topic: str, root: str) -> str | None:
    """Where the thread root ``root`` is in ``ori``'s workspace: its own message (the
    envelope id says where) or the copy its relay posted."""
    assert net.emu is not None  # noqa: S101
    agency = net.nodes[ori].agency
    if root.startswith(f"{ori}."):
        return ".".join(root.split(".")[2:])
    found = net.emu.marked_posts(agency.team, agency.channel(topic))
    return next((ts for e, ts in found if e == root), None)


def _where(net: Network, line: dict[str, Any], post: Post) -> str:
    """Where a reply landed in its workspace, read from the workspace itself."""
    root, ori = line["thread_of"], line["workspace"]
    if root is None:
        return ""
    local = _root_ts(net, ori, line["channel"], root)
    if local is not None and post.get("thread_ts") == local and post["ts"] != local:
        whose = "its own message" if root.startswith(f"{ori}.") else "its copy of"
        return f"in the thread of {whose} {root}"
    return f"not in a thread: {root} is not in this workspace"


def _units(text: str, removed: int, indent: int, withheld: tuple[int, str] = (0, "")) -> str:
    """The partner's view unit by unit: each sentence, template line or list item it
    received, then how many lines a relaying hop withheld and how many units its copy lacks."""
    shown = []
    for unit in split_units(unescape(text)):
        unit = " ".join(unit.split())
        shown.append(f"| {unit[:96] + '...' if len(unit) > 99 else unit}")
    lines, by = withheld
    if lines:
        shown.append(f"x {lines} line{'s' if lines > 1 else ''} withheld by {by}")
    if removed:
        shown.append(f"x {removed} unit{'s' if removed > 1 else ''} removed")
    return f"\n{'':{indent}}".join(shown) if shown else "(no text)"


def _view(
    net: Network, got: tuple[dict[str, Any], Post], units: str, indent: int, blacked: int = 0
) -> str:
    line, post = got
    where = _where(net, line, post)
    shown = (f"↳ {where}\n{'':{indent}}" if where else "") + units
    if line["files"]:
        shown += f"\n{'':{indent}}[photo: {', '.join(line['files'])}"
        if blacked:  # the photo's own text, judged and blacked out in the pixels (issue 17)
            shown += f"; text in it blacked out in {blacked} place{'s' if blacked > 1 else ''}"
        shown += "]"
    return shown


def blacked_out(decision: Any) -> int:
    """How many regions of its photos a decision blacks out (0: none)."""
    message = decision.message
    return sum(len(f.blackout) for f in message.files) if message is not None else 0


def _dead_letters(net: Network) -> dict[tuple[str, str], tuple[str, str]]:
    """(partner, envelope id) -> (the relay whose outbox gave up on it, the reason)."""
    out = {}
    for ori, node in net.nodes.items():
        for e in node.relay.store.queue_entries(state="dead"):
            if e.queue == "outbox" and e.reason:
                out[(e.peer, e.envelope_id)] = (ori, e.reason)
    return out


def _not_shown(jti: str, refused: str | None, blocked: bool) -> str:
    if blocked:
        return "nothing posted"
    if refused is not None:
        return f"refused by the partner's relay: {refused}"
    if ".e" in jti:
        return "(an edit: the earlier copy was updated in place)"
    return "(applied to the earlier copy)"


class _Report:
    def __init__(self, net: Network) -> None:
        self.net = net
        self.names = {a.ori: a.name for a in net.agencies}
        self.width = max(len(a.name) for a in net.agencies)
        self.indent = self.width + 4
        self.posts = _posts(net)
        self.received = {
            (line["workspace"], line["envelope_id"]): (line, p) for line, p in self.posts
        }
        self.refused = _dead_letters(net)

    def hopped(self, author: str) -> list[str]:
        """The agencies ``author``'s messages reach only through a relaying hop."""
        links = self.net.links[author]
        return [a.ori for a in self.net.agencies if a.ori != author and a.ori not in links]

    def envelope(self, author: str, jti: str, decisions: dict[str, Any]) -> None:
        net, indent = self.net, self.indent
        thread = next(
            (line["thread_of"] for (_, e), (line, _) in self.received.items() if e == jti), None
        )
        print(f"envelope {jti}" + (f", a reply in the thread of {thread}" if thread else ""))
        for ori, decision in decisions.items():
            rules = ", ".join(f"{r.rule} ({r.count})" for r in decision.reasons)
            got = self.received.get((ori, jti))
            own = net.received.get((ori, author, jti))  # its relay's view: its own rules applied
            removed = len(decision.trace) + (len(own.decision.trace) if own else 0)
            if got is not None:
                units = _units(got[0]["text"], removed, indent)
                shown = _view(net, got, units, indent, blacked_out(decision))
            elif ori not in net.nodes:  # named in the writer's policy, with no relay here
                shown = "not delivered: it has no relay in the demo"
            else:
                dead = self.refused.get((ori, jti))
                shown = _not_shown(
                    jti, dead[1] if dead else None, decision.action.value == "block"
                )
            label = decision.action.value + (f" [{rules}]" if rules else "")
            print(f"   {self.names.get(ori, ori):<{self.width}} {label}\n{'':{indent}}{shown}")
        for ori in self.hopped(author):
            print(f"   {self.names[ori]:<{self.width}} {self.relayed(author, ori, jti)}")

    def relayed(self, author: str, ori: str, jti: str) -> str:
        """What ``ori``, reached only through a hop, made of envelope ``jti``: the path (from
        the envelope its relay verified) and its own policy's decision, then its view."""
        indent = self.indent
        delivery = self.net.received.get((ori, author, jti))
        if delivery is None:
            if (ori, jti) in self.refused:
                relayer, reason = self.refused[(ori, jti)]
                return f"via {relayer}\n{'':{indent}}{_not_shown(jti, reason, False)}"
            return "nothing passed on to it"
        decision = delivery.decision
        path = [author, *(str(h.signer) for h in delivery.envelope.hops), ori]
        rules = ", ".join(f"{r.rule} ({r.count})" for r in decision.reasons)
        label = f"path {' → '.join(path)}, its own policy: {decision.action.value}"
        label += f" [{rules}]" if rules else ""
        got = self.received.get((ori, jti))
        if got is None:
            return f"{label}\n{'':{indent}}{_not_shown(jti, None, False)}"
        withheld = (delivery.envelope.withheld, ", ".join(path[1:-1]))
        units = _units(got[0]["text"], len(decision.trace), indent, withheld)
        return f"{label}\n{'':{indent}}{_view(self.net, got, units, indent)}"

    def conversation(self, reply: str) -> str:
        """The story in one line: who answered, and in which threads the answer is."""
        names, officer = self.names, dict(self.net.nodes[MA].agency.officers)[DUNNE]
        lines = [(line, post) for (_, e), (line, post) in self.received.items() if e == reply]
        root = lines[0][0]["thread_of"] if lines else None
        places = [
            names[line["workspace"]]
            + (f" (via {', '.join(line['via'])})" if line["via"] else " (directly)")
            for line, post in sorted(lines, key=lambda lp: lp[0]["workspace"])
            if _where(self.net, line, post).startswith("in the thread")
        ]
        return (
            f"conversation: {officer} ({names[MA]}) identified the suspect in the thread of "
            f"{names[MA]}'s copy of {root}; the reply is in that thread at "
            + (", ".join(places) if places else "no other agency")
            + "."
        )


def print_report(net: Network, seconds: float, reply: str) -> None:
    report = _Report(net)
    names = report.names
    judged = net.judged[CT]
    direct = list(net.links[CT])
    hopped = report.hopped(CT)
    hops = " and ".join(f"{names[o]} ({o})" for o in hopped)
    print(
        f"relay demo: Havenport PD ({CT}) posted {len(judged)} messages; "
        + " and ".join(f"{names[o]} ({o})" for o in direct)
        + " received them through their relays"
        + (f", {hops} through a relaying hop" if hops else "")
        + f", in {seconds:.1f} s.\n"
    )
    for author in names:
        for jti, decisions in net.judged[author]:
            report.envelope(author, jti, decisions)
    print()
    print(_photo_line(net))
    print(report.conversation(reply))
    print(_audit_line(net))
    s = summary(net)
    print(
        f"summary: {s['posted']} messages posted in partner workspaces, "
        f"{s['blocked']} blocked and {s['redacted']} redacted decisions."
    )


def summary(net: Network) -> dict[str, int]:
    """``posted``: every post a relay made; ``blocked``, ``redacted``: the decisions of each
    writing agency's policy for its direct partners."""
    actions = [
        d.action.value for judged in net.judged.values() for _, ds in judged for d in ds.values()
    ]
    return {
        "posted": len(relay_posts(net)),
        "blocked": actions.count("block"),
        "redacted": actions.count("redact"),
    }


def _photo_line(net: Network) -> str:
    """The photos whose text the writer's relay blacked out before they left (issue 17)."""
    names = {a.ori: a.name for a in net.agencies}
    found = []
    for judged in net.judged.values():
        for jti, decisions in judged:
            to = [names.get(o, o) for o, d in decisions.items() if blacked_out(d)]
            if to:
                rules = sorted(
                    {r.rule for d in decisions.values() if blacked_out(d) for r in d.reasons}
                )
                found.append(
                    f"{jti} ({', '.join(r for r in rules if r.startswith('photo_text.'))}) "
                    f"to {', '.join(to)}"
                )
    if not found:
        return "photo text: no photo's text was blacked out"
    return "photo text: read and blacked out in the pixels before it left: " + "; ".join(found)


def _audit_line(net: Network) -> str:
    """Each relay's dissemination ledger, its hash chain checked end to end."""
    from relay.core.audit import verify_chain

    parts = []
    for ori, node in net.nodes.items():
        store = node.relay.store
        verdict = verify_chain(store.audit_rows(), [], store.audit_anchor())
        state = "verified" if verdict.ok else f"BROKEN at {verdict.first_bad_seq}"
        parts.append(f"{ori} {verdict.records} records {state}")
    return "audit ledgers: " + "; ".join(parts)
