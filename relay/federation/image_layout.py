"""The structure of a pushed image, walked strictly before Pillow decodes it: one image of its
type, nothing before, inside or after it that an image does not need (no polyglot: no ZIP,
script or other file behind the end marker, in a private chunk or in a pile of comments).

- PNG: the signature, ``IHDR`` first, then only the critical chunks and the standard
  ancillary ones (:data:`PNG_CHUNKS`, each within its size), every CRC right, and the file
  ends at the *first* ``IEND``. No text, ``eXIf``, private or APNG chunks. After decoding,
  :func:`png_data_whole` checks that the ``IDAT`` stream ends exactly where the pixels do.
- JPEG: the segments walked from ``SOI``: frame, tables, scans and their entropy-coded data,
  ``APPn`` and ``COM`` within :data:`METADATA_BYTES` together, tables within
  :data:`TABLE_BYTES`; the file ends at the first ``EOI`` after a scan.
- GIF: the header, colour tables, extension and image blocks walked to the trailer ``;``,
  which is the last byte; comment, application and text extensions within
  :data:`METADATA_BYTES`.
- WebP: the RIFF size is the file's; the chunks walked (``VP8``/``VP8L`` alone, or ``VP8X``
  and the extended chunks), ``ICCP``/``EXIF``/``XMP`` within :data:`METADATA_BYTES`.

What a decoder reads inside the compressed data (a JPEG scan, GIF's LZW, WebP's bitstream) is
Pillow's to check. Senders re-encode what they push (:mod:`relay.slack.files`), so a photo
from a relay never carries metadata near these bounds. Pure: bytes in, a bool out.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

__all__ = ["METADATA_BYTES", "PNG_CHUNKS", "TABLE_BYTES", "layout_ok", "png_data_whole"]

METADATA_BYTES: Final = 16 * 1024  # metadata (APPn, COM, ancillary chunks...) in one file
TABLE_BYTES: Final = 64 * 1024  # JPEG tables and headers (DQT, DHT, SOF, SOS...) in one file
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_UNBOUNDED: Final = 1 << 31
# Chunk -> its largest data. Critical: IHDR, PLTE, IDAT, IEND; the rest standard ancillary.
PNG_CHUNKS: Final = {
    b"IHDR": 13,
    b"PLTE": 768,
    b"IDAT": _UNBOUNDED,
    b"IEND": 0,
    b"tRNS": 256,
    b"gAMA": 4,
    b"cHRM": 32,
    b"sRGB": 1,
    b"sBIT": 4,
    b"bKGD": 6,
    b"pHYs": 9,
    b"tIME": 7,
    b"hIST": 512,
    b"iCCP": METADATA_BYTES,
    b"cICP": 4,
    b"cLLI": 8,
    b"mDCV": 24,
}
_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples a pixel
_ADAM7: Final = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                 (1, 0, 2, 2), (0, 1, 1, 2))  # fmt: skip
_JPEG_TABLES: Final = frozenset(
    {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xC4, 0xCC, 0xDB, 0xDD, 0xDA, 0xDC}
)  # SOFn, DHT, DAC, DQT, DRI, SOS, DNL
_SOF: Final = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC})
_GIF_EXTENSIONS: Final = frozenset({0xF9, 0xFE, 0xFF, 0x01})  # control, comment, app, text
_WEBP_SIMPLE: Final = frozenset({b"VP8 ", b"VP8L"})
_WEBP_CHUNKS: Final = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"})
_WEBP_METADATA: Final = frozenset({b"ICCP", b"EXIF", b"XMP "})


def layout_ok(data: bytes, mime: str) -> bool:
    """Whether ``data`` is laid out as one image of type ``mime`` and nothing else."""
    match mime:
        case "image/png":
            return _png_chunks(data) is not None
        case "image/jpeg":
            return _jpeg(data)
        case "image/gif":
            return _gif(data)
        case "image/webp":
            return _webp(data)
    return False


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """The chunks of a strictly laid out PNG, or None."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos, n, metadata = len(_PNG_SIGNATURE), len(data), 0
    chunks: list[tuple[bytes, bytes]] = []
    while pos + 12 <= n:
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        limit = PNG_CHUNKS.get(kind)
        if limit is None or length > limit or end > n or (not chunks) != (kind == b"IHDR"):
            return None
        body = data[pos + 8 : pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, end - 4)[0]:
            return None
        if kind[0] & 0x20:  # ancillary
            metadata += length
            if metadata > METADATA_BYTES:
                return None
        chunks.append((kind, body))
        pos = end
        if kind == b"IEND":  # the first IEND ends the file
            ok = pos == n and len(chunks[0][1]) == 13 and any(k == b"IDAT" for k, _ in chunks)
            return chunks if ok else None
    return None


