"""Per-call cost of the async store facade against calling the store directly.

    python scripts/bench_store_facade.py [--calls 2000] [--postgres DSN] [--no-postgres]

For lookup_post, get_blob, claim_outbox and claim_events on SQLite (a temporary file) and
PostgreSQL (a throwaway schema): the median microseconds per call made directly (blocking,
no event loop), through ``AsyncStore`` (loop -> its own pool thread -> loop), and through
``asyncio.to_thread`` (the loop's default executor). Then the same SELECT with psycopg's
synchronous and native async connections (what native async drivers would save), and calls
per second with 16 tasks in flight on pools of 1 and 4 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from relay.store.aio import AsyncStore
from relay.store.base import SqlStore
from relay.store.contract import OutboxItem
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SqliteStore

T0 = 1_800_000_000.0
AT = dt.datetime.fromtimestamp(T0, tz=dt.UTC)
BLOB = os.urandom(64 * 1024)


def _us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _seed(store: SqlStore) -> None:
    store.map_post(issuer="VA0000001", envelope_id="env-1", channel="C1", ts="1.0")
    store.put_blob(sha256="ab" * 32, mime="image/png", data=BLOB)
    item = OutboxItem(
        partner="MD0000002", envelope_id="e", order_key="e", body=b"{}", expires_at=T0 * 2
    )
    store.enqueue([item], now=T0)
    store.take_event(event_id="Ev1", team="T1", body=b"{}", at=AT)


class Clock:
    """A claim's ``now`` one second on per call: the same row is claimed again each time."""

    def __init__(self) -> None:
        self.now = T0

    def tick(self) -> float:
        self.now += 1.0
        return self.now


def _ops(store: SqlStore, clock: Clock) -> dict[str, Callable[[], object]]:
    return {
        "lookup_post": lambda: store.lookup_post(issuer="VA0000001", envelope_id="env-1"),
        "get_blob 64K": lambda: store.get_blob("ab" * 32),
        "claim_outbox": lambda: store.claim_outbox(
            "MD0000002", owner="bench", now=clock.tick(), lease=0.5, limit=10
        ),
        "claim_events": lambda: store.claim_events(
            owner="bench", now=clock.tick(), lease=0.5, limit=10
        ),
    }


async def _timed(call: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


def _through(facade: AsyncStore, call: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    return lambda: facade.run(call)


def _to_thread(call: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    return lambda: asyncio.to_thread(call)


async def _per_call(name: str, store: SqlStore, calls: int) -> None:
    clock = Clock()
    ops = _ops(store, clock)
    facade = AsyncStore(store)
    try:
        print(f"\n{name}: median us per call ({calls} calls each)")
        print(f"  {'call':14} {'direct':>9} {'facade':>9} {'to_thread':>10} {'hop':>7}")
        for op, call in ops.items():
            for _ in range(50):  # warm up
                call()
            direct = []
            for _ in range(calls):
                start = time.perf_counter()
                call()
                direct.append(time.perf_counter() - start)
            via = await _timed(_through(facade, call), calls)
            to_thread = await _timed(_to_thread(call), calls)
            hop = _us(via) - _us(direct)
            print(
                f"  {op:14} {_us(direct):9.1f} {_us(via):9.1f} {_us(to_thread):10.1f} {hop:7.1f}"
            )
        for workers in (1, 4):
            pool = AsyncStore(store, workers=workers)
            lookup = ops["lookup_post"]
            per_task = max(calls // 16, 10)
            start = time.perf_counter()

            async def task(
                pool: AsyncStore = pool, lookup: Callable[[], object] = lookup, n: int = per_task
            ) -> None:
                for _ in range(n):
                    await pool.run(lookup)

            await asyncio.gather(*(task() for _ in range(16)))
            rate = 16 * per_task / (time.perf_counter() - start)
            print(f"  lookup_post, 16 tasks in flight, {workers} worker(s): {rate:8.0f} calls/s")
            pool.shutdown()
    finally:
        facade.shutdown()


async def _native(dsn: str, schema: str, calls: int) -> None:
    """The lookup_post SELECT (and its commit) on psycopg's sync and async connections."""
    query = "SELECT channel, ts FROM posted WHERE issuer = %s AND envelope_id = %s"
    params = ("VA0000001", "env-1")
    set_path = pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema))
    with psycopg.connect(dsn) as conn:
        conn.execute(set_path)
        conn.commit()
        sync = []
        for _ in range(calls):
            start = time.perf_counter()
            conn.execute(query, params).fetchall()
            conn.commit()
            sync.append(time.perf_counter() - start)

        def blocking() -> None:
            conn.execute(query, params).fetchall()
            conn.commit()

        hopped = await _timed(lambda: asyncio.to_thread(blocking), calls)
    async with await psycopg.AsyncConnection.connect(dsn) as aconn:
        await aconn.execute(set_path)
        await aconn.commit()

        async def native() -> None:
            cur = await aconn.execute(query, params)
            await cur.fetchall()
            await aconn.commit()

        native_samples = await _timed(native, calls)
    print("  psycopg, the lookup_post SELECT + COMMIT, median us per call:")
    print(f"    sync, direct {_us(sync):7.1f}   sync via a thread {_us(hopped):7.1f}")
    print(f"    native async {_us(native_samples):7.1f}")


@contextmanager
def _pg_schema(dsn: str) -> Iterator[str]:
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "RELAY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStore(Path(tmp) / "bench.db")
        _seed(sqlite)
        await _per_call("SQLite (WAL, synchronous=FULL)", sqlite, args.calls)
        sqlite.close()
    if args.no_postgres:
        return
    with _pg_schema(args.postgres) as schema:
        pg = PostgresStore(args.postgres, schema=schema)
        _seed(pg)
        await _per_call("PostgreSQL (localhost TCP)", pg, args.calls)
        await _native(args.postgres, schema, args.calls)
        pg.close()


if __name__ == "__main__":
    asyncio.run(main())
