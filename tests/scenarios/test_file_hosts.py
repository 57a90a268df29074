"""The bot token is sent only where Slack serves files: a ``files.info`` answer naming another
host (a remote file, a forged answer) is not fetched, and the token never leaves."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from relay.errors import DeliveryError
from relay.slack.files import FileFetcher


class _Caller:
    """A Web API caller answering ``files.info`` with ``meta``."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    async def api(self, method: str, pace: str = "", /, **kwargs: Any) -> dict[str, Any]:
        assert method == "files.info"
        return {"ok": True, "file": self.meta}


@pytest.fixture
async def file_server() -> Any:
    seen: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=b"\x89PNG not really", content_type="image/png")

    app = web.Application()
    app.router.add_get("/files-pri/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield port, seen
    await runner.cleanup()


@pytest.mark.parametrize(
    ("host", "mode", "fetched"),
    [
        ("127.0.0.1", "hosted", True),  # the Web API's own host (the emulator's files)
        ("localhost", "hosted", False),  # another host name
        ("127.0.0.1", "external", False),  # a remote file: its URL may point anywhere
    ],
)
async def test_files_are_fetched_only_from_slacks_hosts(
    file_server: Any, host: str, mode: str, fetched: bool
) -> None:
    port, seen = file_server
    meta = {"url_private": f"http://{host}:{port}/files-pri/F1", "mode": mode, "size": 15}
    async with aiohttp.ClientSession() as session:
        caller: Any = _Caller(meta)  # only files.info is called
        fetcher = FileFetcher(
            caller,
            session,
            "xoxb-secret",
            api_url=f"http://127.0.0.1:{port + 1}/api/",
        )
        if fetched:
            assert await fetcher._download("F1") == b"\x89PNG not really"
            assert seen == ["Bearer xoxb-secret"]
        else:
            with pytest.raises(DeliveryError) as info:
                await fetcher._download("F1")
            assert info.value.code == "file_unavailable"
            assert seen == []
