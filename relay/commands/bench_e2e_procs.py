"""The two relays ``relay bench e2e`` drives: real ``relay run`` processes from generated
``relay.yaml`` files (mutual TLS with a throwaway CA, keys generated for the run), their
stores (SQLite files, or a fresh PostgreSQL schema per agency, dropped after) and what the
bench reads from them."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from relay.commands.demo import agencies

if TYPE_CHECKING:
    from relay.lab.emulator import Emulator
    from relay.lab.relayproc import RelayProcess

__all__ = ["accepted", "relays", "store_urls"]

_BASELINE = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"


@contextlib.asynccontextmanager
async def relays(
    emu: Emulator, tmp: Path, stores: dict[str, str], instances: int
) -> AsyncIterator[dict[str, list[RelayProcess]]]:
    import datetime as dt

    from relay.lab.labinit import LabAgency, lab_policy
    from relay.lab.pki import ThrowawayCA
    from relay.lab.ports import free_ports
    from relay.lab.relayproc import RelayProcess
    from relay.lab.relayyaml import Delivery, Listen, Slack, throwaway_tls, write_material

    ct, ma = agencies()[:2]
    ca = ThrowawayCA(tmp / "pki")
    material = {
        a.ori: write_material(tmp / a.ori, a.ori, f"{a.ori}#bench", throwaway_tls(ca, a.ori))
        for a in (ct, ma)
    }
    start, end = dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    # Each agency's policy: the baseline's rules, the other its one partner (one message, one
    # envelope each way: what is measured is the relay, not envelopes to absent partners).
    pair = [LabAgency(a.ori, a.name, ()) for a in (ct, ma)]
    baseline = _BASELINE
    policies = {}
    for lab_agency in pair:
        policies[lab_agency.ori] = tmp / lab_agency.ori / "policy.yaml"
        policies[lab_agency.ori].write_text(
            lab_policy(lab_agency, pair, dt.date.today(), extends=str(baseline))
        )
    procs: dict[str, list[RelayProcess]] = {ct.ori: [], ma.ori: []}
    # Each agency's first instance listens where the other's relay.yaml says (either side
    # sends: the partner's officer replies in threads); further instances on any port.
    ports = dict(zip((ct.ori, ma.ori), free_ports(2), strict=True))
    try:
        for agency, partner in ((ma, ct), (ct, ma)):
            partner_url = f"https://127.0.0.1:{ports[partner.ori]}"
            config = material[agency.ori].config(
                policy=policies[agency.ori],
                store=stores[agency.ori],
                delivery=Delivery(
                    lease_seconds=10, poll_seconds=0.2, batch=128, stop_timeout_seconds=5
                ),
                rate_limit=(100000, 100000),
                partners=[material[partner.ori].partner(partner_url, start, end)],
                slack=Slack(
                    team_id=agency.team,
                    api_url=emu.api_url,
                    bot_token_env="BENCH_BOT_TOKEN",  # noqa: S106 - a variable's name
                    signing_secret_env="BENCH_SIGNING_SECRET",  # noqa: S106
                    listen=Listen("127.0.0.1", 0),
                    pacing=False,
                    catch_up_seconds=5,
                    channels={agency.channel("bolo"): "bolo"},
                ),
            )
            ws = emu.workspace(agency.team)
            env = {"BENCH_BOT_TOKEN": ws.bot_token, "BENCH_SIGNING_SECRET": ws.signing_secret}
            for i in range(instances):
                listen = Listen("127.0.0.1", ports[agency.ori] if i == 0 else 0)
                path = dataclasses.replace(config, listen=listen).write(
                    tmp / agency.ori / f"relay-{i}.yaml"
                )
                procs[agency.ori].append(await RelayProcess.start(path, env))
            emu.set_event_url(agency.team, str(procs[agency.ori][0].started["slack_events"]))
        yield procs
    finally:
        for p in (p for ps in procs.values() for p in ps):
            p.proc.terminate()
        for p in (p for ps in procs.values() for p in ps):
            await p.stop()


def accepted(store: str, ids: set[str]) -> dict[str, float]:
    """When the partner relay committed each envelope (its inbound queue's created_at)."""
    query = "SELECT envelope_id, created_at FROM inbound"
    if store.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(store.removeprefix("sqlite:///"))) as db:
            rows = db.execute(query).fetchall()
    else:
        import psycopg

        with psycopg.connect(store) as db:
            rows = db.execute(query).fetchall()
    return {str(e): float(t) for e, t in rows if e in ids}


@contextlib.contextmanager
def store_urls(backend: str, tmp: Path, pg_url: str) -> Iterator[dict[str, str]]:
    ct, ma = agencies()[:2]
    if backend == "sqlite":
        yield {a.ori: f"sqlite:///{tmp / f'{a.ori}.db'}" for a in (ct, ma)}
        return
    import psycopg
    from psycopg import sql as pgsql

    tag = secrets.token_hex(4)
    schemas = {a.ori: f"bench_{tag}_{a.ori.lower()}" for a in (ct, ma)}
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for schema in schemas.values():
            admin.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    try:
        sep = "&" if "?" in pg_url else "?"
        yield {o: f"{pg_url}{sep}options=-csearch_path%3D{s}" for o, s in schemas.items()}
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for schema in schemas.values():
                admin.execute(
                    pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
                )
