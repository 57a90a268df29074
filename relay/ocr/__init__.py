"""OCR of photos (issue 17): the reader (process pool, time budget, cache) and the worker
(normalise, Tesseract, blackout). The core judges what it reads
(:mod:`relay.core.photo`, :mod:`relay.core.policy.photo_units`)."""

from relay.ocr.reader import DEFAULT_OCR, OcrSettings, PhotoReader

__all__ = ["DEFAULT_OCR", "OcrSettings", "PhotoReader"]
