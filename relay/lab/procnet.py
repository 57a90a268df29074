"""The loopback network of :mod:`relay.lab.network` with every relay a ``relay run`` process
of its own, as production runs it: its memory, file descriptors and crashes its own
(``relay bench soak`` reads them per relay). The same ``relay.yaml`` files, emulator and
fault proxies; one instance per agency, always behind its proxies, so a restarted relay is
reached where the last one was."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

from relay.core.policy.model import Policy
from relay.lab.network import Agency, Network, NetworkOptions
from relay.lab.relayproc import RelayProcess

__all__ = ["ProcessNetwork"]


class ProcessNetwork(Network):
    """``async with ProcessNetwork(tmp, agencies, options) as net``: ``net.procs[ori]`` is
    each agency's relay process (``net.nodes`` and ``net.instances`` stay empty: there is no
    relay in this process). :meth:`kill` is a SIGKILL, :meth:`restart` a new process on the
    same store and ports. Each relay's log is ``DIR/<ORI>/relay.log``."""

    def __init__(self, directory: Path, agencies: list[Agency], options: NetworkOptions) -> None:
        if options.instances != 1 or not options.proxies:
            raise ValueError("a process network runs one instance per agency, behind proxies")
        super().__init__(directory, agencies, options)
        self.procs: dict[str, RelayProcess] = {}
        self.restarts: dict[str, int] = {a.ori: 0 for a in agencies}
        self.start_failures: list[str] = []  # restarts that did not start, and why

    async def __aenter__(self) -> ProcessNetwork:
        try:
            await self._open()
            for agency in self.agencies:
                await self._spawn(agency.ori)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _spawn(self, ori: str) -> None:
        assert self.emu is not None  # noqa: S101 - started first
        home = self.dir / ori
        proc = await RelayProcess.start(home / "relay.yaml", log=home / "relay.log")
        self.procs[ori] = proc
        host, _, port = proc.url.removeprefix("https://").rpartition(":")
        self.fed_proxy[ori].retarget(host, int(port))
        if proc.slack_url is not None:
            self.emu.set_event_url(self.agency(ori).team, proc.slack_url)

    def policies(self) -> dict[str, Policy]:
        from relay.commands.policy import read_policy

        today = dt.datetime.now(dt.UTC).date()
        return {o: read_policy(str(c.policy), today) for o, c in self.configs.items()}

    async def kill(self, ori: str, index: int = 0) -> None:
        proc = self.procs.pop(ori, None)
        if proc is not None:
            await proc.kill()

    async def restart(self, ori: str, index: int = 0) -> float:
        """A new process; one that does not start is noted (:attr:`start_failures`) and
        tried again, twice at most, a second later."""
        started = time.monotonic()
        await self.kill(ori)
        for attempt in range(3):
            try:
                await self._spawn(ori)
                break
            except RuntimeError as exc:
                self.start_failures.append(f"{ori}: {exc}")
                if attempt == 2:
                    raise
                await asyncio.sleep(1.0)
        self.restarts[ori] += 1
        return time.monotonic() - started

    def alive(self, ori: str) -> bool:
        """Started by the lab and still running (not killed, not exited on its own)."""
        proc = self.procs.get(ori)
        return proc is not None and proc.proc.poll() is None

    def exited(self) -> dict[str, int]:
        """The relays that exited on their own (the lab did not kill them): ORI -> exit code
        (negative: the signal that ended it)."""
        return {
            ori: code for ori, proc in self.procs.items() if (code := proc.proc.poll()) is not None
        }

    async def __aexit__(self, *exc: object) -> None:
        for ori in list(self.procs):
            await self.procs.pop(ori).stop()
        await super().__aexit__(*exc)
