"""`relay bench flood [--flood N] [--genuine N] [--concurrency C]`: what a flood of refused
requests costs a genuine partner.

One relay (Millbrook) is started from its own ``relay.yaml`` with ``start_relay``, its
federation listener on 127.0.0.1 with mutual TLS from a throwaway CA. A genuine partner
(Havenport, pinned) posts signed envelopes one at a time, first alone, then while another
process sends ``--flood`` requests (``--concurrency`` at a time) with a certificate from the
same CA that nobody pinned. Printed: the genuine partner's p50/p99 latency with and without
the flood, the flood's answers, and what the flood wrote (ledger records, refusal rows and
windows). Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
import ssl
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from relay.core.envelope import Author, EnvelopeId, EnvelopeKind, build_envelope, sign_origin
from relay.core.model import AgencyId

__all__ = ["add_parser", "run_flood"]

MA, CT = "MA9990200", "CT9990100"
_POLICY = """agency: {{ori: {ori}, name: Agency {ori}, state: {state}}}
topics: [bolo]
partners:
  - ori: {partner}
    name: Partner {partner}
    kind: law_enforcement
    agreement: {{id: IEA-BENCH, expires: 2099-01-01}}
    share: [bolo]
    accept: [bolo]
    redisseminate: false
patterns:
  secret:
    case_sensitive: true
    regex: ['^SECRET']
detectors:
  - id: classified.marking
    action: block
    stage: whole_message
    when: [secret]
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def _flood(url: str, ctx: ssl.SSLContext, count: int, concurrency: int) -> dict[str, Any]:
    """``count`` POSTs, ``concurrency`` at a time: the answers by status, and the time."""
    statuses: Counter[int] = Counter()
    left = iter(range(count))
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            for _ in left:
                try:
                    async with s.post(url, data=b'{"payload":"x"}', ssl=ctx) as resp:
                        await resp.read()
                        statuses[resp.status] += 1
                except aiohttp.ClientError:
                    statuses[0] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"seconds": time.perf_counter() - start, "statuses": dict(statuses)}


def _flood_main() -> None:
    """The flooding process: argv url cert key ca count concurrency; one JSON line out."""
    url, cert, key, ca, count, concurrency = sys.argv[1:7]
    ctx = _context(Path(cert), Path(key), Path(ca))
    print(json.dumps(asyncio.run(_flood(url, ctx, int(count), int(concurrency)))))


async def _genuine(
    session: aiohttp.ClientSession, url: str, ctx: ssl.SSLContext, key: Any, kid: str
) -> float:
    """One signed envelope posted; its latency (seconds)."""
    now = dt.datetime.now(dt.UTC)
    unsigned = build_envelope(
        issuer=AgencyId(CT),
        audience=AgencyId(MA),
        onward=False,
        envelope_id=EnvelopeId(secrets.token_hex(8)),
        issued_at=now,
        expires_at=now + dt.timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name="Det. Bench", agency=AgencyId(CT)),
        lines=["BOLO: white van, CT reg 1AB234"],
        salts=[secrets.token_urlsafe(16)],
    )
    body = json.dumps(sign_origin(unsigned, key=key, kid=kid).to_wire()).encode()
    t0 = time.perf_counter()
    async with session.post(
        url, data=body, ssl=ctx, headers={"Content-Type": "application/json"}
    ) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"genuine envelope refused ({resp.status})")
    return time.perf_counter() - t0


def _refusals_written(store: Any) -> dict[str, int]:
    records = [c.record for c in store.audit_rows() if c.record.event == "refusal"]
    return {
        "ledger_refusal_records": len(records),
        "refusal_rows": len(store.refusals()),
        "refusal_windows": len(store.refusal_windows(limit=1000)),
    }


