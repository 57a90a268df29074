"""``relay lab up DIR``: the Slack emulator (in this process) and one ``relay run`` process per
agency of a lab written by ``relay lab init``, until SIGTERM.

stdout holds only the contract lines (``docs/lab.md``): the emulator's line, then one line per
agency once its relay accepts connections and the emulator's signed ``url_verification`` to its
Events API URL is answered. Each relay's stdout and stderr go to ``DIR/<ORI>/relay.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from relay.config import ConfigLoadError, RelayConfig, read_config
from relay.lab.emulator import Emulator
from relay.lab.relayproc import die_with_parent
from relay.lab.workspaces import WorkspacesError, emulator_line, read_workspaces

__all__ = ["LabUpError", "run_lab"]

READY_TIMEOUT: Final = 90.0  # seconds for a relay to start (cold imports on a busy machine)
STOP_TIMEOUT: Final = 30.0  # seconds a relay gets after SIGTERM before it is killed


class LabUpError(Exception):
    """One line for stderr; ``code`` 2 (bad lab, port taken) or 1 (a relay failed)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Relay:
    config: RelayConfig
    home: Path
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def ori(self) -> str:
        return self.config.agency

    def line(self) -> dict[str, Any]:
        fed, slack, admin = self.config.federation, self.config.slack, self.config.admin
        return {
            "agency": self.ori,
            "federation": f"https://{fed.host}:{fed.port}",
            "slack_events": f"http://{slack.host}:{slack.port}/slack/events" if slack else None,
            "admin": f"http://{admin.host}:{admin.port}" if admin else None,
            "team": slack.team_id if slack else None,
            "dir": str(self.home),
        }


def load_lab(directory: Path) -> tuple[Path, list[_Relay]]:
    """The lab's workspaces file and its agencies (every ``DIR/*/relay.yaml``, by name)."""
    if not directory.is_dir():
        raise LabUpError(f"relay lab up: {directory} is not a directory")
    workspaces = directory / "emulator.json"
    if not workspaces.is_file():
        raise LabUpError(
            f"relay lab up: {directory} is not a lab (no emulator.json; "
            f"make one with relay lab init {directory})"
        )
    relays = []
    for path in sorted(directory.glob("*/relay.yaml")):
        try:
            config = read_config(path)
        except ConfigLoadError as exc:
            raise LabUpError(exc.lines()[0]) from None
        relays.append(_Relay(config=config, home=path.parent.resolve()))
    if not relays:
        raise LabUpError(f"relay lab up: no agency in {directory} (no */relay.yaml)")
    return workspaces, relays


def _listeners(relay: _Relay) -> list[tuple[str, str, int]]:
    c = relay.config
    out = [("federation", c.federation.host, c.federation.port)]
    if c.slack is not None and c.slack.mode == "events":
        out.append(("slack events", c.slack.host, c.slack.port))
    if c.admin is not None:
        out.append(("admin", c.admin.host, c.admin.port))
    return [(f"{relay.ori} {what}", host, port) for what, host, port in out]


def check_ports(wanted: list[tuple[str, str, int]]) -> None:
    """Every fixed port free (as aiohttp binds: SO_REUSEADDR), else which one is taken."""
    for what, host, port in wanted:
        if port == 0:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                why = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise LabUpError(
                    f"relay lab up: port {port} ({what}, {host}) is {why}; "
                    "stop what holds it or make a new lab with relay lab init"
                ) from None


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _await_ready(emu: Emulator, relay: _Relay, stop: asyncio.Event) -> bool:
    """True once the relay accepts connections and answers the emulator's url_verification;
    False if asked to stop. Raises LabUpError if it exits or does not get ready in time."""
    assert relay.proc is not None  # noqa: S101 - started first
    deadline = time.monotonic() + READY_TIMEOUT
    fed, slack = relay.config.federation, relay.config.slack
    while time.monotonic() < deadline:
        if stop.is_set():
            return False
        code = relay.proc.poll()
        if code is not None:
            raise LabUpError(
                f"relay lab up: {relay.ori}: relay exited with code {code} "
                f"(see {relay.home / 'relay.log'})",
                code=1,
            )
        if await _accepts(fed.host, fed.port) and (
            slack is None or await emu.verify_event_url(slack.team_id)
        ):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    raise LabUpError(
        f"relay lab up: {relay.ori}: relay not ready within {READY_TIMEOUT:.0f} s "
        f"(see {relay.home / 'relay.log'})",
        code=1,
    )


