"""Two relays started from relay.yaml with admin listeners: health, readiness, status and
metrics over real HTTP, and audit checkpoints exchanged over the federation link."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from pathlib import Path

import aiohttp
import trustme
from prometheus_client.parser import text_string_to_metric_families

from relay.checkpointing import send_checkpoint
from relay.cli import main
from relay.core.audit import verify_checkpoint
from tests.helpers import (
    ADMIN,
    CT,
    MA,
    bolo_event,
    publish_and_drain,
    start_pair,
    write_policy,
    write_relay,
)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _cli(argv: list[str]) -> tuple[int, str]:
    """``relay ...`` in a worker thread (it runs its own event loop), its stdout."""
    out = io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out):
            return main(argv)

    code = await asyncio.to_thread(run)
    return code, out.getvalue()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as resp:
        return resp.status, await resp.text()


async def test_admin_endpoints_metrics_and_checkpoints(tmp_path: Path) -> None:
    ca = trustme.CA()
    ct, ma = write_relay(tmp_path, CT, ca), write_relay(tmp_path, MA, ca)
    for me, ori, peer in ((ct, CT, MA), (ma, MA, CT)):
        write_policy(me, ori, [{"ori": peer}])
    ct_relay, ma_relay, _ = await start_pair(ct, ma, ct_extra=ADMIN, ma_extra=ADMIN)
    try:
        assert ct_relay.admin_url is not None
        assert ct_relay.admin_url != ct_relay.url  # a listener of its own
        await publish_and_drain(ct_relay, ma_relay, bolo_event("3.1", user="U0OKAFOR01"))

        async with aiohttp.ClientSession() as http:
            base = ct_relay.admin_url
            assert await _get(http, f"{base}/healthz") == (200, '{"status": "alive"}')
            status, body = await _get(http, f"{base}/readyz")
            assert status == 200, body
            assert '"audit": true' in body
            status, body = await _get(http, f"{base}/metrics")
            assert status == 200
            samples = _samples(body)
            sent = {"partner": MA, "outcome": "accepted"}
            assert samples[("relay_envelopes_sent_total", frozenset(sent.items()))] == 1.0
            decided = {"direction": "outbound", "partner": MA, "topic": "bolo"}
            assert (
                samples[
                    ("relay_decisions_total", frozenset({**decided, "action": "forward"}.items()))
                ]
                == 1.0
            )
            assert samples[("relay_audit_chain_head", frozenset())] >= 3
            status, body = await _get(http, f"{base}/status")
            assert status == 200
            assert '"agency": "CT9990100"' in body
            status, body = await _get(http, f"{base}/nope")
            assert status == 404
            assert "not_found" in body

        await send_checkpoint(ct_relay.parts)  # signed by CT, kept by MA
        ma_ledger = ma_relay.ledger
        assert ma_ledger is not None
        [token] = ma_ledger.kept_tokens(CT)
        kept = verify_checkpoint(
            token, ma_relay.parts.inbound.keyring, ct_relay.parts.inbound.clock()
        )
        assert kept.agency == CT
        assert ct_relay.ledger is not None
        assert ct_relay.ledger.head is not None
        assert kept.seq >= 1
        sent = ct_relay.metrics.checkpoints.labels("sent", MA, "stored")._value.get()
        assert sent == 1
        got = ma_relay.metrics.checkpoints.labels("received", CT, "stored")._value.get()
        assert got == 1
        events = [r.record.event for r in ma_relay.store.audit_rows()]
        assert "checkpoint_received" in events
        assert events[:1] == ["policy_change"]  # every start records the policy in force

        # CT's verify, holding its chain against what MA keeps of it: fine as it stands...
        ct_yaml = str(ct.dir / "relay.yaml")
        code, out = await _cli(["audit", "verify", "--config", ct_yaml, "--fetch"])
        assert code == 0, out
        assert out.startswith("ok: ")
        # ...then someone cuts CT's history short and removes CT's own checkpoints: alone the
        # chain still looks whole, but not against the checkpoint MA keeps.
        with sqlite3.connect(ct.dir / "relay.db") as db:
            keep = kept.seq - 2
            (cut,) = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (keep,)).fetchone()
            db.execute("DELETE FROM audit_log WHERE seq > ?", (keep,))
            db.execute("UPDATE audit_head SET seq = ?, hash = ?", (keep, cut))
            db.execute("DELETE FROM audit_checkpoints WHERE issuer = ?", (CT,))
        code, out = await _cli(["audit", "verify", "--config", ct_yaml, "--fetch"])
        assert code == 1
        assert out.startswith("broken: record ")
    finally:
        await ct_relay.stop()
        await ma_relay.stop()
