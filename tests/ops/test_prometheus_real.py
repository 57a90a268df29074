"""The real Prometheus scrapes two real relays' admin listeners while a BOLO flows CT -> MA.

Two relays start from ``relay.yaml`` (mutual TLS on loopback, admin listeners on port 0);
``prometheus`` (Debian's package, installed by ``.ci/run``) starts on a free loopback port with
a 1 s scrape interval and the rules of ``deploy/prometheus/alerts.yml``. Everything is
asserted through Prometheus' HTTP query API, the way an agency's dashboards and alerts see it.

CT also shares with RI, whose relay is down: CT's outbox holds RI's copy, and the backlog shows
as ``relay_queue_depth`` and ``relay_queue_oldest_age_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import trustme
import yaml

from relay.app import RunningRelay, start_relay
from relay.config import read_config
from relay.flow.inbound import Delivery
from tests.helpers import (
    ADMIN,
    CT,
    MA,
    NOWHERE,
    bolo_event,
    publish_and_drain,
    relay_config,
    write_config,
    write_policy,
    write_relay,
)
from tests.ops.promql import DEPLOY, require_binary

RI = "RI9990400"
WAIT: Final = 15.0  # seconds for any one condition to show in Prometheus (scrapes every 1 s)
POLL: Final = 0.2

Result = list[dict[str, Any]]


# -- relays -----------------------------------------------------------------------------------
def _free_port() -> int:
    """A port free a moment ago: bind port 0, read it, close. Another process may take it
    before our child binds it (a tiny race); the caller retries once on a bind failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def relays(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunningRelay, RunningRelay, asyncio.Queue[Delivery]]]:
    """CT and MA running; CT's third partner RI is down (its port refuses connections)."""
    ca = trustme.CA()
    ct, ma, ri = (write_relay(tmp_path, o, ca) for o in (CT, MA, RI))
    bolo = {"share": "[bolo]", "accept": "[bolo]"}
    write_policy(ct, CT, [{"ori": MA, **bolo}, {"ori": RI, **bolo}])
    write_policy(ma, MA, [{"ori": CT, **bolo}])
    ma_yaml = write_config(ma, relay_config(ma, [(ct, NOWHERE)], **ADMIN))
    started: list[RunningRelay] = []
    try:
        delivered: asyncio.Queue[Delivery] = asyncio.Queue()
        ma_relay = await start_relay(read_config(ma_yaml), deliver=delivered.put)
        started.append(ma_relay)
        down = f"https://127.0.0.1:{_free_port()}"
        partners = [(ma, ma_relay.url), (ri, down)]
        ct_relay = await start_relay(
            read_config(write_config(ct, relay_config(ct, partners, **ADMIN)))
        )
        started.append(ct_relay)
        yield ct_relay, ma_relay, delivered
    finally:
        for running in reversed(started):
            await running.stop()


# -- prometheus -------------------------------------------------------------------------------
def _prometheus_yml(targets: dict[str, str]) -> str:
    doc = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "relay",
                "static_configs": [
                    {"targets": [address], "labels": {"relay": ori}}
                    for ori, address in targets.items()
                ],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


async def _ready(
    session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process
) -> bool:
    """Until /-/ready answers 200 (True) or the process exits (False: the port was taken)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        if proc.returncode is not None:
            return False
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{base}/-/ready") as response:
                if response.status == 200:
                    return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), POLL)
    pytest.fail(f"prometheus at {base} not ready within {WAIT}s")


@pytest.fixture
def prometheus_binary() -> str:
    """Asked for before the relays: without prometheus the test fails at once, saying why."""
    return require_binary("prometheus")


@contextlib.asynccontextmanager
async def _prometheus(
    binary: str, tmp: Path, targets: dict[str, str], session: aiohttp.ClientSession
) -> AsyncIterator[str]:
    """Run prometheus on a free loopback port; yields its base URL; always stopped."""
    config = tmp / "prometheus.yml"
    config.write_text(_prometheus_yml(targets))
    log = tmp / "prometheus.log"
    for attempt in range(3):  # a port taken between _free_port() and prometheus' bind
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / f'tsdb-{attempt}'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        try:
            if await _ready(session, base, proc):
                yield base
                return
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
    pytest.fail(f"prometheus did not start; its log:\n{log.read_text()[-3000:]}")


async def _query(session: aiohttp.ClientSession, base: str, promql: str) -> Result:
    async with session.get(f"{base}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result: Result = body["data"]["result"]
    return result


async def _until(
    session: aiohttp.ClientSession,
    base: str,
    promql: str,
    ok: Callable[[Result], bool],
    what: str,
) -> Result:
    """Poll the query API until ``ok`` (Prometheus scrapes on its own clock), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        result = await _query(session, base, promql)
        if ok(result):
            return result
        if loop.time() > deadline:
            pytest.fail(f"{what}: `{promql}` still {result} after {WAIT}s")
        await asyncio.sleep(POLL)


