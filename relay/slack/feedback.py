"""The author's view of what partners did with a message, from their signed receipts.

A reaction on the officer's own message says how it went: :data:`DELIVERED` once every
partner it was sent to reported it shown (or kept back by its own choice), :data:`PROBLEM`
as soon as some partner refused it, failed to post it, or could not be given it at all (the
outbox gave up). A problem also gets an ephemeral note to the author: partner names, outcomes
and reason codes, never text. The same note, for every partner, on request
(:meth:`Feedback.explain`). Slack is called only when the view changes.

Best effort by design: the receipts and the ledger hold the truth; a reaction Slack refused
is not retried (the next receipt about the message brings the view up to date).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from relay.core.ids import issuer_of, message_place
from relay.core.receipt import PROBLEMS
from relay.errors import DeliveryError
from relay.slack.channels import ChannelMap
from relay.slack.web import SlackCaller, message_at
from relay.store.aio import AsyncStore
from relay.store.contract import ReceiptRow

__all__ = ["DELIVERED", "PROBLEM", "Feedback", "message_of", "view"]

DELIVERED: Final = "white_check_mark"
PROBLEM: Final = "warning"
_SETTLED: Final = frozenset({"posted", "withheld", "retracted", "relayed"})

View = Literal["pending", "delivered", "problem"]
Shared = tuple[str, str, str, str | None]  # (partner, envelope id, outbox state, reason)


def message_of(envelope_id: str, agency: str | None = None) -> str | None:
    """The post a receipt's envelope is about: the post itself (``ORI.CHANNEL.SECS.MICROS``)
    or the post an edit changed (``<post>.e<ts>``); None for deletes and cancellations, and
    for another agency's envelope (one this relay passed on)."""
    if agency is not None and issuer_of(envelope_id) != agency:
        return None
    parts = envelope_id.split(".")
    if len(parts) == 6 and parts[4].startswith("e"):  # an edit: <post>.e<secs>.<micros>
        return ".".join(parts[:4])
    return envelope_id if message_place(envelope_id) else None


def view(post: str, receipts: Sequence[ReceiptRow], shared: Sequence[Shared]) -> View:
    """How the message stands: a problem anywhere, else delivered once every partner the
    post went to reported it settled, else pending."""
    if any(r.status in PROBLEMS for r in receipts) or any(s[2] == "dead" for s in shared):
        return "problem"
    partners = {s[0] for s in shared if s[1] == post}
    settled = {r.reporter for r in receipts if r.status in _SETTLED}
    return "delivered" if partners and partners <= settled else "pending"


class Feedback:
    def __init__(
        self,
        *,
        agency: str,
        store: AsyncStore,
        caller: SlackCaller,
        channels: ChannelMap,
        names: Mapping[str, str],
    ) -> None:
        self.agency = agency  # only this agency's own messages have an author here
        self.aio = store
        self.caller = caller
        self.channels = channels
        self.names = dict(names)  # partner ORI -> its name, for the notes

    async def receipt(self, envelope_id: str, reporter: str, status: str) -> None:
        """A receipt about ``envelope_id`` was kept: bring the author's view up to date."""
        await self._refresh(envelope_id, reporter, status)

    async def undeliverable(self, envelope_id: str, partner: str) -> None:
        """The outbox gave up on ``envelope_id`` for ``partner`` (a refusal, or max age)."""
        await self._refresh(envelope_id, partner, "dead")

    async def _refresh(self, envelope_id: str, who: str, status: str) -> None:
        """``who`` reported ``status`` for ``envelope_id`` (``dead``: our outbox gave up)."""
        post = message_of(envelope_id, self.agency)
        if post is None:
            return
        receipts = await self.aio.message_receipts(post)
        shared = await self.aio.message_shared(post)
        earlier = view(  # the view without what just happened: did it change?
            post,
            [
                r
                for r in receipts
                if (r.envelope_id, r.reporter, r.status) != (envelope_id, who, status)
            ],
            [s for s in shared if (s[1], s[0], s[2]) != (envelope_id, who, status)],
        )
        now = view(post, receipts, shared)
        channel, ts = self._place(post)
        if self.channels.topic(channel) is None:
            return  # not a federated channel: no message of ours was shared from there
        if now != earlier:
            await self._react(channel, ts, now, earlier)
        if status in PROBLEMS or status == "dead":
            await self._note(channel, ts, receipts, shared)

    async def explain(self, envelope_id: str, user: str) -> None:
        """The per-partner note, asked for by ``user`` (the author, or a supervisor)."""
        post = message_of(envelope_id, self.agency)
        if post is None:
            return
        receipts = await self.aio.message_receipts(post)
        shared = await self.aio.message_shared(post)
        channel, ts = self._place(post)
        if self.channels.topic(channel) is None:
            return
        await self._note(channel, ts, receipts, shared, user=user)

    async def _react(self, channel: str, ts: str, now: View, earlier: View) -> None:
        """Mark the message ``now``; the mark of ``earlier`` goes (one call when there was
        none)."""
        if now == "pending":
            return
        marks = {"problem": PROBLEM, "delivered": DELIVERED}
        if earlier in marks:
            with contextlib.suppress(DeliveryError):
                await self.caller.api(
                    "reactions.remove", channel, channel=channel, timestamp=ts, name=marks[earlier]
                )
        with contextlib.suppress(DeliveryError):
            await self.caller.api(
                "reactions.add", channel, channel=channel, timestamp=ts, name=marks[now]
            )

    async def _note(
        self,
        channel: str,
        ts: str,
        receipts: Sequence[ReceiptRow],
        shared: Sequence[Shared],
        *,
        user: str | None = None,
    ) -> None:
        """An ephemeral note to ``user`` (else the message's author): per partner, the
        latest outcome and its code."""
        if user is None:
            user = await self._author(channel, ts)
        if user is None:
            return  # a thread reply, or gone: nobody to tell
        latest: dict[str, str] = {}
        for s in shared:
            if s[2] == "dead":
                latest[s[0]] = f"not delivered (`{s[3] or 'failed'}`)"
            else:
                latest.setdefault(s[0], "sent, no answer yet")
        for r in receipts:  # oldest first: the latest outcome per partner wins
            latest[r.reporter] = f"{r.status} (`{r.reason}`)" if r.reason else r.status
        if latest:
            lines = ", ".join(
                f"{self.names.get(o, o)}: {what}" for o, what in sorted(latest.items())
            )
            text = f"Relay: what partners did with this post: {lines}."
        else:
            text = "Relay: this post was not shared with any partner."
        with contextlib.suppress(DeliveryError):
            await self.caller.api(
                "chat.postEphemeral", channel, channel=channel, user=user, text=text
            )

    def _place(self, post: str) -> tuple[str, str]:
        """Where this agency's message ``post`` is now (its channel may have moved)."""
        place = message_place(post)
        assert place is not None  # noqa: S101 - message_of gave a message's own id
        return self.channels.current(place[1]), place[2]

    async def _author(self, channel: str, ts: str) -> str | None:
        """Who posted the top-level message at ``ts`` (None: a reply, or gone)."""
        try:
            found = await message_at(self.caller, channel, ts)
        except DeliveryError:
            return None
        user = found.get("user") if found else None
        return user if isinstance(user, str) else None
