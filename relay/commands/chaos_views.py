"""What each partner of ``relay chaos`` must end with, and how far it is from that.

For every (partner workspace, officer message) pair the expected final view follows from the
agencies' policies along the path the message travels (:class:`Paths`: the origin's outbound
rules, each relaying hop's rules for the next agency, which withhold every line they would not
send as it came, then the receiving agency's inbound rules) and from what officers did
(:func:`expect`): the latest version of the text as those rules leave it, no copy when the
message was deleted or its latest version may not go, replies in the thread of a copy of
their BOLO (or, where that BOLO had no copy at some time, as replies in a thread that was not
shared, or none where the receiver's ``orphan_replies`` withholds them), broadcasts also sent
to the channel, cancelled BOLOs marked cancelled. A partner's reply (its envelope issued by
the replying agency, its thread the origin's BOLO) travels that agency's routes, and in the
origin's own workspace lands in the thread of the original BOLO, the officer's own message.
:func:`compare` counts the pairs whose view differs, by kind (never any text).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.commands.chaos_traffic import TOPIC, Item, Op
from relay.core.model import AgencyId
from relay.core.mrkdwn import render_line
from relay.core.policy.content import envelope_content
from relay.core.policy.engine import evaluate_inbound, evaluate_outbound, evaluate_relay
from relay.core.policy.model import Action, Policy
from relay.core.routing import onward_allowed, origin_targets, plan_relay
from relay.core.slack_parse import parse_event

if TYPE_CHECKING:
    from relay.lab.emulator.users import RelayCopy
    from relay.lab.network import Network

__all__ = ["Paths", "Want", "cancelled_text", "compare", "expect"]

Route = tuple[str, ...]  # origin, relaying agencies..., the receiving agency


class Paths:
    """The routes an agency's messages take to every other agency of the network (over the
    links its relays have, by the routing rules), and what each agency shows of a text
    (memoised: the policies are judged once per text)."""

    def __init__(self, net: Network, *, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)
        self.policies: dict[str, Policy] = net.policies()
        self.links: dict[str, tuple[str, ...]] = dict(net.links)  # who has a link with whom
        self.routes = {o: self._routes(o) for o in self.policies}
        self._shown: dict[tuple[Route, str], str | None] = {}

    def _routes(self, origin: str) -> dict[str, list[Route]]:
        """Every path an envelope of ``origin`` can take, by the routing rules."""
        out: dict[str, list[Route]] = defaultdict(list)
        policy = self.policies[origin]
        todo: list[tuple[Route, bool]] = [
            ((origin, p), onward_allowed(policy, policy.partners[p]))
            for p in origin_targets(policy, TOPIC, now=self.now)
            if p in self.links[origin]
        ]
        while todo:
            route, onward = todo.pop()
            here, sender = route[-1], route[-2]
            mine = self.policies[here]
            link = mine.partners.get(sender)
            if link is None or TOPIC not in link.accept:
                continue  # refused on arrival
            out[here].append(route)
            plan = plan_relay(
                mine,
                own=AgencyId(here),
                topic=TOPIC,
                sender=AgencyId(sender),
                path=[AgencyId(a) for a in route[:-1]],
                hops=len(route) - 2,
                onward=onward,
                now=self.now,
            )
            for target in plan.targets:
                if target in self.links[here] and target not in route:
                    todo.append(((*route, target), onward_allowed(mine, mine.partners[target])))
        return dict(out)

    def views(self, workspace: str, origin: str, text: str) -> frozenset[str]:
        """The texts ``workspace`` may show of ``text`` (one per route; empty: no copy)."""
        found = {self._along(r, text) for r in self.routes[origin].get(workspace, ())}
        return frozenset(t for t in found if t is not None)

    def _along(self, route: Route, text: str) -> str | None:
        key = (route, text)
        if key not in self._shown:
            self._shown[key] = self._judge(route, text)
        return self._shown[key]

    def _judge(self, route: Route, text: str) -> str | None:
        now, policies = self.now, self.policies
        message = parse_event({"type": "message", "user": "U0", "ts": "1.000001", "text": text})
        first = evaluate_outbound(message, policies[route[0]], route[1], TOPIC, now=now)
        if first.action is Action.BLOCK or first.message is None:
            return None
        lines = [render_line(line) for line in first.message.lines]
        for i in range(1, len(route) - 1):  # each relaying agency withholds what it won't send
            _, onward = evaluate_relay(
                envelope_content(lines), policies[route[i]], route[i - 1], TOPIC, now=now
            )
            step = onward[route[i + 1]]
            if step.action is Action.BLOCK or step.message is None:
                return None
            lines = [line for n, line in enumerate(lines) if n in step.kept_lines]
            if not lines:
                return None
        last = evaluate_inbound(
            envelope_content(lines), policies[route[-1]], route[-2], TOPIC, now=now
        )
        if last.action is Action.BLOCK or last.message is None:
            return None
        return last.message.text or " "


def cancelled_text(text: str) -> str:
    """A cancelled BOLO's copy as the poster marks it: the mark, its lines struck through."""
    struck = "\n".join(f"~{line}~" for line in text.split("\n") if line.strip())
    return f":no_entry: *CANCELLED* (see thread)\n{struck}"


