"""One ``relay run`` process of the lab's tools (``relay bench e2e``, ``relay bench soak``):
started from a ``relay.yaml``, ready once it printed its ``relay_started`` line, and what the
benches read of it from ``/proc`` (resident memory, open file descriptors, CPU time)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["RelayProcess", "die_with_parent"]

READY_TIMEOUT = 90.0  # seconds for a relay to start (cold imports on a busy machine)


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the relay gets SIGTERM if the tool that started it dies without stopping it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _last_line(log: Path) -> str:
    """The log's last line (the relay's stderr: JSON log lines and its one-line errors,
    which carry codes and ids, never message text), for a relay that did not start."""
    with contextlib.suppress(OSError):
        lines = log.read_text(errors="replace").strip().splitlines()
        return lines[-1][:500] if lines else ""
    return ""


@dataclass
class RelayProcess:
    proc: subprocess.Popen[str]
    started: dict[str, Any] = field(default_factory=dict)  # its relay_started line
    log: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    async def start(
        cls, config: Path, env: dict[str, str] | None = None, log: Path | None = None
    ) -> RelayProcess:
        """``relay run --config config``, its stderr appended to ``log`` (else dropped, or
        shown when ``RELAY_BENCH_DEBUG`` is set); returns once it printed relay_started."""
        out = log.open("ab") if log is not None else None
        debug = out is None and os.environ.get("RELAY_BENCH_DEBUG")
        proc = subprocess.Popen(  # noqa: S603, ASYNC220 - our own CLI, fixed arguments; quick
            [sys.executable, "-m", "relay", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=out or (subprocess.PIPE if debug else subprocess.DEVNULL),
            text=True,
            env={**os.environ, **(env or {})},
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        relay = cls(proc, log=out)
        assert proc.stdout is not None  # noqa: S101
        try:
            line = await asyncio.wait_for(
                asyncio.to_thread(proc.stdout.readline), timeout=READY_TIMEOUT
            )
        except TimeoutError:
            await relay.kill()
            raise RuntimeError("relay not ready in time") from None
        if not line:
            if proc.stderr is not None:
                print(proc.stderr.read(), file=sys.stderr)
            await relay.kill()
            last = _last_line(log) if log is not None else ""
            raise RuntimeError(f"relay did not start (exit {proc.poll()}): {last}")
        relay.started = json.loads(line)
        return relay

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return str(self.started["federation"])

    @property
    def slack_url(self) -> str | None:
        url = self.started.get("slack_events")
        return None if url is None else str(url)

    def rss_kib(self) -> int | None:
        """Resident memory (VmRSS), or None once it has exited."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def rss_mib(self) -> float:
        kib = self.rss_kib()
        return float("nan") if kib is None else kib / 1024

    def fds(self) -> int | None:
        """Open file descriptors, or None once it has exited."""
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    async def kill(self) -> None:
        """SIGKILL, as a crash: nothing flushed beyond what the store committed."""
        self.proc.kill()
        await asyncio.to_thread(self.proc.wait)
        self._close()

    async def stop(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """SIGTERM; SIGKILL after ``timeout`` seconds. The exit code."""
        self.proc.terminate()
        try:
            code = await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = await asyncio.to_thread(self.proc.wait)
        self._close()
        return code

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.log is not None:
            self.log.close()
