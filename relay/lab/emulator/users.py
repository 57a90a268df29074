"""What officers do in a workspace: post (with files, in threads), edit, delete. Each action
goes through the same timeline as the Web API and fires the events Slack would."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import NamedTuple

from relay.lab.emulator import api_react, shapes, timeline
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.files import new_file, record_shares
from relay.lab.emulator.model import Channel, Json, Message, Workspace
from relay.lab.emulator.state import EmulatorState
from relay.lab.emulator.validate import check_blocks, check_text

__all__ = ["FileUpload", "RelayCopy", "UserActions"]

FileUpload = tuple[str, bytes, str, str | None]
"""(file name, content, title, alt text)."""


class RelayCopy(NamedTuple):
    """A bot post carrying the relay's metadata mark, as ``relay chaos`` compares it."""

    envelope_id: str
    ts: str
    thread_ts: str | None  # None for a top-level post
    text: str
    broadcast: bool  # a thread reply also sent to the channel
    tombstone: bool  # deleted, kept as a thread parent for its replies
    context: str  # the text of its last context block ("" if none)


class UserActions:
    state: EmulatorState

    def _member(self, team_id: str, channel: str, user: str) -> tuple[Workspace, Channel]:
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        if user not in ws.users:
            raise KeyError(f"no user {user!r} in {team_id!r}")
        if user not in ch.members:
            raise ValueError(f"{user!r} is not a member of {ch.id!r}")
        return ws, ch

    def post_as_user(
        self,
        team_id: str,
        channel: str,
        user: str,
        text: str = "",
        *,
        blocks: list[Json] | None = None,
        files: Sequence[FileUpload] = (),
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        """Post as an officer; returns the message ts. Fires ``message`` (or ``file_share`` /
        ``thread_broadcast``) to the app if its bot is in the channel."""
        ws, ch = self._member(team_id, channel, user)
        check_text(text)
        if thread_ts is not None and thread_ts not in ch.messages:
            raise KeyError(f"no message {thread_ts!r} in {ch.id!r}")
        ts = self.state.ts.next()
        stored = [
            new_file(self.state, ws, user=user, name=name, length=len(data), alt=alt)
            for name, data, _, alt in files
        ]
        for f, (_, data, title, _) in zip(stored, files, strict=True):
            f.content, f.title, f.completed = data, title or f.name, True
        subtype = "file_share" if stored else None
        if broadcast and thread_ts is not None:
            subtype = "thread_broadcast"
        msg = Message(
            ts=ts,
            text=text,
            user=user,
            subtype=subtype,
            blocks=check_blocks(blocks) if blocks is not None else shapes.rich_text(text, ts),
            file_ids=[f.id for f in stored],
            thread_ts=thread_ts,
            client_msg_id=str(uuid.UUID(int=int(ts.replace(".", "")))),
            upload=False if stored else None,
        )
        record_shares(ws, ch, msg, user)
        timeline.post(self.state, ws, ch, msg)
        return ts

    def edit_as_user(
        self,
        team_id: str,
        channel: str,
        user: str,
        ts: str,
        text: str,
        *,
        blocks: list[Json] | None = None,
    ) -> None:
        """Edit an officer's own message; fires ``message_changed``."""
        ws, ch = self._member(team_id, channel, user)
        msg = self._own(ch, user, ts)
        check_text(text)
        checked = check_blocks(blocks) if blocks is not None else None
        timeline.edit(self.state, ws, ch, msg, text=text, blocks=checked, editor=user)

    def delete_as_user(self, team_id: str, channel: str, user: str, ts: str) -> None:
        """Delete an officer's own message; fires ``message_deleted`` (or a tombstone
        ``message_changed`` for a thread parent with replies)."""
        ws, ch = self._member(team_id, channel, user)
        timeline.delete(self.state, ws, ch, self._own(ch, user, ts))

    def react_as_user(self, team_id: str, channel: str, ts: str, user: str, name: str) -> None:
        """An officer adds the reaction ``name`` (no colons) to a message; fires
        ``reaction_added``. Raises ``ValueError`` with Slack's error code (``already_reacted``,
        ``invalid_name``...) where reactions.add would fail."""
        ws, ch = self._member(team_id, channel, user)
        try:
            api_react.add(self.state, ws, ch, self._live(ch, ts), user, api_react.check_name(name))
        except SlackError as err:
            raise ValueError(err.code) from None

    def unreact_as_user(self, team_id: str, channel: str, ts: str, user: str, name: str) -> None:
        """An officer removes their reaction; fires ``reaction_removed`` (``no_reaction``)."""
        ws, ch = self._member(team_id, channel, user)
        try:
            api_react.remove(self.state, ws, ch, self._live(ch, ts), user, name)
        except SlackError as err:
            raise ValueError(err.code) from None

    def reactions(self, team_id: str, channel: str, ts: str) -> dict[str, list[str]]:
        """Reaction name -> users, for one message."""
        ch = self.state.channel(team_id, channel)
        return {n: list(u) for n, u in self._live(ch, ts).reactions.items()}

    def set_usergroup(self, team_id: str, group_id: str, users: Sequence[str]) -> None:
        """Create a user group or replace its members (``usergroups.users.list`` answers it)."""
        self.state.set_usergroup(self.state.workspace(team_id), group_id, users)

    @staticmethod
    def _live(ch: Channel, ts: str) -> Message:
        msg = ch.messages.get(ts)
        if msg is None or msg.tombstone:
            raise KeyError(f"no message {ts!r} in {ch.id!r}")
        return msg

    @staticmethod
    def _own(ch: Channel, user: str, ts: str) -> Message:
        msg = ch.messages.get(ts)
        if msg is None or msg.tombstone:
            raise KeyError(f"no message {ts!r} in {ch.id!r}")
        if msg.user != user:
            raise ValueError(f"message {ts!r} was not posted by {user!r}")
        return msg

    def messages(self, team_id: str, channel: str, *, replies: bool = True) -> list[Json]:
        """Messages in a channel, oldest first, as ``conversations.history`` shows them
        (metadata included); ``replies=False`` keeps only what history would list."""
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        return [
            shapes.message_json(ws, ch, m, self.state.base_url)
            for m in ch.ordered()
            if replies or m.in_history
        ]

    def marked_posts(self, team_id: str, channel: str) -> list[tuple[str, str]]:
        """(envelope id, ts) of every live bot post carrying the relay's metadata mark: a
        cheap look for benchmarks and chaos runs (no JSON is built)."""
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        out: list[tuple[str, str]] = []
        for m in ch.messages.values():
            if m.bot_id != ws.bot_id or m.tombstone or not m.metadata:
                continue
            payload = m.metadata.get("event_payload")
            if isinstance(payload, dict) and isinstance(payload.get("envelope_id"), str):
                out.append((payload["envelope_id"], m.ts))
        return out

    def bot_posts(self, team_id: str, channel: str) -> list[Json]:
        """Messages the app's bot posted in a channel (threads included), oldest first."""
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        return [
            shapes.message_json(ws, ch, m, self.state.base_url)
            for m in ch.ordered()
            if m.bot_id == ws.bot_id and not m.tombstone
        ]

    def relay_copies(self, team_id: str, channel: str) -> list[RelayCopy]:
        """Every bot post carrying the relay's metadata mark, tombstones of thread parents
        included, oldest first: what a chaos run compares with the views it expects."""
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        out: list[RelayCopy] = []
        for m in ch.ordered():
            payload = (m.metadata or {}).get("event_payload") if m.bot_id == ws.bot_id else None
            if not isinstance(payload, dict) or not isinstance(payload.get("envelope_id"), str):
                continue
            context = ""
            last = (m.blocks or [{}])[-1]
            if last.get("type") == "context":
                context = " ".join(str(e.get("text", "")) for e in last.get("elements") or [])
            out.append(
                RelayCopy(
                    envelope_id=payload["envelope_id"],
                    ts=m.ts,
                    thread_ts=m.thread_ts if m.is_reply else None,
                    text=m.text,
                    broadcast=m.subtype == "thread_broadcast",
                    tombstone=m.tombstone,
                    context=context,
                )
            )
        return out
