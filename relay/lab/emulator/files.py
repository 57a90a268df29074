"""Files: upload v2 (getUploadURLExternal, the upload URL, completeUploadExternal), files.info,
and ``url_private`` downloads that need the workspace's bot token."""

from __future__ import annotations

import secrets
from typing import Final
from urllib.parse import quote

from aiohttp import web

from relay.lab.emulator import shapes, timeline
from relay.lab.emulator.call import Call, Method
from relay.lab.emulator.errors import SlackError
from relay.lab.emulator.model import Channel, Json, Message, StoredFile, TokenKind, Workspace
from relay.lab.emulator.state import EmulatorState, PendingUpload

__all__ = ["METHODS", "add_file_routes", "new_file", "record_shares"]


def new_file(
    state: EmulatorState, ws: Workspace, *, user: str, name: str, length: int, alt: str | None
) -> StoredFile:
    f = StoredFile(
        id=state.new_id("F"),
        team_id=ws.team_id,
        user=user,
        name=name,
        title=name,
        alt_txt=alt,
        length=length,
        created=state.now(),
    )
    ws.files[f.id] = f
    return f


def record_shares(ws: Workspace, ch: Channel, msg: Message, sharer: str) -> None:
    """The ``shares`` entries files.info shows for a file posted in ``ch`` by ``msg``."""
    for file_id in msg.file_ids:
        share: Json = {
            "reply_users": [],
            "reply_users_count": 0,
            "reply_count": 0,
            "ts": msg.ts,
            "channel_name": ch.name,
            "team_id": ws.team_id,
            "share_user_id": sharer,
            "source": "UNKNOWN",
            "is_silent_share": False,
        }
        if msg.thread_ts is not None:
            share["thread_ts"] = msg.thread_ts
        ws.files[file_id].shares.setdefault(ch.id, []).append(share)


async def get_upload_url(call: Call) -> Json:
    name = call.args.text("filename")
    length = call.args.number("length", 0)
    if not name or length < 1:
        raise SlackError("invalid_arguments")
    alt = call.args.text("alt_txt") or call.args.text("alt_text")
    f = new_file(call.state, call.ws, user=call.ws.bot_user_id, name=name, length=length, alt=alt)
    ticket = secrets.token_urlsafe(16)
    call.state.uploads[ticket] = PendingUpload(team_id=call.ws.team_id, file_id=f.id)
    return {"upload_url": f"{call.state.base_url}/upload/v1/{ticket}", "file_id": f.id}


def _entries(call: Call) -> list[tuple[StoredFile, Json]]:
    raw = call.args.structured("files", "invalid_arguments")
    if not isinstance(raw, list) or not raw:
        raise SlackError("invalid_arguments")
    found: list[tuple[StoredFile, Json]] = []
    for entry in raw:
        f = call.ws.files.get(entry.get("id", "")) if isinstance(entry, dict) else None
        if f is None or f.content is None or f.completed or not isinstance(entry, dict):
            raise SlackError("file_not_found")
        found.append((f, entry))
    return found


async def complete_upload(call: Call) -> Json:
    entries = _entries(call)
    refs = [r for r in (call.args.text("channels") or "").split(",") if r]
    if call.args.text("channel_id"):
        refs.insert(0, call.args.text("channel_id") or "")
    targets = [call.member_channel(ref=r) for r in refs]
    thread_ts = call.args.text("thread_ts") or None
    if thread_ts is not None and (len(targets) != 1 or thread_ts not in targets[0].messages):
        raise SlackError("invalid_thread_ts")
    comment = call.args.text("initial_comment") or ""
    for f, entry in entries:
        f.completed = True
        f.title = str(entry.get("title") or f.name)
        if isinstance(entry.get("alt_txt"), str):
            f.alt_txt = entry["alt_txt"]
    ws, state = call.ws, call.state
    for ch in targets:
        ts = state.ts.next()
        msg = Message(
            ts=ts,
            text=comment,
            user=ws.bot_user_id,
            bot_id=ws.bot_id,
            app_id=ws.app_id,
            subtype="file_share",
            blocks=shapes.rich_text(comment, ts),
            file_ids=[f.id for f, _ in entries],
            thread_ts=thread_ts,
            upload=True,
        )
        record_shares(ws, ch, msg, ws.bot_user_id)
        timeline.post(state, ws, ch, msg)
    state.changes.notify()
    return {"files": [shapes.file_json(ws, f, state.base_url) for f, _ in entries]}


async def file_info(call: Call) -> Json:
    f = call.ws.files.get(call.args.text("file") or "")
    if f is None or not f.completed:
        raise SlackError("file_not_found")
    return {
        "file": shapes.file_json(call.ws, f, call.state.base_url),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


METHODS: Final = {
    "files.getUploadURLExternal": Method(handler=get_upload_url, scope="files:write"),
    "files.completeUploadExternal": Method(handler=complete_upload, scope="files:write"),
    "files.info": Method(handler=file_info, scope="files:read"),
}


def add_file_routes(app: web.Application, state: EmulatorState) -> None:
    async def upload(request: web.Request) -> web.Response:
        pending = state.uploads.pop(request.match_info["ticket"], None)
        if pending is None:
            return web.Response(status=404, text="Not Found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            field = form.get("file") or form.get("filename")
            data = field.file.read() if isinstance(field, web.FileField) else b""
        else:
            data = await request.read()
        f = state.workspace(pending.team_id).files[pending.file_id]
        f.content, f.length = data, len(data)
        return web.Response(text=f"OK - {len(data)}")

    async def download(request: web.Request) -> web.StreamResponse:
        team_id, _, file_id = request.match_info["team_file"].partition("-")
        ws = state.workspaces.get(team_id)
        header = request.headers.get("Authorization", "")
        token = state.tokens.get(header[7:].strip()) if header[:7].lower() == "bearer " else None
        authorized = (
            ws is not None
            and token is not None
            and token.kind is TokenKind.BOT
            and token.team_id == team_id
            and "files:read" in token.scopes
        )
        if not authorized:
            # Slack answers unauthenticated file fetches with a redirect to its sign-in page.
            raise web.HTTPFound(f"/?redir={quote(request.path_qs, safe='')}")
        f = ws.files.get(file_id) if ws is not None else None
        if f is None or not f.completed or f.content is None:
            return web.Response(status=404, text="File not found")
        mimetype = shapes.file_json(ws, f, state.base_url)["mimetype"] if ws else ""
        headers = {}
        if request.match_info.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="{quote(f.name)}"'
        return web.Response(body=f.content, content_type=mimetype, headers=headers)

    app.router.add_post("/upload/v1/{ticket}", upload)
    app.router.add_get("/files-pri/{team_file}/{download:download}/{name}", download)
    app.router.add_get("/files-pri/{team_file}/{name}", download)
