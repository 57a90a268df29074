"""Socket Mode: events over slack-sdk's aiohttp websocket client instead of HTTP.

An ``events_api`` request is stored durably (the same way as over HTTP, keyed by the message
it is about) before its ``envelope_id`` is acknowledged; a redelivery after a lost ack finds
it taken. The client handles ``hello``, ``disconnect`` (``refresh_requested``, ``warning``)
and reconnects by itself; nothing is lost because nothing is acknowledged before it is stored.

Every frame is read as strictly as an HTTP body (:func:`relay.core.json_strict.loads_strict`:
strict UTF-8, a depth and size limit, no duplicate keys) before slack-sdk sees it, and an
``events_api`` payload is checked like one (:func:`relay.core.slack_shape.check_event`). A
payload that fails is acknowledged (Slack stops redelivering), reported to the recorder and
never stored; a frame that is not even JSON has no envelope id to acknowledge and is only
reported. A request frame (``events_api``, ``interactive``, ``slash_commands``) whose
``envelope_id`` is not a short token or whose ``payload`` is not an object is refused before
slack-sdk reads it (``malformed``), and acknowledged when its envelope id can be. Other request
types (``interactive``, ``slash_commands``) are acknowledged, unused.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Final

import structlog
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from relay.core.json_strict import JsonRefused, loads_strict
from relay.core.reasons import Reason
from relay.core.slack_shape import MAX_EVENT_BYTES, MAX_EVENT_DEPTH, Refused, check_event
from relay.slack.events import EventSink
from relay.slack.interactivity import Interactions, answer
from relay.slack.signed import Refusals

__all__ = ["SocketModeReceiver"]

log = structlog.get_logger("relay.slack")

_ENVELOPE_ID: Final = re.compile(r"[A-Za-z0-9-]{1,128}")
# The request types slack-sdk turns into a SocketModeRequest (hello, disconnect: not requests)
_REQUESTS: Final = frozenset({"events_api", "interactive", "slash_commands"})
# A frame holds one payload and its envelope: a little more than an HTTP body.
_MAX_FRAME: Final = MAX_EVENT_BYTES + 4096


class _StrictClient(SocketModeClient):
    """slack-sdk's client with its ``json.loads`` of each frame replaced by the strict one.

    slack-sdk parses frames itself (``process_message``) and only logs what raises there; a
    frame refused here is reported (codes only) and dropped before any listener runs."""

    def __init__(self, *, refusals: Refusals, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refusals = refusals
        self._running: set[asyncio.Task[None]] = set()

    async def process_message(self) -> None:
        raw = await self.message_queue.get()
        if raw is None:
            return
        try:
            message = loads_strict(
                raw.encode("utf-8"), max_bytes=_MAX_FRAME, max_depth=MAX_EVENT_DEPTH + 2
            )
        except UnicodeEncodeError:
            self._refusals.slack_refused(Reason.ENCODING_INVALID, None, "frame")
            return
        except JsonRefused as exc:
            self._refusals.slack_refused(exc.reason, None, "frame")
            return
        if not isinstance(message, dict):
            self._refusals.slack_refused(Reason.MALFORMED, None, "frame")
            return
        kind = message.get("type")
        if (not isinstance(kind, str) or kind in _REQUESTS) and not await self._well_formed(
            message, kind
        ):
            return
        # as slack-sdk does, the listeners run beside the reader; the task is kept until done
        task = asyncio.ensure_future(self.run_message_listeners(message, raw))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _well_formed(self, message: dict[str, Any], kind: object) -> bool:
        """Whether a request frame has what slack-sdk reads without checking (an envelope id,
        an object payload). One that has not is reported (``malformed``) and acknowledged
        when its envelope id can be: Slack stops redelivering it."""
        given = message.get("envelope_id")
        envelope_id = given if isinstance(given, str) and _ENVELOPE_ID.fullmatch(given) else None
        has_id = envelope_id is not None
        if has_id and isinstance(kind, str) and isinstance(message.get("payload"), dict):
            return True
        field = "envelope_id" if not has_id else "type" if not isinstance(kind, str) else "payload"
        self._refusals.slack_refused(Reason.MALFORMED, None, field)
        if envelope_id is not None:
            await self.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
        return False


class SocketModeReceiver:
    def __init__(
        self,
        sink: EventSink,
        *,
        app_token: str,
        web_client: AsyncWebClient,
        refusals: Refusals,
        interactions: Interactions | None = None,
    ) -> None:
        self.sink = sink
        self.refusals = refusals
        self.interactions = interactions
        self.client = _StrictClient(
            refusals=refusals,
            app_token=app_token,
            web_client=web_client,
            auto_reconnect_enabled=True,
        )
        self.client.socket_mode_request_listeners.append(self._on_request)  # type: ignore[arg-type]
        self.acked = 0

    async def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        envelope_id: Any = req.envelope_id  # slack-sdk does not check the frame
        if not isinstance(envelope_id, str) or _ENVELOPE_ID.fullmatch(envelope_id) is None:
            self.refusals.slack_refused(Reason.MALFORMED, None, "envelope_id")
            return  # nothing Slack could match an acknowledgement to
        if req.type == "events_api":
            doc = check_event(req.payload)
            if isinstance(doc, Refused):
                self.refusals.slack_refused(doc.reason, doc.event_id, doc.field)
            elif doc["type"] == "event_callback":
                try:
                    await self.sink.take_slack_event(
                        team=str(doc.get("team_id") or ""),
                        event_id=doc["event_id"],
                        body=json.dumps(doc).encode(),
                        doc=doc,
                    )
                except Exception as exc:  # noqa: BLE001 - not stored: not acknowledged
                    log.warning("slack_event_not_taken", exc_type=type(exc).__name__)
                    return  # Slack delivers it again
        answered = None
        if req.type == "interactive" and self.interactions is not None:
            payload: Any = req.payload  # slack-sdk does not check the frame
            if isinstance(payload, dict):  # stored before the ack, or a modal opened
                try:
                    answered = await answer(self.interactions, payload)
                except Exception as exc:  # noqa: BLE001 - not taken: not acknowledged
                    log.warning("slack_interaction_not_taken", exc_type=type(exc).__name__)
                    return
            else:
                self.refusals.slack_refused(Reason.MALFORMED, None, "payload")
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=envelope_id, payload=answered)
        )
        self.acked += 1

    async def start(self) -> None:
        await self.client.connect()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        await self.client.close()  # type: ignore[no-untyped-call]
