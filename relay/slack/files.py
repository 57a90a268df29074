"""Photos: download from Slack with the bot token, re-encode, upload at the partner.

``url_private`` only works with a bearer token, so the relay downloads the bytes, checks type
and size, and re-encodes the pixels into a fresh image: EXIF (GPS, camera, owner), XMP, IPTC,
comments and any other metadata do not survive. The digest of the re-encoded bytes is what the
envelope signs. At the partner the bytes are uploaded with ``files.getUploadURLExternal`` +
``files.completeUploadExternal`` (slack-sdk's ``files_upload_v2``).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple
from urllib.parse import urlsplit

import aiohttp
from PIL import Image, ImageOps

from relay.core.envelope import FileRef
from relay.core.model import SlackFile
from relay.errors import DeliveryError
from relay.flow.wire import Prepared
from relay.slack.web import SlackCaller

__all__ = ["Fetched", "FileFetcher", "PhotoRetry", "flatten", "reencode"]

MAX_IMAGE_BYTES: Final = 10 << 20
MAX_PIXELS: Final = 40_000_000
_FORMATS: Final = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/png",
    "WEBP": "image/png",
}


def flatten(img: Image.Image) -> Image.Image:
    """``img`` in RGB; a transparent one composited onto white first."""
    if "A" in img.getbands() or "transparency" in img.info:
        rgba = img.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        ground.alpha_composite(rgba)
        return ground.convert("RGB")
    return img.convert("RGB")


def reencode(data: bytes) -> tuple[bytes, str]:
    """Pixels only, in a new file: JPEG stays JPEG, everything else becomes PNG."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            if fmt not in _FORMATS:
                raise ValueError("not an allowed image format")
            if img.width * img.height > MAX_PIXELS:  # Pillow only warns below twice the cap
                raise ValueError("too many pixels")
            img.load()
            # what is sent is what the OCR reads: turned as the EXIF says (the EXIF is not
            # kept), and a transparent image flattened onto white (text only in the alpha
            # channel is then text in the pixels, or gone)
            pixels = flatten(ImageOps.exif_transpose(img))
            clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure: not a readable image
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=90, optimize=True)
        return out.getvalue(), "image/jpeg"
    clean.save(out, "PNG", optimize=True)
    return out.getvalue(), "image/png"


SLACK_FILE_HOSTS: Final = frozenset({"files.slack.com"})  # where Slack serves hosted files


@dataclass(frozen=True, slots=True)
class PhotoRetry:
    """How long a post waits for a photo Slack fails to hand over for now (``files.info``
    5xx or 429, a download that fails): retried with doubling waits (``Retry-After`` where
    Slack gives one), within ``budget`` seconds for the whole message."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    budget: float = 30.0


class Fetched(NamedTuple):
    """A message's photos: the ones ready to go, and the ones that could not be had (file
    id -> reason code), which go as a visible line instead, never silently."""

    files: dict[str, Prepared]
    failed: dict[str, str]


class FileFetcher:
    def __init__(
        self,
        caller: SlackCaller,
        session: aiohttp.ClientSession,
        bot_token: str,
        *,
        api_url: str = "https://slack.com/api/",
        retry: PhotoRetry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.retry = retry or PhotoRetry()
        self.sleep = sleep
        self.caller = caller
        self.session = session
        self._token = bot_token
        # The bot token goes only to Slack's file host, or to the Web API's own host name (an
        # emulator on loopback serves its files there): a file whose URL names any other host
        # (a remote file, a forged answer) is not fetched.
        api = urlsplit(api_url)
        self._api_host = (api.hostname or "").lower()
        self._api_scheme = api.scheme

    async def prepare(self, files: Iterable[SlackFile]) -> Fetched:
        """Re-encoded bytes for every image that can be read; the others with the reason
        (the policy blocks a message with a file type it does not allow before anything
        goes). A failure for now is tried again within the retry budget."""
        out: dict[str, Prepared] = {}
        failed: dict[str, str] = {}
        deadline = time.monotonic() + self.retry.budget
        for f in files:
            if not f.mimetype.startswith("image/") or not f.id:
                continue
            try:
                data = await self._download_retrying(f.id, deadline)
                clean, mime = await asyncio.to_thread(reencode, data)  # CPU: off the loop
            except DeliveryError as exc:
                failed[f.id] = exc.code
                continue
            except ValueError:
                failed[f.id] = "unreadable_image"
                continue
            out[f.id] = Prepared(
                ref=FileRef(sha256=hashlib.sha256(clean).hexdigest(), mime=mime, size=len(clean)),
                data=clean,
            )
        return Fetched(files=out, failed=failed)

    async def _download_retrying(self, file_id: str, deadline: float) -> bytes:
        retry = self.retry
        for attempt in range(retry.attempts):
            try:
                return await self._download(file_id)
            except DeliveryError as exc:
                wait = exc.retry_after or min(retry.cap, retry.base * 2**attempt)
                last = attempt == retry.attempts - 1
                if not exc.retryable or last or time.monotonic() + wait > deadline:
                    raise
                await self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download(self, file_id: str) -> bytes:
        info = await self.caller.api("files.info", file=file_id)
        meta = info.get("file") or {}
        url = meta.get("url_private_download") or meta.get("url_private")
        if (
            not isinstance(url, str)
            or meta.get("mode", "hosted") != "hosted"
            or int(meta.get("size") or 0) > MAX_IMAGE_BYTES
            or not self._trusted(url)
        ):
            raise DeliveryError("file not downloadable", code="file_unavailable", retryable=False)
        try:
            async with self.session.get(
                url, headers={"Authorization": f"Bearer {self._token}"}, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    raise DeliveryError(
                        "file download refused",
                        code=f"http_{resp.status}",
                        retryable=resp.status >= 500 or resp.status == 429,
                        retry_after=_seconds(resp.headers.get("Retry-After")),
                    )
                data = await _read_bounded(resp.content, MAX_IMAGE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError):
            raise DeliveryError(
                "file download failed", code="unreachable", retryable=True
            ) from None
        if len(data) > MAX_IMAGE_BYTES:
            raise DeliveryError("file too large", code="too_large", retryable=False)
        return data

    def _trusted(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in SLACK_FILE_HOSTS:
            return parts.scheme == "https"
        return (
            bool(host) and host == self._api_host and parts.scheme in ("https", self._api_scheme)
        )

    async def upload(
        self,
        *,
        channel: str,
        thread_ts: str,
        data: bytes,
        mime: str,
        name: str,
        title: str = "",
        alt_txt: str = "",
    ) -> None:
        ext = {"image/jpeg": "jpg", "image/png": "png"}.get(mime, "bin")

        async def go() -> object:
            kwargs: dict[str, object] = {
                "channel": channel,
                "thread_ts": thread_ts,
                "content": data,
                "filename": f"{name}.{ext}",
                "title": title or name,
            }
            if alt_txt:
                kwargs["alt_txt"] = alt_txt
            return await self.caller.client.files_upload_v2(**kwargs)  # type: ignore[arg-type]

        await self.caller.call("files.getUploadURLExternal", channel, go)


async def _read_bounded(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, or its first ``limit`` bytes: ``read(n)`` alone returns what has
    arrived so far, a truncated photo whenever the body comes in several chunks."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` of whole seconds (bounded), else None."""
    return min(float(value), 60.0) if value and value.isdigit() else None