def png_data_whole(data: bytes) -> bool:
    """Whether the PNG's ``IDAT`` stream is one zlib stream holding exactly the rows its
    header declares, nothing after it. Call it once Pillow has decoded the image within the
    pixel bound (the rows are inflated again here, a piece at a time, never kept)."""
    chunks = _png_chunks(data)
    if chunks is None:
        return False
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = _PNG_CHANNELS.get(colour)
    if channels is None:
        return False
    bits = channels * depth
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        w = (width - x0 + dx - 1) // dx if width > x0 else 0
        h = (height - y0 + dy - 1) // dy if height > y0 else 0
        if w and h:
            expected += h * (1 + (w * bits + 7) // 8)
    stream = b"".join(body for kind, body in chunks if kind == b"IDAT")
    inflate = zlib.decompressobj()
    produced, rest = 0, stream
    try:
        while rest and not inflate.eof:
            produced += len(inflate.decompress(rest, 1 << 20))
            if produced > expected:
                return False
            rest = inflate.unconsumed_tail
    except zlib.error:
        return False
    return inflate.eof and not inflate.unused_data and produced == expected


def _jpeg(data: bytes) -> bool:
    if not data.startswith(b"\xff\xd8"):
        return False
    pos, n, metadata, tables = 2, len(data), 0, 0
    framed = scanned = False
    while pos + 2 <= n:
        if data[pos] != 0xFF:
            return False
        marker, pos = data[pos + 1], pos + 2
        if marker == 0xD9:  # EOI: the end, after a scan
            return scanned and pos == n
        if pos + 2 > n:
            return False
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2 or pos + length > n:
            return False
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn, COM
            metadata += length
            if metadata > METADATA_BYTES:
                return False
        elif marker in _JPEG_TABLES:
            tables += length
            if tables > TABLE_BYTES or (marker in _SOF and framed):
                return False
            framed = framed or marker in _SOF
        else:  # SOI again, TEM, RSTn outside a scan, JPGn, EXP, fill bytes: not ours
            return False
        pos += length
        if marker == 0xDA:  # SOS: its entropy-coded data, to the next marker
            if not framed:
                return False
            scanned = True
            while True:
                at = data.find(b"\xff", pos)
                if at < 0 or at + 1 >= n:
                    return False
                following = data[at + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed byte, RSTn
                    pos = at + 2
                    continue
                pos = at
                break
    return False


def _sub_blocks(data: bytes, pos: int) -> tuple[int, int]:
    """Past a GIF sub-block chain from ``pos``: the position after its terminator and the
    bytes it held; (-1, 0) when it runs off the end."""
    n, total = len(data), 0
    while pos < n:
        size = data[pos]
        pos += 1
        if size == 0:
            return pos, total
        pos += size
        total += size
    return -1, 0


def _colour_table(flags: int) -> int:
    return 3 * (2 << (flags & 7)) if flags & 0x80 else 0


def _gif(data: bytes) -> bool:
    n = len(data)
    if n < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return False
    pos, metadata, images = 13 + _colour_table(data[10]), 0, 0
    while pos < n:
        block, pos = data[pos], pos + 1
        if block == 0x3B:  # the trailer: the last byte
            return images > 0 and pos == n
        if block == 0x21 and pos < n:
            label = data[pos]
            if label not in _GIF_EXTENSIONS:
                return False
            pos, size = _sub_blocks(data, pos + 1)
            if label != 0xF9:
                metadata += size
                if metadata > METADATA_BYTES:
                    return False
        elif block == 0x2C and pos + 9 <= n:
            pos += 9 + _colour_table(data[pos + 8]) + 1  # descriptor, table, LZW code size
            pos, _ = _sub_blocks(data, pos) if pos <= n else (-1, 0)
            images += 1
        else:
            return False
        if pos < 0:
            return False
    return False


def _webp(data: bytes) -> bool:
    n = len(data)
    if n < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    if struct.unpack_from("<I", data, 4)[0] + 8 != n:
        return False
    pos, metadata, first = 12, 0, b""
    while pos < n:
        if pos + 8 > n:
            return False
        kind, size = struct.unpack_from("<4sI", data, pos)
        pos += 8 + size + (size & 1)
        if pos > n or (first in _WEBP_SIMPLE):  # a simple file is its one chunk
            return False
        if kind in _WEBP_METADATA:
            metadata += size
            if metadata > METADATA_BYTES:
                return False
        elif kind not in _WEBP_CHUNKS:
            return False
        if not first:
            if kind not in _WEBP_SIMPLE and kind != b"VP8X":
                return False
            first = kind
    return pos == n and bool(first)