async def run_flood(home: Path, *, flood: int, genuine: int, concurrency: int) -> dict[str, Any]:
    """Stand the relay up in ``home``, measure, stop it; the figures."""
    from relay.app import start_relay  # the lab's tools: loaded only for the bench
    from relay.config import read_config
    from relay.lab.pki import ThrowawayCA
    from relay.lab.relayyaml import Listen, throwaway_tls, write_material

    ca = ThrowawayCA(home / "ca")
    ma = write_material(home / "ma", MA, f"{MA}#bench", throwaway_tls(ca, "ma"))
    ct = write_material(home / "ct", CT, f"{CT}#bench", throwaway_tls(ca, "ct"))
    intruder = ca.issue("intruder")  # the partners' CA; pinned by nobody
    (ma.dir / "policy.yaml").write_text(_POLICY.format(ori=MA, state="MA", partner=CT))
    now = dt.datetime.now(dt.UTC)
    link = ct.partner("https://127.0.0.1:9", now - dt.timedelta(days=1), now + dt.timedelta(30))
    path = ma.config(
        policy="policy.yaml",
        store=f"sqlite:///{ma.dir / 'relay.db'}",
        listen=Listen("127.0.0.1", 0),
        rate_limit=(1000.0, 1000),  # the genuine partner is never limited here
        partners=[link],
        logging=("json", "warning"),
    ).write(ma.dir / "relay.yaml")
    delivered: asyncio.Queue[object] = asyncio.Queue()
    relay = await start_relay(read_config(path), deliver=delivered.put)
    url = f"{relay.url}/v1/envelopes"
    good = _context(ct.dir / ct.cert, ct.dir / ct.tls_key, ct.dir / ct.ca)
    out: dict[str, Any] = {"flood": flood, "concurrency": concurrency}
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(20):  # warm up
                await _genuine(session, url, good, ct.key, ct.kid)
            alone = [await _genuine(session, url, good, ct.key, ct.kid) for _ in range(genuine)]
            before = await relay.parts.aio.run(_refusals_written, relay.store)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from relay.commands.bench_flood import _flood_main; _flood_main()",
                url,
                str(intruder.cert),
                str(intruder.key),
                str(ca.ca_path),
                str(flood),
                str(concurrency),
                stdout=asyncio.subprocess.PIPE,
            )
            waiting = asyncio.ensure_future(proc.communicate())
            await asyncio.sleep(0.3)  # the flooder's interpreter starts
            during: list[float] = []
            while len(during) < genuine or not waiting.done():
                during.append(await _genuine(session, url, good, ct.key, ct.kid))
            stdout, _ = await waiting
            result = json.loads(stdout.decode())
        await relay.drain()  # the batch of refusals written
        flushed = await relay.parts.aio.run(_refusals_written, relay.store)
    finally:
        await relay.stop()
    from relay.store.open import open_store

    store = open_store(f"sqlite:///{ma.dir / 'relay.db'}", base_dir=ma.dir)
    try:
        stopped = _refusals_written(store)
    finally:
        store.close()
    out.update(
        genuine_alone={"n": len(alone), "p50_ms": _pct(alone, 0.5) * 1e3},
        genuine_during_flood={"n": len(during), "p50_ms": _pct(during, 0.5) * 1e3},
        flood_answers=result["statuses"],
        flood_seconds=round(result["seconds"], 2),
        written_before_flood=before,
        written_after_flood=flushed,
        written_after_stop=stopped,
    )
    out["genuine_alone"]["p99_ms"] = _pct(alone, 0.99) * 1e3
    out["genuine_during_flood"]["p99_ms"] = _pct(during, 0.99) * 1e3
    return out


def _bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="relay-bench-flood-") as tmp:
        r = asyncio.run(
            run_flood(
                Path(tmp), flood=args.flood, genuine=args.genuine, concurrency=args.concurrency
            )
        )
    a, d = r["genuine_alone"], r["genuine_during_flood"]
    print(
        f"relay bench flood: {r['flood']} requests from an unpinned certificate "
        f"({r['concurrency']} at a time, {r['flood_seconds']} s), answers {r['flood_answers']}"
    )
    print(
        f"  genuine alone:        p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms (n={a['n']})"
    )
    print(
        f"  genuine during flood: p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms (n={d['n']})"
    )
    for when in ("before_flood", "after_flood", "after_stop"):
        print(f"  written {when.replace('_', ' ')}: {r[f'written_{when}']}")
    print(json.dumps(r))
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("flood", help="a genuine partner's latency under a refused flood")
    p.add_argument("--flood", type=int, default=2000, help="requests from an unpinned cert")
    p.add_argument("--genuine", type=int, default=200, help="genuine envelopes per phase")
    p.add_argument("--concurrency", type=int, default=50)
    p.set_defaults(func=_bench)
