"""`relay bench ocr`: photos read per second by the relay's OCR, one worker process (one core),
on typical sizes: a 1280x720 screenshot of a record, a phone photo of a whiteboard (4032x3024
JPEG, scaled down by the normaliser) and a 1600x1200 photo of a form. Each photo read is a
new image (no cache hit). Prints one line: ``OCR: N images/s, p50 X ms, p99 Y ms``.
"""

from __future__ import annotations

import argparse
import io
import time
from typing import Any

from PIL import Image, ImageDraw

from relay.ocr.reader import OcrSettings, PhotoReader

__all__ = ["add_parser", "bench_photos"]


def add_parser(bench_subparsers: Any) -> None:
    p = bench_subparsers.add_parser("ocr", help="photos read per second by the OCR, one core")
    p.add_argument(
        "--seconds", type=float, default=30.0, metavar="S", help="time to read for (30)"
    )
    p.set_defaults(func=_bench)


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, quality=88) if fmt == "JPEG" else img.save(out, fmt)
    return out.getvalue()


def bench_photos(n: int) -> list[bytes]:
    """The ``n``-th round of photos: a screenshot, a phone photo, a form (numbered, so no
    two rounds are the same bytes)."""
    from relay.lab.photos import font  # a lab tool: loaded when the bench runs

    shot = Image.new("RGB", (1280, 720), (250, 250, 250))
    d = ImageDraw.Draw(shot)
    d.rectangle((0, 0, 1280, 48), fill=(40, 60, 110))
    d.text((16, 10), f"RMS - Incident {n:05d}", fill=(255, 255, 255), font=font(24))
    for i in range(14):
        d.text(
            (24, 70 + 44 * i),
            f"{i + 1:02d}  Report 26-{n:05d}-{i}: theft from vehicle, Elm St lot, unit 4{i}",
            fill=(20, 20, 20),
            font=font(22),
        )
    phone = Image.new("RGB", (4032, 3024), (120, 110, 100))
    d = ImageDraw.Draw(phone)
    d.rectangle((500, 400, 3500, 2600), fill=(235, 236, 230))
    for i in range(6):
        d.text(
            (620, 520 + 330 * i),
            f"Briefing {n} item {i}: grey van, plate 4TX-{i}29",
            fill=(20, 40, 150),
            font=font(110),
        )
    form = Image.new("RGB", (1600, 1200), (255, 255, 255))
    d = ImageDraw.Draw(form)
    for i in range(10):
        d.text((80, 80 + 100 * i), f"Field {i}: value {n}-{i} recorded", fill=0, font=font(44))
    return [_encode(shot, "PNG"), _encode(phone, "JPEG"), _encode(form, "JPEG")]


def _bench(args: argparse.Namespace) -> int:
    reader = PhotoReader(OcrSettings(workers=1, cache=0, budget=60.0))
    try:
        if not reader.available:
            print("relay: the OCR engine is not installed (pip install -e .)")
            return 1
        reader.read_now(bench_photos(0)[0])  # the worker started, the engine loaded
        times: list[float] = []
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < args.seconds or not times:
            n += 1
            for data in bench_photos(n):
                t = time.perf_counter()
                reader.read_now(data)
                times.append(time.perf_counter() - t)
        total = sum(times)
    finally:
        reader.close()
    times.sort()
    p50 = times[len(times) // 2] * 1000
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    print(f"OCR: {len(times) / total:.1f} images/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    return 0