@dataclass(frozen=True, slots=True)
class Want:
    """One partner's expected view of one message."""

    item: Item
    texts: frozenset[str]  # what its copy may say (before a cancelled mark); empty: no copy
    cancelled: bool = False  # a BOLO marked cancelled
    orphan_ok: bool = False  # a reply whose BOLO had no copy here at some time
    absent_ok: bool = False  # ... and this agency withholds replies in threads it lacks


def expect(
    paths: Paths, ops: Sequence[Op], workspaces: Iterable[str]
) -> dict[tuple[str, str], Want]:
    """Every (workspace, envelope id) pair's expected final view, from what officers did."""
    spaces = list(workspaces)
    shown: dict[tuple[str, str], bool] = {}
    gaps: set[tuple[str, str]] = set()  # BOLOs without a copy in a workspace at some time
    ever: set[tuple[str, str]] = set()  # messages with a copy in a workspace at some time
    cancelled: set[tuple[str, str]] = set()
    items: dict[str, Item] = {}
    for kind, item, text in ops:
        items[item.envelope] = item
        if item.root is None:  # the origin's own BOLO: partners' replies land under it,
            # or (it was deleted before they came) wherever a reply to a gone thread goes
            (gaps if kind == "delete" else ever).add((item.origin, item.envelope))
        for ws in spaces:
            if ws == item.origin:
                continue
            key = (ws, item.envelope)
            now = kind != "delete" and bool(paths.views(ws, item.origin, text))
            if item.root is None and not now:
                gaps.add(key)
            elif now:
                ever.add(key)
            if kind == "post" and item.cancel and item.root is not None and now:
                root = (ws, item.root.envelope)
                if shown.get(root):
                    cancelled.add(root)
            shown[key] = now
    wants: dict[tuple[str, str], Want] = {}
    for envelope, item in items.items():
        for ws in spaces:
            if ws == item.origin:
                continue
            texts = frozenset() if item.deleted else paths.views(ws, item.origin, item.text)
            if (ws, envelope) in cancelled and paths.policies[ws].cancellations == "delete":
                texts = frozenset()
            gap = item.root is not None and (ws, item.root.envelope) in gaps
            withheld = gap and paths.policies[ws].orphan_replies == "withhold"
            if withheld and item.root is not None and (ws, item.root.envelope) not in ever:
                texts = frozenset()  # its BOLO never had a copy here: withheld, always
            wants[(ws, envelope)] = Want(
                item=item,
                texts=texts,
                cancelled=(ws, envelope) in cancelled,
                orphan_ok=gap,
                absent_ok=withheld,
            )
    return wants


def compare(net: Network, wants: dict[tuple[str, str], Want]) -> Counter[str]:
    """The differing pairs by kind, and ``"pairs"``: how many pairs differ at all."""
    assert net.emu is not None  # noqa: S101
    live: dict[tuple[str, str], list[RelayCopy]] = defaultdict(list)
    roots: dict[tuple[str, str], str] = {}  # (workspace, ts) -> envelope id, tombstones too
    for agency in net.agencies:
        ori = agency.ori
        for copy in net.emu.relay_copies(agency.team, agency.channel(TOPIC)):
            roots[(ori, copy.ts)] = copy.envelope_id
            if not copy.tombstone:
                live[(ori, copy.envelope_id)].append(copy)
    for want in wants.values():  # a reply at the origin: in the thread of the officer's BOLO
        if (root := want.item.root) is not None:
            roots[(root.origin, root.ts)] = root.envelope
    kinds: Counter[str] = Counter()
    for (ws, envelope), want in wants.items():
        problems = _differences(want, live.get((ws, envelope), []), ws, roots)
        kinds.update(problems)
        kinds["pairs"] += bool(problems)
    known = set(wants)
    kinds["unexpected"] += sum(1 for k in live if k not in known)
    kinds["pairs"] += sum(1 for k in live if k not in known)
    return kinds


def _differences(
    want: Want, got: list[RelayCopy], ws: str, roots: dict[tuple[str, str], str]
) -> set[str]:
    item = want.item
    if not want.texts:
        if got:
            return {"deleted_still_shown" if item.deleted else "withdrawn_still_shown"}
        return set()
    if not got:
        return set() if want.absent_ok else {"missing"}
    copy = got[0]
    out: set[str] = set()
    marked = copy.text.startswith(":no_entry: *CANCELLED*")
    if want.cancelled and not marked:
        out.add("not_marked_cancelled")
    elif marked and not want.cancelled:
        out.add("marked_cancelled_wrongly")
    elif copy.text not in {cancelled_text(t) if marked else t for t in want.texts}:
        out.add("text")
    if item.root is None:
        if copy.thread_ts is not None:
            out.add("bolo_in_a_thread")
    elif copy.thread_ts is not None:
        if roots.get((ws, copy.thread_ts)) != item.root.envelope:
            out.add("reply_in_wrong_thread")
        elif item.broadcast and not copy.broadcast:
            out.add("broadcast_not_sent_to_channel")
    elif not (want.orphan_ok and "not shared" in copy.context):
        out.add("reply_out_of_thread")
    return out