def _start(relay: _Relay) -> None:
    relay.log = (relay.home / "relay.log").open("ab")
    relay.proc = subprocess.Popen(
        [sys.executable, "-m", "relay", "run", "--config", "relay.yaml"],
        cwd=relay.home,
        stdin=subprocess.DEVNULL,
        stdout=relay.log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


async def _stop_all(relays: list[_Relay]) -> bool:
    """SIGTERM to every relay, wait, kill what outlives STOP_TIMEOUT. True if all exited 0."""
    clean = True
    running = [r for r in relays if r.proc is not None and r.proc.poll() is None]
    for r in relays:  # one that exited by itself is reported by the caller
        if r.proc is not None and r.proc.poll() is not None and r.log is not None:
            r.log.close()
    for r in running:
        assert r.proc is not None  # noqa: S101
        r.proc.terminate()
    for r in running:
        assert r.proc is not None  # noqa: S101
        try:
            code = await asyncio.to_thread(r.proc.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            r.proc.kill()
            await asyncio.to_thread(r.proc.wait)
            print(f"relay lab up: {r.ori}: killed after {STOP_TIMEOUT:.0f} s", file=sys.stderr)
            clean = False
            continue
        finally:
            if r.log is not None:
                r.log.close()
        if code != 0:
            print(
                f"relay lab up: {r.ori}: relay exited with code {code} "
                f"(see {r.home / 'relay.log'})",
                file=sys.stderr,
            )
            clean = False
    return clean


async def run_lab(directory: Path) -> int:
    """Run the lab until SIGTERM/SIGINT; the exit code (0 when everything stopped cleanly)."""
    workspaces_path, relays = load_lab(directory)
    try:
        loaded = read_workspaces(workspaces_path)
    except WorkspacesError as exc:
        raise LabUpError(f"relay lab up: {exc}") from None
    teams = {s.team_id for s in loaded.specs}
    for r in relays:
        if r.config.slack is not None and r.config.slack.team_id not in teams:
            raise LabUpError(
                f"relay lab up: {r.home / 'relay.yaml'}: slack.team_id "
                f"{r.config.slack.team_id} is not a workspace of {workspaces_path}"
            )
    host, port = loaded.host or "127.0.0.1", loaded.port or 0
    wanted = [("emulator", host, port)]
    for r in relays:
        wanted += _listeners(r)
    check_ports(wanted)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emu = Emulator(loaded.specs, host=host, port=port)
    try:
        await emu.start()
    except OSError as exc:
        await emu.close()
        raise LabUpError(
            f"relay lab up: port {port} (emulator, {host}) is "
            f"{'in use' if exc.errno == errno.EADDRINUSE else exc.strerror}"
        ) from None
    failure: LabUpError | None = None
    try:
        for r in relays:
            if r.config.slack is not None:
                emu.set_event_url(r.config.slack.team_id, r.line()["slack_events"])
        print(json.dumps(emulator_line(emu)), flush=True)
        for r in relays:
            _start(r)
        for r in relays:
            if not await _await_ready(emu, r, stop):
                break
            print(json.dumps(r.line()), flush=True)
        while not stop.is_set():
            for r in relays:
                code = r.proc.poll() if r.proc is not None else None
                if code is not None:
                    raise LabUpError(
                        f"relay lab up: {r.ori}: relay exited with code {code} "
                        f"(see {r.home / 'relay.log'})",
                        code=1,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    except LabUpError as exc:
        failure = exc
    finally:
        clean = await _stop_all(relays)
        await emu.close()
    if failure is not None:
        raise failure
    return 0 if clean else 1
