"""``PUT /v1/files/{sha256}``: a photo a partner pushes before the envelope naming it.

Content-addressed (the body must hash to the path), and an image of an allowed type through and
through: the declared type on the allowlist (:data:`IMAGE_TYPES`, what partners' policies
allow), the bytes starting with that type's magic number, laid out strictly as one image of
that type (:mod:`relay.federation.image_layout`: known chunks or segments only, metadata
bounded, ending at the first end marker: nothing hidden before, in or after it, no polyglot),
and the whole image decoding with Pillow within a pixel bound (a decompression bomb is refused
before its pixels are allocated); a PNG's compressed rows end where its pixels do. The decoding
runs in a thread, a few at a time, and only once the partner's quota has room for the file (a
store read): a partner has at most :data:`UPLOADS_PER_PEER` uploads in flight (its bodies in
memory; one more is refused before it is read: ``rate_limited`` 429 with ``Retry-After``). What
passes is kept, charged to the partner, within its quota (:meth:`FileHandler.store_blob`); the
sweep deletes it once no envelope needs it (:mod:`relay.flow.blobs`).

Refusals, answered ``{"error": code}`` and recorded (ids and codes only):
``unsupported_media_type`` 415, ``type_mismatch`` 415, ``undecodable`` 422,
``image_too_large`` 413, ``too_large`` 413, ``quota_exceeded`` 429 (with ``Retry-After``),
``rate_limited`` 429 (with ``Retry-After``: over the rate, or too many uploads in flight),
``bad_request`` 400 (the bytes do not hash to the path).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
from typing import Final, Protocol

from aiohttp import web
from PIL import Image

from relay.core import defaults
from relay.core.reasons import Reason
from relay.federation.image_layout import layout_ok, png_data_whole
from relay.federation.server import HANDLER, LIMITS, admit, read_body
from relay.store.contract import BlobHold, RefusalRecord

__all__ = ["IMAGE_TYPES", "FileHandler", "add_file_routes", "check_image", "sniff"]

# Declared type -> Pillow's name for the format. Senders push JPEG and PNG (re-encoded,
# relay.slack.files); GIF and WebP are the other types policies may allow.
IMAGE_TYPES: Final = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
QUOTA_RETRY_AFTER: Final = "60"  # seconds: space comes back as envelopes are settled
DECODES: Final = web.AppKey("decodes", asyncio.Semaphore)
_CONCURRENT_DECODES: Final = 2  # images decoded at once (each may take ~40 MP of memory)
UPLOADS_PER_PEER: Final = 2  # uploads one partner has in flight at once (each holds its body)
UPLOAD_RETRY_AFTER: Final = "1"  # seconds
UPLOADS: Final = web.AppKey("uploads", dict)  # peer -> uploads in flight


class FileHandler(Protocol):
    """What the route hands a checked file to (``relay.flow.door.Door``)."""

    async def store_blob(self, sha256: str, mime: str, data: bytes, *, peer: str) -> BlobHold:
        """Keep it, charged to ``peer``, unless ``peer``'s files would pass its quota."""

    async def blob_room(self, sha256: str, size: int, *, peer: str) -> BlobHold:
        """What :meth:`store_blob` would answer now (a read, nothing kept)."""