def _value(result: Result) -> float:
    return float(result[0]["value"][1]) if result else 0.0


# -- the test ---------------------------------------------------------------------------------
async def test_prometheus_scrapes_relays_and_sees_the_flow(
    prometheus_binary: str,
    relays: tuple[RunningRelay, RunningRelay, asyncio.Queue[Delivery]],
    tmp_path: Path,
) -> None:
    ct, ma, delivered = relays
    targets = {}
    for running in (ct, ma):
        assert running.admin_url, "admin: in relay.yaml starts the admin listener"
        targets[running.config.agency] = running.admin_url.removeprefix("http://")
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        _prometheus(prometheus_binary, tmp_path, targets, session) as prom,
    ):
        # Both targets up, both relays' build info scraped.
        await _until(
            session,
            prom,
            'up{job="relay"} == 1',
            lambda r: {s["metric"]["relay"] for s in r} == {CT, MA},
            "both relays up",
        )
        info = await _until(
            session, prom, "relay_build_info", lambda r: len(r) == 2, "relay_build_info"
        )
        assert {s["metric"]["relay"] for s in info} == {CT, MA}
        assert all(s["metric"]["version"] for s in info)

        sent_q = f'sum(relay_envelopes_sent_total{{relay="{CT}", partner="{MA}"}})'
        received_q = (
            f'sum(relay_envelopes_received_total{{relay="{MA}", partner="{CT}", topic="bolo"}})'
        )
        sent_before = _value(await _query(session, prom, sent_q))
        received_before = _value(await _query(session, prom, received_q))

        # A BOLO from CT's Slack: delivered to MA, and queued for RI (down).
        await publish_and_drain(ct, ma, bolo_event("7.1"))
        assert delivered.get_nowait().envelope.issuer == CT

        sent = await _until(
            session, prom, sent_q, lambda r: _value(r) > sent_before, "CT's sent counter"
        )
        assert _value(sent) == sent_before + 1
        received = await _until(
            session,
            prom,
            received_q,
            lambda r: _value(r) > received_before,
            "MA's received counter",
        )
        assert _value(received) == received_before + 1

        # Decisions on both sides, by direction, partner, topic and action.
        decisions = await _until(
            session,
            prom,
            f'relay_decisions_total{{topic="bolo", partner=~"{MA}|{RI}|{CT}"}}',
            lambda r: (
                {(s["metric"]["relay"], s["metric"]["partner"]) for s in r}
                >= {(CT, MA), (CT, RI), (MA, CT)}
            ),
            "decisions",
        )
        assert all(s["metric"]["action"] for s in decisions)

        # RI's copy waits in CT's outbox: the queue gauges (refreshed from the store at each
        # scrape) show it, with its age.
        await _until(
            session,
            prom,
            f'relay_queue_depth{{relay="{CT}", queue="outbox", partner="{RI}", '
            'state="pending"} == 1',
            lambda r: len(r) == 1,
            "CT's outbox backlog for RI",
        )
        await _until(
            session,
            prom,
            f'relay_queue_oldest_age_seconds{{relay="{CT}", queue="outbox", partner="{RI}"}}',
            lambda r: len(r) == 1,
            "the age of CT's backlog for RI",
        )
        await _until(
            session,
            prom,
            f'sum(relay_envelope_send_failures_total{{relay="{CT}", partner="{RI}"}})',
            lambda r: _value(r) >= 1,
            "CT's failed attempts to RI",
        )

        # The shipped alert rules load and evaluate against live relays without errors, and
        # nothing critical fires for two healthy relays.
        async with session.get(f"{prom}/api/v1/rules") as response:
            rules = (await response.json())["data"]["groups"]
        loaded = [rule for group in rules for rule in group["rules"]]
        assert len(loaded) >= 8
        assert [r["name"] for r in loaded if r.get("health") == "err"] == []
        firing = await _query(session, prom, 'ALERTS{severity="critical"}')
        assert firing == []
