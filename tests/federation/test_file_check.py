"""What a pushed file must be: an allowed image type, its magic number, nothing cut off or
appended, decodable by Pillow within the pixel bound (``relay.federation.files``)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from relay.core.reasons import Reason
from relay.federation.files import IMAGE_TYPES, check_image, sniff
from relay.federation.image_layout import METADATA_BYTES, layout_ok


def image(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), [(v, k) for k, v in IMAGE_TYPES.items()])
def test_each_allowed_type_is_sniffed_and_passes(fmt: str, mime: str) -> None:
    data = image(fmt)
    assert sniff(data) == mime
    assert layout_ok(data, mime)
    assert check_image(data, mime) is None


def test_a_type_outside_the_allowlist_is_refused_whatever_the_bytes() -> None:
    for mime in ("image/x-anything", "image/svg+xml", "image/tiff", "application/pdf", ""):
        assert check_image(image("PNG"), mime) is Reason.UNSUPPORTED_MEDIA_TYPE


def test_bytes_of_another_type_than_declared_are_a_mismatch() -> None:
    assert check_image(image("PNG"), "image/jpeg") is Reason.TYPE_MISMATCH
    assert check_image(image("JPEG"), "image/png") is Reason.TYPE_MISMATCH
    assert check_image(bytes(range(256)) * 40, "image/png") is Reason.TYPE_MISMATCH
    assert check_image(b"", "image/png") is Reason.TYPE_MISMATCH
    assert sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_a_truncated_image_is_undecodable(fmt: str) -> None:
    data = image(fmt, (64, 64))
    mime = next(k for k, v in IMAGE_TYPES.items() if v == fmt)
    assert check_image(data[: len(data) // 2], mime) is Reason.UNDECODABLE


def test_a_polyglot_with_a_file_appended_is_undecodable() -> None:
    """A PNG that is also a ZIP (or a script) behind its IEND: refused."""
    png = image("PNG")
    assert check_image(png + b"PK\x03\x04" + b"\x00" * 64, "image/png") is Reason.UNDECODABLE
    jpeg = image("JPEG")
    assert check_image(jpeg + b"<script>x</script>", "image/jpeg") is Reason.UNDECODABLE


def test_an_image_with_its_magic_and_end_but_broken_inside_is_undecodable() -> None:
    png = bytearray(image("PNG", (32, 32)))
    png[40:60] = b"\x00" * 20  # the IDAT chunk's bytes (its CRC no longer matches)
    assert check_image(bytes(png), "image/png") is Reason.UNDECODABLE
    jpeg = image("JPEG", (64, 64))
    broken = jpeg[:200] + b"\xff\xd9"  # the header, then the end marker at once
    assert check_image(broken, "image/jpeg") is Reason.UNDECODABLE


def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded() -> None:
    """A small file that declares a huge canvas: refused from its header."""
    bomb = image("PNG", (4000, 3000))  # one colour: compresses to a few KiB
    assert len(bomb) < 200_000
    assert check_image(bomb, "image/png", max_pixels=10_000_000) is Reason.IMAGE_TOO_LARGE
    assert check_image(image("PNG", (64, 64)), "image/png", max_pixels=4096) is None
    assert check_image(image("PNG", (65, 64)), "image/png", max_pixels=4096) is (
        Reason.IMAGE_TOO_LARGE
    )


SECRET = b"PK\x03\x04" + b"ARBITRARY-PAYLOAD" * 1000  # a ZIP's start and a payload


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _polyglots() -> list[tuple[str, bytes, str]]:
    png, jpeg, gif = image("PNG", (16, 16)), image("JPEG", (16, 16)), image("GIF", (16, 16))
    webp = image("WEBP", (16, 16))
    iend = png[-12:]
    com = b"\xff\xfe" + struct.pack(">H", 2 + 60_000) + b"A" * 60_000
    idat = _chunk(b"IDAT", zlib.compress(b"\x00" * 49) + SECRET)
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 1, 8, 0, 0, 0, 0))
    return [
        ("PNG + ZIP + another IEND", png + SECRET + iend, "image/png"),
        ("PNG, a private chunk", png[:-12] + _chunk(b"prVt", SECRET) + iend, "image/png"),
        ("PNG, a text chunk", png[:-12] + _chunk(b"tEXt", b"k\x00" + SECRET) + iend, "image/png"),
        ("PNG, a bad CRC", png[:-12] + _chunk(b"gAMA", b"\0\0\0\1")[:-1] + b"!" + iend,
         "image/png"),
        ("PNG, bytes after its zlib stream", png[:8] + ihdr + idat + iend, "image/png"),
        ("JPEG + payload + EOI", jpeg + SECRET + b"\xff\xd9", "image/jpeg"),
        ("JPEG, ten 60 KB comments", jpeg[:2] + com * 10 + jpeg[2:], "image/jpeg"),
        ("JPEG, one 60 KB comment", jpeg[:2] + com + jpeg[2:], "image/jpeg"),
        ("JPEG, fill bytes", jpeg[:2] + b"\xff" * 64 + jpeg[2:], "image/jpeg"),
        ("JPEG, EOI before the scan", jpeg[:2] + b"\xff\xd9", "image/jpeg"),
        ("GIF + payload + trailer", gif + SECRET + b";", "image/gif"),
        ("GIF, a big comment", gif[:-1] + b"\x21\xfe" + (b"\xff" + b"A" * 255) * 80 + b"\x00;",
         "image/gif"),
        ("WebP, an unknown chunk", _riff(webp, b"ZIPs", SECRET), "image/webp"),
        ("WebP, a simple file and more", _riff(webp, b"EXIF", b"x" * 10), "image/webp"),
    ]  # fmt: skip


def _riff(webp: bytes, kind: bytes, data: bytes) -> bytes:
    body = webp[12:] + kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@pytest.mark.parametrize(("name", "data", "mime"), _polyglots(), ids=lambda v: str(v)[:30])
def test_anything_hidden_before_in_or_after_the_image_is_undecodable(
    name: str, data: bytes, mime: str
) -> None:
    assert check_image(data, mime) is Reason.UNDECODABLE, name


def test_metadata_within_its_bound_passes() -> None:
    """What an ordinary encoder writes: an ICC profile, a physical size, a GIF comment."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG", dpi=(96, 96), icc_profile=b"i" * 3000)
    assert check_image(out.getvalue(), "image/png") is None
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG", icc_profile=b"i" * 3000, comment=b"ok")
    assert check_image(out.getvalue(), "image/jpeg") is None
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF", comment=b"c" * 200)
    assert check_image(out.getvalue(), "image/gif") is None
    jpeg = image("JPEG")
    com = b"\xff\xfe" + struct.pack(">H", 2 + METADATA_BYTES) + b"A" * METADATA_BYTES
    assert check_image(jpeg[:2] + com + jpeg[2:], "image/jpeg") is Reason.UNDECODABLE


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "1"])
def test_what_pillow_writes_is_laid_out_as_expected(fmt: str, mode: str) -> None:
    if fmt == "JPEG" and mode in ("RGBA", "P"):
        return
    out = io.BytesIO()
    kwargs = {"progressive": True} if fmt == "JPEG" and mode == "L" else {}
    Image.new(mode, (37, 23)).save(out, fmt, **kwargs)
    mime = next(k for k, v in IMAGE_TYPES.items() if v == fmt)
    assert check_image(out.getvalue(), mime) is None
    if fmt == "PNG":
        out = io.BytesIO()
        Image.new(mode, (37, 23)).save(out, fmt, interlace=1)  # Adam7: seven passes
        assert check_image(out.getvalue(), mime) is None
