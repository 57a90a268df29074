"""What a pushed file must be: an allowed image type, its magic number, nothing cut off or
appended, decodable by Pillow within the pixel bound (``relay.federation.files``)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from relay.core.reasons import Reason
from relay.federation.files import IMAGE_TYPES, check_image, ends_whole, sniff


def image(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), [(v, k) for k, v in IMAGE_TYPES.items()])
def test_each_allowed_type_is_sniffed_and_passes(fmt: str, mime: str) -> None:
    data = image(fmt)
    assert sniff(data) == mime
    assert ends_whole(data, mime)
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