def sniff(data: bytes) -> str | None:
    """The image type ``data``'s magic number says, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_image(
    data: bytes, declared: str, *, max_pixels: int = defaults.MAX_IMAGE_PIXELS
) -> Reason | None:
    """Why ``data`` is not one whole image of the ``declared`` type, or None. Blocking (it
    decodes the image): call it in a thread."""
    fmt = IMAGE_TYPES.get(declared)
    if fmt is None:
        return Reason.UNSUPPORTED_MEDIA_TYPE
    if sniff(data) != declared:
        return Reason.TYPE_MISMATCH
    if not layout_ok(data, declared):  # one image, nothing hidden before, in or after it
        return Reason.UNDECODABLE
    try:
        # The pixel bound is checked from the header, before any pixel is decoded (Pillow's
        # own bomb check, at its process-wide Image.MAX_IMAGE_PIXELS, may warn first).
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            if width * height > max_pixels:
                return Reason.IMAGE_TOO_LARGE
            img.verify()
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            img.load()
        if declared == "image/png" and not png_data_whole(data):
            return Reason.UNDECODABLE  # bytes after the pixels in the IDAT stream
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        return Reason.IMAGE_TOO_LARGE
    except Exception:  # noqa: BLE001 - any decoder failure: not one whole image
        return Reason.UNDECODABLE
    return None


async def _refuse(
    request: web.Request,
    reason: Reason,
    *,
    peer: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Answered and recorded as the listener's other refusals are (ids and codes only)."""
    status = reason.http_status or 400
    await request.app[HANDLER].record_refusal(
        RefusalRecord(
            at=dt.datetime.now(dt.UTC),
            peer=peer,
            reason=reason,
            http_status=status,
            digest=hashlib.sha256(data).hexdigest() if data else None,
        )
    )
    return web.json_response({"error": reason}, status=status, headers=headers)


async def _put_file(request: web.Request) -> web.Response:
    """``PUT /v1/files/{sha256}``: the peer and its rate first (as for envelopes), then one of
    its :data:`UPLOADS_PER_PEER` upload slots and the declared type, then the body (within the
    size), its hash, the partner's quota (a read), and only then the image is decoded; the
    quota is checked again as the file is kept."""
    peer = await admit(request)
    if isinstance(peer, web.Response):
        return peer
    uploads = request.app[UPLOADS]
    if uploads.get(peer, 0) >= UPLOADS_PER_PEER:  # refused before a byte of the body is read
        return await _refuse(
            request, Reason.RATE_LIMITED, peer=peer, headers={"Retry-After": UPLOAD_RETRY_AFTER}
        )
    uploads[peer] = uploads.get(peer, 0) + 1
    try:
        return await _take_file(request, peer)
    finally:
        uploads[peer] -= 1
        if not uploads[peer]:
            del uploads[peer]


async def _take_file(request: web.Request, peer: str) -> web.Response:
    declared = request.content_type
    if declared not in IMAGE_TYPES:  # refused unread
        return await _refuse(request, Reason.UNSUPPORTED_MEDIA_TYPE, peer=peer)
    data = await read_body(request, peer, request.app[LIMITS]["max_file"])
    if isinstance(data, web.Response):
        return data
    sha256 = request.match_info["sha256"]
    if hashlib.sha256(data).hexdigest() != sha256:
        return await _refuse(request, Reason.BAD_REQUEST, peer=peer)
    handler: FileHandler = request.app[HANDLER]
    if await handler.blob_room(sha256, len(data), peer=peer) is BlobHold.OVER_QUOTA:
        return await _over_quota(request, peer, data)  # before any decoding
    async with request.app[DECODES]:
        problem = await asyncio.to_thread(check_image, data, declared)
    if problem is not None:
        return await _refuse(request, problem, peer=peer, data=data)
    held = await handler.store_blob(sha256, declared, data, peer=peer)
    if held is BlobHold.OVER_QUOTA:  # another upload took the room meanwhile
        return await _over_quota(request, peer, data)
    return web.json_response({"status": "stored"})


async def _over_quota(request: web.Request, peer: str, data: bytes) -> web.Response:
    return await _refuse(
        request,
        Reason.QUOTA_EXCEEDED,
        peer=peer,
        data=data,
        headers={"Retry-After": QUOTA_RETRY_AFTER},
    )


def add_file_routes(app: web.Application) -> None:
    """The file route on the federation listener (``build_federation_app`` calls this)."""
    app[DECODES] = asyncio.Semaphore(_CONCURRENT_DECODES)
    app[UPLOADS] = {}
    app.router.add_put(r"/v1/files/{sha256:[0-9a-f]{64}}", _put_file)
