"""The officers of ``relay chaos``: new BOLOs, and (seeded) edits, deletes, thread replies
(some also sent to the channel) and cancellations of earlier ones, made in the emulator's
workspaces the way officers make them. Partners' officers reply too, in the thread of their
agency's copy of a BOLO (the reply must come back into the origin's thread, and reach every
other copy's). Every action is recorded in order (:attr:`ops`) so
the view each partner must end with can be worked out (``relay.commands.chaos_views``).

Some edits change details, some add a sentence naming a confidential informant (the policy
strips it), some add a classified marking (the policy blocks the message: partner copies are
retracted) and a later edit takes it out again (the copy must come back). Replies, their
edits and cancellations are made only in threads whose first message is live and safe: what
a partner shows of a reply made while its thread was withdrawn is a matter of timing. A
partner replies only where its copy is already there (seen in its workspace), to a BOLO that
never carried what the policy blocks (its copies were never retracted and posted anew); so
which partner replies are made depends on how far delivery got, not on the seed alone.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from relay.lab.network import Agency, Network

__all__ = ["TOPIC", "Item", "Op", "Traffic"]

TOPIC = "bolo"
_COLOURS = ("white", "black", "silver", "red", "blue", "grey", "green", "maroon")
_MAKES = ("Ford F-150", "Honda Civic", "Toyota Camry", "Jeep Cherokee", "Nissan Altima")
_ROADS = ("Route 9 NB", "I-84 WB", "I-95 SB", "Route 2 EB", "Main St", "Route 15 NB")
_UNSAFE = "(S//NF) Source reporting places the vehicle at {} Grove St overnight."
_INFORMANT = "A confidential informant says the driver stays at {} Elm St."
_CANCELS = (
    "*** CANCEL BOLO *** subject in custody.",
    "BOLO cancelled: vehicle located on {}.",
    "Disregard the previous BOLO, vehicle located at {}.",
)
_RECENT = 30  # edits, deletes and replies go to the latest messages (their threads are busy)


@dataclass(eq=False)
class Item:
    """One officer message: a BOLO or a reply in its thread."""

    n: int
    origin: str
    user: str
    ts: str
    envelope: str
    text: str
    root: Item | None = None  # the thread's first message, for a reply
    broadcast: bool = False  # a reply also sent to the channel
    cancel: bool = False  # a reply that cancels its BOLO
    unsafe: bool = False  # its text now carries what the policy blocks
    was_unsafe: bool = False  # (a BOLO) its partner copies were retracted at some time
    deleted: bool = False
    cancelled: bool = False  # (a BOLO) a cancellation was posted in its thread
    rev: int = 0


class Op(NamedTuple):
    kind: Literal["post", "edit", "delete"]
    item: Item
    text: str  # the text after the action ("" for a delete)


def _plate(rng: random.Random) -> str:
    return f"{rng.randint(1, 9)}{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randint(100, 999)}"


class Traffic:
    """What officers did, in order. ``made`` counts posts, edits, deletes, replies (cancels
    and broadcasts among them) and the kinds of edit."""

    def __init__(self, net: Network, rng: random.Random) -> None:
        assert net.emu is not None  # noqa: S101
        self.net, self.emu, self.rng = net, net.emu, rng
        self.items: list[Item] = []
        self.roots: list[Item] = []
        self.ops: list[Op] = []
        self.made: Counter[str] = Counter()
        self.weights = {  # agencies without officers (a relaying hub) post nothing
            ori: (3 if i == 0 else 1)
            for i, (ori, agency) in enumerate((a.ori, a) for a in net.agencies)
            if agency.officers
        }

    def _agency(self, ori: str) -> Agency:
        return self.net.agency(ori)

    def _bolo(self, n: int, rev: int) -> str:
        rng = self.rng
        return (
            f"BOLO {n} (rev {rev}): stolen {rng.choice(_COLOURS)} {rng.choice(_MAKES)}, "
            f"reg {_plate(rng)}, last seen {rng.choice(_ROADS)}. Contact dispatch if located."
        )

    def _update(self, item: Item) -> str:
        rng = self.rng
        return (
            f"Update {item.n} (rev {item.rev}): {rng.choice(_COLOURS)} vehicle seen again on "
            f"{rng.choice(_ROADS)} at {rng.randint(10, 23)}{rng.randint(10, 59)} hrs."
        )

    def post(self, n: int) -> Item:
        """A new BOLO by an officer of a (weighted) random agency."""
        origin = self.rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        agency = self._agency(origin)
        user = self.rng.choice(agency.officers)[0]
        text = self._bolo(n, 0)
        channel = agency.channel(TOPIC)
        ts = self.emu.post_as_user(agency.team, channel, user, text)
        envelope = f"{origin}.{channel}.{ts}"
        item = Item(n=n, origin=origin, user=user, ts=ts, envelope=envelope, text=text)
        self.items.append(item)
        self.roots.append(item)
        self.ops.append(Op("post", item, text))
        self.made["posts"] += 1
        return item

    def act(self) -> None:
        """Perhaps one more action on an earlier message."""
        r = self.rng.random()
        if r < 0.28:
            self.edit()
        elif r < 0.48:
            self.reply()
        elif r < 0.56:
            self.delete()
        elif r < 0.61:
            self.reply(cancel=True)
        elif r < 0.76:
            self.partner_reply()

    @staticmethod
    def _thread_open(item: Item) -> bool:
        """A reply may be made, edited or deleted: its BOLO is there and safe."""
        root = item.root
        return root is None or not (root.deleted or root.unsafe)

    def _changeable(self) -> list[Item]:
        return [
            i
            for i in self.items[-_RECENT:]
            if not i.deleted and not i.cancel and self._thread_open(i)
        ]

    def edit(self) -> None:
        candidates = self._changeable()
        if not candidates:
            return
        item = self.rng.choice(candidates)
        item.rev += 1
        text = self._bolo(item.n, item.rev) if item.root is None else self._update(item)
        if item.unsafe:
            item.unsafe = False
            self.made["edits_made_safe"] += 1
        elif (c := self.rng.random()) < 0.2:
            text, item.unsafe = f"{text} {_UNSAFE.format(self.rng.randint(2, 99))}", True
            item.was_unsafe = True
            self.made["edits_unsafe"] += 1
        elif c < 0.4:
            text = f"{text} {_INFORMANT.format(self.rng.randint(2, 99))}"
            self.made["edits_informant"] += 1
        agency = self._agency(item.origin)
        self.emu.edit_as_user(agency.team, agency.channel(TOPIC), item.user, item.ts, text)
        item.text = text
        self.ops.append(Op("edit", item, text))
        self.made["edits"] += 1

    def delete(self) -> None:
        candidates = self._changeable()
        if not candidates:
            return
        item = self.rng.choice(candidates)
        agency = self._agency(item.origin)
        self.emu.delete_as_user(agency.team, agency.channel(TOPIC), item.user, item.ts)
        item.deleted = True
        self.ops.append(Op("delete", item, ""))
        self.made["deletes"] += 1

    def reply(self, *, cancel: bool = False) -> None:
        roots = [
            r
            for r in self.roots[-_RECENT:]
            if not (r.deleted or r.unsafe) and not (cancel and r.cancelled)
        ]
        if not roots:
            return
        root = self.rng.choice(roots)
        agency = self._agency(root.origin)
        user = self.rng.choice(agency.officers)[0]
        broadcast = not cancel and self.rng.random() < 0.3
        item = Item(n=root.n, origin=root.origin, user=user, ts="", envelope="", text="")
        item.root = root
        if cancel:
            text = self.rng.choice(_CANCELS).format(self.rng.choice(_ROADS))
        else:
            text = self._update(item)
        channel = agency.channel(TOPIC)
        item.ts = self.emu.post_as_user(
            agency.team, channel, user, text, thread_ts=root.ts, broadcast=broadcast
        )
        item.envelope, item.text = f"{root.origin}.{channel}.{item.ts}", text
        item.broadcast, item.cancel = broadcast, cancel
        root.cancelled = root.cancelled or cancel
        self.items.append(item)
        self.ops.append(Op("post", item, text))
        self.made["replies"] += 1
        self.made["cancels" if cancel else "broadcasts" if broadcast else "thread_only"] += 1

    def _answer(self, root: Item) -> str:
        rng = self.rng
        return (
            f"Re {root.n}: our unit saw a {rng.choice(_COLOURS)} {rng.choice(_MAKES)} on "
            f"{rng.choice(_ROADS)} at {rng.randint(10, 23)}{rng.randint(10, 59)} hrs."
        )

    def partner_reply(self) -> None:
        """An officer of an agency that holds a copy of a recent BOLO replies in the thread
        of that copy (found in its workspace by the relay's metadata mark)."""
        roots = {
            r.envelope: r
            for r in self.roots[-_RECENT:]
            if not (r.deleted or r.unsafe or r.was_unsafe or r.cancelled)
        }
        pick, broadcast = self.rng.random(), self.rng.random() < 0.3  # drawn either way
        held = [
            (roots[envelope], ori, ts)
            for ori in self.weights
            for envelope, ts in self._copies(ori)
            if envelope in roots and roots[envelope].origin != ori
        ]
        if not held:
            return
        root, ori, copy = held[int(pick * len(held))]
        agency = self._agency(ori)
        user = self.rng.choice(agency.officers)[0]
        text, channel = self._answer(root), agency.channel(TOPIC)
        ts = self.emu.post_as_user(
            agency.team, channel, user, text, thread_ts=copy, broadcast=broadcast
        )
        item = Item(
            n=root.n, origin=ori, user=user, ts=ts, envelope=f"{ori}.{channel}.{ts}", text=text
        )
        item.root, item.broadcast = root, broadcast
        self.items.append(item)
        self.ops.append(Op("post", item, text))
        self.made["replies"] += 1
        self.made["partner_replies"] += 1
        self.made["partner_broadcasts" if broadcast else "partner_thread_only"] += 1

    def _copies(self, ori: str) -> list[tuple[str, str]]:
        """(envelope id, ts) of the relay's live posts in ``ori``'s workspace, in order."""
        agency = self._agency(ori)
        return sorted(self.emu.marked_posts(agency.team, agency.channel(TOPIC)))
