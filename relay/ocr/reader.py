"""The photo reader: OCR in a bounded process pool, off the event loop, within a time budget
per photo, cached by content hash.

* ``workers`` processes at most (``ocr.workers``); a photo still being read after
  ``budget`` seconds fails with ``ocr_timeout`` and the pool is recycled (its processes
  killed), so a pathological image cannot hold a worker.
* Results are cached by the sha256 of the bytes (a bounded LRU): an edit of a message does
  not read the same photo again. Failures are not cached.
* The engine missing (``tesserocr`` not installed, no language data) is a result
  (``ocr_unavailable``), never an exception: the policy withholds the photo.

Nothing here logs or raises recognised text: only codes, counts and digests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import hashlib
import importlib.util
import multiprocessing
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import structlog

from relay.core.photo import Box, PhotoStatus, PhotoText
from relay.ocr.worker import blackout, read_photo, tessdata_path

__all__ = ["OcrSettings", "PhotoReader"]

log = structlog.get_logger("relay.ocr")


@dataclass(frozen=True, slots=True, kw_only=True)
class OcrSettings:
    workers: int = 1  # processes reading photos at once
    budget: float = 20.0  # seconds one photo may take
    cache: int = 256  # photos' results kept by content hash
    tessdata: str | None = None  # language data directory (default: found, see worker)


DEFAULT_OCR: Final = OcrSettings()


class PhotoReader:
    """Reads photos for the policy. ``read`` for the event loop, ``read_now`` for a CLI."""

    def __init__(
        self,
        settings: OcrSettings = DEFAULT_OCR,
        *,
        observe: Callable[[str, float | None], None] | None = None,
    ) -> None:
        self.settings = settings
        # counts each reading's outcome code and time (relay.ocr.metrics): never the text
        self.observe = observe or (lambda outcome, seconds: None)
        self._lock = threading.Lock()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._cache: OrderedDict[str, PhotoText] = OrderedDict()
        self.available = (
            importlib.util.find_spec("tesserocr") is not None
            and tessdata_path(settings.tessdata) is not None
        )
        self.timeouts = 0  # counts only: what the bench and the status report

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                methods = multiprocessing.get_all_start_methods()
                ctx = multiprocessing.get_context(
                    "forkserver" if "forkserver" in methods else "spawn"
                )
                self._pool = cf.ProcessPoolExecutor(
                    max_workers=max(1, self.settings.workers), mp_context=ctx
                )
            return self._pool

    def _recycle(self, pool: cf.ProcessPoolExecutor) -> None:
        """Kill a pool's processes (one of them is stuck on a photo) and start afresh."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        # a pool another photo's timeout already shut down has ``_processes`` None: nothing
        # here may raise into the reading of a photo (the caller fails closed instead)
        try:
            procs = list((getattr(pool, "_processes", None) or {}).values())
        except Exception:  # noqa: BLE001 - a private attribute: best effort
            procs = []
        for proc in procs:
            with contextlib.suppress(Exception):  # already gone
                proc.kill()
        with contextlib.suppress(Exception):  # already shut down
            pool.shutdown(wait=False, cancel_futures=True)

    def _cached(self, digest: str) -> PhotoText | None:
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None:
                self._cache.move_to_end(digest)
            return hit

    def _keep(self, digest: str, result: PhotoText) -> None:
        if result.status is not PhotoStatus.READ:
            return
        with self._lock:
            self._cache[digest] = result
            self._cache.move_to_end(digest)
            while len(self._cache) > self.settings.cache:
                self._cache.popitem(last=False)

    def read_now(self, data: bytes) -> PhotoText:
        """Blocking: for the CLI and the bench (never on the event loop)."""
        if not self.available:
            self.observe("ocr_unavailable", None)
            return PhotoText(status=PhotoStatus.FAILED, code="ocr_unavailable")
        digest = hashlib.sha256(data).hexdigest()
        hit = self._cached(digest)
        if hit is not None:
            self.observe("cached", None)
            return hit
        started = time.monotonic()
        try:
            result = self._read(data, digest)
        except Exception as exc:  # noqa: BLE001 - any failure: the photo is not read (withheld)
            log.warning("ocr_error", sha256=digest[:16], error=type(exc).__name__)
            result = PhotoText(status=PhotoStatus.FAILED, code="ocr_error")
        self.observe(result.code or "read", time.monotonic() - started)
        return result

    def _read(self, data: bytes, digest: str) -> PhotoText:
        for _attempt in range(2):
            pool = self._executor()
            try:
                future = pool.submit(read_photo, data, self.settings.tessdata)
            except (RuntimeError, cf.process.BrokenProcessPool):
                self._recycle(pool)  # shut down by another photo's timeout: a fresh pool
                continue
            try:
                result = future.result(timeout=self.settings.budget)
            except cf.TimeoutError:
                self.timeouts += 1
                log.warning("ocr_timeout", sha256=digest[:16], budget=self.settings.budget)
                self._recycle(pool)
                return PhotoText(status=PhotoStatus.FAILED, code="ocr_timeout")
            except (cf.process.BrokenProcessPool, cf.CancelledError):
                self._recycle(pool)  # another photo's timeout killed it: once more
                continue
            except Exception as exc:  # noqa: BLE001 - any engine failure withholds the photo
                log.warning("ocr_error", sha256=digest[:16], error=type(exc).__name__)
                return PhotoText(status=PhotoStatus.FAILED, code="ocr_error")
            self._keep(digest, result)
            return result
        return PhotoText(status=PhotoStatus.FAILED, code="ocr_error")

    async def read(self, data: bytes) -> PhotoText:
        """The text in ``data``, read off the event loop (a thread waits on the pool)."""
        return await asyncio.to_thread(self.read_now, data)

    async def blackout(self, data: bytes, boxes: tuple[Box, ...]) -> tuple[bytes, str]:
        """``data`` with ``boxes`` painted black, re-encoded (off the loop)."""
        return await asyncio.to_thread(blackout, data, boxes)

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker processes (``wait=False``: killed, as a crash would)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        if wait:
            pool.shutdown(wait=True, cancel_futures=True)
        else:
            self._recycle(pool)
