"""The fault schedule of ``relay chaos``: seeded kills and restarts of relay instances, cut
federation links (refused, reset, black-holed), Slack calls cut after Slack acted, and bursts
of 429s and 500s from the Slack emulator. Each fault's end is noted against the number of
messages posted by then (for ``max_recovery_s``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the network (aiohttp, the emulator) loads only when chaos runs
    from relay.lab.network import Network

__all__ = ["Faults", "Tally"]

_FAILING = ("chat.postMessage", "chat.postMessage", "chat.update", "chat.delete")


@dataclass
class Tally:
    """Faults and when they ended, against the messages posted by then."""

    posted: list[tuple[float, str, str]] = field(default_factory=list)  # (at, origin, id)
    fault_ends: list[tuple[float, int]] = field(default_factory=list)  # (at, posted so far)
    arrived: dict[tuple[str, str], float] = field(default_factory=dict)  # (ws, id) -> at
    faults: Counter[str] = field(default_factory=Counter)


async def pause(seconds: float, stop: asyncio.Event | None = None) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass


class Faults:
    """``gap``: seconds between two faults (drawn uniformly); ``restartable``: the agencies
    whose relays may be killed and restarted (default: every agency)."""

    def __init__(
        self,
        net: Network,
        rng: random.Random,
        tally: Tally,
        *,
        gap: tuple[float, float] = (0.2, 0.8),
        restartable: Sequence[str] | None = None,
    ) -> None:
        self.net, self.rng, self.tally, self.gap = net, rng, tally, gap
        self.oris = [a.ori for a in net.agencies]
        self.restartable = list(restartable) if restartable is not None else self.oris

    async def run(self, stop: asyncio.Event) -> None:
        actions: list[Callable[[], Any]] = [
            self.kill_restart,
            self.cut_link,
            self.cut_slack,
            self.slack_errors,
        ]
        while not stop.is_set():
            await self.rng.choice(actions)()
            self.tally.fault_ends.append((time.monotonic(), len(self.tally.posted)))
            await pause(self.rng.uniform(*self.gap), stop)

    async def kill_restart(self) -> None:
        ori = self.rng.choice(self.restartable)
        index = self.rng.randrange(self.net.options.instances)
        self.tally.faults["kill_restart"] += 1
        await self.net.kill(ori, index)
        await pause(self.rng.uniform(0.3, 1.5))
        await self.net.restart(ori, index)

    async def cut_link(self) -> None:
        from relay.lab.faultproxy import Mode

        ori = self.rng.choice(self.oris)
        mode = self.rng.choice((Mode.REFUSE, Mode.RESET, Mode.DROP))
        self.tally.faults[f"link_{mode.value}"] += 1
        proxy = self.net.fed_proxy[ori]
        proxy.set_mode(mode)
        await proxy.cut_existing()
        await pause(self.rng.uniform(0.5, 2.0))
        proxy.set_mode(Mode.PASS)

    async def cut_slack(self) -> None:
        from relay.lab.faultproxy import Mode

        ori = self.rng.choice(self.oris)
        self.tally.faults["slack_cut_after_request"] += 1
        proxy = self.net.slack_proxy[ori]
        proxy.set_mode(Mode.CUT_AFTER_REQUEST)
        await pause(self.rng.uniform(0.2, 0.8))
        proxy.set_mode(Mode.PASS)

    async def slack_errors(self) -> None:
        assert self.net.emu is not None  # noqa: S101
        status = self.rng.choice((429, 500))
        method = self.rng.choice(_FAILING)
        self.tally.faults[f"slack_{status}"] += 1
        self.net.emu.fail_next(
            method,
            status=status,
            error="ratelimited" if status == 429 else "internal_error",
            times=self.rng.randint(3, 12),
            retry_after=1,
        )
        await pause(0.5)
