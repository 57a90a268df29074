"""What people do with an app's interactive surfaces: click a message button, submit a modal.

Each builds the payload Slack would send, with a fresh ``trigger_id`` (3 s, once), delivers it
to the app (HTTP or Socket Mode, see :mod:`relay.lab.emulator.interaction`) and returns the
app's answer. A click on a button that is not in the message, or a submission a Slack client
would not allow, raises: that is a test bug, not something Slack would deliver.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from relay.lab.emulator import interactive, shapes
from relay.lab.emulator.api_views import View, ViewStore, check_view
from relay.lab.emulator.blockkit import buttons, input_elements
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.interaction import Interaction, InteractionSender
from relay.lab.emulator.model import Channel, Json, Workspace
from relay.lab.emulator.state import EmulatorState

__all__ = ["InteractionDriver"]


class InteractionDriver:
    state: EmulatorState
    views: ViewStore
    interactivity: InteractionSender

    def set_interactivity_url(self, team_id: str, url: str | None) -> None:
        """The app's Interactivity Request URL (``None``: interactions are not delivered
        over HTTP). In Socket Mode (``use_socket_mode``) they go over the socket."""
        self.state.workspace(team_id).interactivity_url = url or ""

    def _seen_by(self, team_id: str, channel: str, user: str) -> tuple[Workspace, Channel]:
        ws, ch = self.state.workspace(team_id), self.state.channel(team_id, channel)
        if user not in ws.users or ws.users[user].is_bot:
            raise KeyError(f"no officer {user!r} in {team_id!r}")
        if user not in ch.members:
            raise ValueError(f"{user!r} is not a member of {ch.id!r} and cannot see it")
        return ws, ch

    async def click(
        self,
        team_id: str,
        channel: str,
        ts: str,
        user: str,
        action_id: str,
        *,
        value: str | None = None,
    ) -> Interaction:
        """``user`` clicks the button ``action_id`` (with ``value``, if given) of the message
        at ``ts``: a ``block_actions`` payload is delivered; the result carries the
        ``trigger_id`` and the app's answer."""
        ws, ch = self._seen_by(team_id, channel, user)
        msg = ch.messages.get(ts)
        if msg is None or msg.tombstone:
            raise KeyError(f"no message {ts!r} in {ch.id!r}")
        found = [
            (block_id, button)
            for block_id, button in buttons(msg.blocks or [])
            if button.get("action_id") == action_id
            and (value is None or button.get("value") == value)
        ]
        if not found:
            wanted = action_id if value is None else f"{action_id} (value {value!r})"
            raise ValueError(f"message {ts!r} in {ch.id!r} has no button {wanted}")
        block_id, button = found[0]
        base = self.state.base_url
        payload = interactive.block_actions(
            ws,
            ch,
            user_id=user,
            message=shapes.message_json(ws, ch, msg, base),
            block_id=block_id,
            button=button,
            trigger_id=self.views.issue_trigger(ws, user),
            response_url=f"{base}/actions/{ws.team_id}/{secrets.token_hex(8)}",
            action_ts=f"{self.state.clock():.6f}",
        )
        return await self.interactivity.deliver(ws, payload)

    def view(self, team_id: str, view_id: str) -> View:
        """A modal opened with views.open (``closed`` once submitted and closed)."""
        found = self.views.views.get(view_id)
        if found is None or found.team_id != team_id:
            raise KeyError(f"no view {view_id!r} in {team_id!r}")
        return found

    def open_views(self, team_id: str, user: str | None = None) -> list[View]:
        """Modals open in the workspace (for ``user``), oldest first."""
        return [
            v
            for v in self.views.views.values()
            if v.team_id == team_id and not v.closed and user in (None, v.user_id)
        ]

    async def wait_for_views(
        self,
        team_id: str,
        n: int = 1,
        *,
        user: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[View]:
        """Until ``n`` modals are open (for ``user``): the app opens one after a click."""
        try:
            await self.state.changes.wait_for(
                lambda: len(self.open_views(team_id, user)) >= n, timeout
            )
        except TimeoutError:
            have = len(self.open_views(team_id, user))
            raise TimeoutError(f"{have}/{n} open views in {team_id} after {timeout}s") from None
        return self.open_views(team_id, user)[:n]

    async def submit_view(
        self,
        team_id: str,
        user: str,
        view_id: str,
        values: Mapping[str, Mapping[str, interactive.InputValue]] | None = None,
    ) -> Interaction:
        """``user`` submits the modal ``view_id`` (opened for them by views.open) with
        ``values`` ``{block_id: {action_id: text | option value | [option values]}}``: a
        ``view_submission`` payload is delivered. The app's answer is applied as Slack does:
        none (or ``clear``) closes the modal, ``update`` replaces it, ``errors`` keeps it."""
        ws, view = self.state.workspace(team_id), self.view(team_id, view_id)
        if view.user_id != user:
            raise ValueError(f"view {view_id!r} was opened for {view.user_id!r}, not {user!r}")
        if view.closed:
            raise ValueError(f"view {view_id!r} is closed")
        if "submit" not in view.body:
            raise ValueError(f"view {view_id!r} has no submit button")
        state = interactive.state_values(view.body["blocks"], values or {})
        shown = self.views.view_json(ws, view)
        shown["state"] = {"values": state}
        payload = interactive.view_submission(
            ws, user_id=user, view=shown, trigger_id=self.views.issue_trigger(ws, user)
        )
        view.submissions.append(payload)
        result = await self.interactivity.deliver(ws, payload)
        if result.acked:
            self._answer(view, result.response)
        return result

    def _answer(self, view: View, response: Json | None) -> None:
        action = (response or {}).get("response_action")
        if action in (None, "clear"):
            view.closed = True
        elif action == "update" and response is not None:
            try:
                view.body = check_view(response.get("view"))
            except SlackError:
                return  # Slack shows the person an error; the modal stays as it was
            view.hash = self.views.new_hash()
        elif action == "errors" and response is not None:
            errors = response.get("errors")
            inputs = {b.get("block_id") for b, _ in input_elements(view.body["blocks"])}
            if not isinstance(errors, dict) or not set(errors) <= inputs:
                return  # Slack refuses errors for blocks that are not inputs of the view
        self.state.changes.notify()

    async def deliver_interaction(
        self,
        team_id: str,
        payload: Json,
        *,
        secret: str | None = None,
        timestamp: str | None = None,
        signature: str | None = None,
    ) -> Interaction:
        """Deliver any payload as is (a replay of ``result.payload``, or a forgery): over HTTP
        ``secret`` signs with another secret, ``timestamp`` sets ``X-Slack-Request-Timestamp``
        (e.g. 10 minutes old), ``signature`` replaces the header outright."""
        ws = self.state.workspace(team_id)
        return await self.interactivity.deliver(
            ws, payload, secret=secret, timestamp=timestamp, signature=signature
        )

    def interactions(self, team_id: str) -> list[Interaction]:
        """Interactions delivered to the workspace's app so far, in order."""
        return list(self.interactivity.records.get(team_id, []))
