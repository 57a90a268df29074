"""Upload v2 through slack-sdk's files_upload_v2, files.info, and token-gated downloads."""

from __future__ import annotations

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from relay.lab.emulator import Emulator

from .conftest import BOLO, OFFICER, TEAM_A, TEAM_B, Receiver

PHOTO = b"\xff\xd8\xff\xe0 fictional jpeg bytes"


async def test_files_upload_v2_shares_a_file_in_a_thread(
    emu: Emulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    parent = emu.post_as_user(TEAM_A, BOLO, OFFICER, "BOLO: suspect (fictional)")
    resp = await client.files_upload_v2(
        channel=BOLO,
        content=PHOTO,
        filename="IMG_0001.jpg",
        title="Suspect, camera 3",
        alt_txt="Person in dark hoodie (fictional)",
        initial_comment="[Agency B] photo",
        thread_ts=parent,
    )
    uploaded = resp["file"]
    assert uploaded["alt_txt"] == "Person in dark hoodie (fictional)"
    assert (uploaded["title"], uploaded["size"], uploaded["mimetype"]) == (
        "Suspect, camera 3",
        len(PHOTO),
        "image/jpeg",
    )
    share = uploaded["shares"]["public"][BOLO][0]
    assert share["thread_ts"] == parent

    [post] = await emu.wait_for_posts(TEAM_A, BOLO, 1)
    assert (post["subtype"], post["text"], post["thread_ts"]) == (
        "file_share",
        "[Agency B] photo",
        parent,
    )
    assert post["ts"] == share["ts"]
    assert post["files"][0]["id"] == uploaded["id"]

    info = await client.files_info(file=uploaded["id"])
    assert info["file"]["alt_txt"] == "Person in dark hoodie (fictional)"
    [*_, event] = await receiver.wait_for(2)
    assert event.json["event"]["files"][0]["id"] == uploaded["id"]


async def test_url_private_needs_the_workspace_bot_token(
    emu: Emulator, client: AsyncWebClient
) -> None:
    resp = await client.files_upload_v2(channel=BOLO, content=PHOTO, filename="a.jpg")
    url = resp["file"]["url_private_download"]
    own = {"Authorization": f"Bearer {emu.workspace(TEAM_A).bot_token}"}
    other = {"Authorization": f"Bearer {emu.workspace(TEAM_B).bot_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers=own) as ok:
            assert (ok.status, await ok.read()) == (200, PHOTO)
        async with http.get(url, allow_redirects=False) as bare:
            assert bare.status == 302
            assert bare.headers["Location"].startswith("/?redir=")
        async with http.get(url, headers=other) as wrong:
            # Followed, the redirect lands on an HTML sign-in page with status 200: the trap.
            assert wrong.status == 200
            assert wrong.content_type == "text/html"


async def test_officer_upload_fires_file_share_with_alt_text(
    emu: Emulator, client: AsyncWebClient, receiver: Receiver
) -> None:
    emu.post_as_user(
        TEAM_A,
        BOLO,
        OFFICER,
        "Suspect photo (fictional)",
        files=[("IMG_0002.jpg", PHOTO, "Camera 4", "Grey sedan at pump 2 (fictional)")],
    )
    [received] = await receiver.wait_for(1)
    event = received.json["event"]
    assert isinstance(event, dict)
    assert (event["subtype"], event["upload"], event["user"]) == ("file_share", False, OFFICER)
    f = event["files"][0]
    assert (f["title"], f["alt_txt"]) == ("Camera 4", "Grey sedan at pump 2 (fictional)")
    info = await client.files_info(file=f["id"])
    assert info["file"]["shares"]["public"][BOLO][0]["ts"] == event["ts"]
