"""Audit checkpoints between relays over real mutual TLS (relay/federation/checkpoints.py), and
the ledger behind them (relay/ledger.py): kept, stale, conflicting, refused; failure signals."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.audit import GENESIS, AuditEvent, CheckpointError, rfc3339, sign_checkpoint
from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.errors import DeliveryError
from relay.federation.checkpoints import CHECKPOINTS_PATH, add_checkpoint_routes
from relay.federation.client import PeerClient
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.ledger import SERVED_CHECKPOINTS, AuditWriteError, Ledger
from relay.store.contract import RefusalRecord
from relay.store.sqlite import SqliteStore

CT, MA, NY = "CT9990100", "MA9990200", "NY9990300"
NOW = dt.datetime(2026, 11, 29, 18, 0, tzinfo=dt.UTC)


class Node:
    """One relay: key, TLS material, a store and its ledger."""

    def __init__(self, tmp: Path, ca: trustme.CA, ori: str, clock: list[dt.datetime]) -> None:
        self.ori = ori
        self.kid = f"{ori}#2026-k1"
        self.key = Ed25519PrivateKey.generate()
        self.dir = tmp / ori
        self.dir.mkdir()
        cert = ca.issue_cert("127.0.0.1")
        cert.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))
        ca.cert_pem.write_to_path(str(self.dir / "ca.pem"))
        der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
        self.fingerprint = hashlib.sha256(der).hexdigest()
        self.store = SqliteStore(self.dir / "relay.db")
        self.clock = clock
        self.ledger: Ledger | None = None
        self.url = ""
        self.refusals: list[RefusalRecord] = []

    def pinned(self, key: Ed25519PrivateKey | None = None) -> PinnedKey:
        return PinnedKey(
            kid=KeyId(self.kid),
            agency=AgencyId(self.ori),
            public_key=(key or self.key).public_key().public_bytes_raw(),
            not_before=NOW - dt.timedelta(days=30),
        )

    def ssl(self, *, client: bool) -> ssl.SSLContext:
        make = client_context if client else server_context
        return make(self.dir / "cert.pem", self.dir / "key.pem", self.dir / "ca.pem")


class EdgeStub:
    """The envelope handler's part the HTTP edge uses: who a TLS peer is, refusal records."""

    agency = "unused"

    def __init__(self, node: Node, fingerprints: dict[str, str]) -> None:
        self._node = node
        self._fingerprints = fingerprints

    def partner_for_fingerprint(self, fingerprint: str) -> str | None:
        return self._fingerprints.get(fingerprint)

    async def record_refusal(self, record: RefusalRecord) -> None:
        self._node.refusals.append(record)


class Net:
    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.clock = [NOW]
        self.nodes = {o: Node(tmp, self.ca, o, self.clock) for o in (CT, MA, NY)}
        self.runners: list[web.AppRunner] = []
        self.clients: list[PeerClient] = []

    async def start(self) -> None:
        ct, ma = self.nodes[CT], self.nodes[MA]
        # CT and MA pin each other (TLS and signing keys); NY is known to nobody.
        for me, other in ((ct, ma), (ma, ct)):
            me.ledger = Ledger(
                me.store,
                agency=me.ori,
                key=me.key,
                kid=me.kid,
                keyring=Keyring.of([other.pinned()]),
                clock=lambda: self.clock[0],
            )
            app = build_federation_app(
                EdgeStub(me, {other.fingerprint: other.ori}),  # type: ignore[arg-type]
                max_body_bytes=1 << 16,
                read_timeout=2.0,
                rate_per_second=1000.0,
                rate_burst=1000,
            )
            add_checkpoint_routes(app, me.ledger)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=me.ssl(client=False))
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            me.url = f"https://127.0.0.1:{port}"
            self.runners.append(runner)

    def client(self, ori: str) -> PeerClient:
        urls = {o: n.url for o, n in self.nodes.items() if o != ori and n.url}
        client = PeerClient(urls, self.nodes[ori].ssl(client=True), timeout=5)
        self.clients.append(client)
        return client

    async def stop(self) -> None:
        for client in self.clients:
            await client.close()
        for runner in self.runners:
            await runner.cleanup()
        for node in self.nodes.values():
            node.store.close()


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    n = Net(tmp_path)
    await n.start()
    yield n
    await n.stop()


def ledger_of(net: Net, ori: str) -> Ledger:
    ledger = net.nodes[ori].ledger
    assert ledger is not None
    return ledger


def events(node: Node) -> list[tuple[str, str]]:
    return [(r.record.event.value, r.record.outcome) for r in node.store.audit_rows()]


# -- over the wire -----------------------------------------------------------------------------
async def test_checkpoints_are_exchanged_and_fetched_back(net: Net) -> None:
    ct = ledger_of(net, CT)
    ct.append([ct.entry("forward", destination=MA, outcome="accepted")])
    token = ct.make_checkpoint()
    client = net.client(CT)
    assert await client.send_checkpoint(MA, token) == "stored"
    assert await client.send_checkpoint(MA, token) == "stale"  # a retry: kept already
    kept = net.nodes[MA].store.checkpoints(CT)
    assert [(c.seq, c.token) for c in kept] == [(1, token)]
    assert events(net.nodes[MA]) == [
        ("checkpoint_received", "stored"),
        ("checkpoint_received", "duplicate"),
    ]
    # CT collects what MA holds of it; nothing of MA is kept at CT
    assert await client.fetch_checkpoints(MA) == [token]
    assert await net.client(MA).fetch_checkpoints(CT) == []
    # CT's own record of signing it: the seq and head it signed
    rows = net.nodes[CT].store.audit_rows()
    assert (rows[-1].record.event, rows[-1].record.count) == (AuditEvent.CHECKPOINT, 1)
    assert rows[-1].record.digest == rows[0].hash


async def test_a_fork_at_a_kept_seq_is_a_conflict(net: Net) -> None:
    ct, client = ledger_of(net, CT), net.client(CT)
    token = ct.make_checkpoint()  # seq 0, genesis
    assert await client.send_checkpoint(MA, token) == "stored"
    forged = sign_checkpoint(
        net.nodes[CT].key, net.nodes[CT].kid, agency=CT, seq=0, head="f" * 64, at=rfc3339(NOW)
    )
    assert await client.send_checkpoint(MA, forged) == "conflict"
    assert events(net.nodes[MA])[-1] == ("checkpoint_conflict", "fork")
    assert len(net.nodes[MA].store.checkpoints(CT)) == 2  # both kept: the evidence


async def test_refusals_have_codes_and_statuses(net: Net) -> None:
    ct, ma, ny = net.nodes[CT], net.nodes[MA], net.nodes[NY]
    token = ledger_of(net, CT).make_checkpoint()
    # signed by a key MA has not pinned for CT
    other = sign_checkpoint(
        Ed25519PrivateKey.generate(), ct.kid, agency=CT, seq=1, head=GENESIS, at=rfc3339(NOW)
    )
    with pytest.raises(DeliveryError) as info:
        await net.client(CT).send_checkpoint(MA, other)
    assert (info.value.code, info.value.retryable) == ("signature_invalid", False)
    # MA's own checkpoint sent back to MA by CT: the TLS peer is not the issuer
    mine = ledger_of(net, MA).make_checkpoint()
    with pytest.raises(DeliveryError) as info:
        await net.client(CT).send_checkpoint(MA, mine)
    assert info.value.code in ("issuer_mismatch", "key_not_pinned")
    # a peer nobody pinned
    net.nodes[NY].url = ""
    ny_client = PeerClient({MA: ma.url}, ny.ssl(client=True), timeout=5)
    net.clients.append(ny_client)
    with pytest.raises(DeliveryError) as info:
        await ny_client.send_checkpoint(MA, token)
    assert info.value.code == "peer_unknown"
    with pytest.raises(DeliveryError) as info:
        await ny_client.fetch_checkpoints(MA)
    assert info.value.code == "peer_unknown"
    assert [(r.reason, r.http_status) for r in ma.refusals] == [
        ("signature_invalid", 403),
        (ma.refusals[1].reason, 403),
        ("peer_unknown", 403),
        ("peer_unknown", 403),
    ]
    assert ma.store.checkpoints(CT) == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"token": 7}', b'{"token": "a", "note": "x"}', b"[]"],
)
async def test_bad_bodies_are_400(net: Net, body: bytes) -> None:
    ct, ma = net.nodes[CT], net.nodes[MA]
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ct.ssl(client=True))) as session,
        session.post(
            ma.url + CHECKPOINTS_PATH, data=body, headers={"Content-Type": "application/json"}
        ) as resp,
    ):
        assert resp.status == 400
        assert await resp.json() == {"error": "bad_request"}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ct.ssl(client=True))) as session,
        session.post(ma.url + CHECKPOINTS_PATH, json={"token": "x.y"}) as resp,
    ):
        assert resp.status == 400
        assert await resp.json() == {"error": "malformed"}


# -- the ledger --------------------------------------------------------------------------------
class BrokenStore:
    """A store whose audit writes fail with driver text that must not leak."""

    def __init__(self, store: SqliteStore) -> None:
        self.inner = store
        self.broken = True

    def audit_append(self, records: Any) -> tuple[int, str]:
        if self.broken:
            raise RuntimeError("connection to postgresql://relay:hunter2@db failed")
        return self.inner.audit_append(records)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self.inner, name)  # type: ignore[no-any-return]


def test_a_failed_write_signals_and_recovers(tmp_path: Path) -> None:
    inner = SqliteStore(tmp_path / "relay.db")
    store = BrokenStore(inner)
    failures: list[int] = []
    appended: list[int] = []
    ledger = Ledger(
        store,
        agency=CT,
        key=Ed25519PrivateKey.generate(),
        kid=f"{CT}#k1",
        keyring=Keyring.of([]),
        clock=lambda: NOW,
        on_failure=lambda: failures.append(1),
        on_append=appended.append,
    )
    with pytest.raises(AuditWriteError) as info:
        ledger.append([ledger.entry("post", outcome="ok")])
    assert info.value.code == "audit_write_failed"
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert (ledger.failing, failures) == (True, [1])
    store.broken = False
    ledger.append([ledger.entry("audit_recovered", outcome="recovered")])
    assert (ledger.failing, appended) == (False, [1])
    assert ledger.head == inner.audit_head()
    ledger.append([])
    assert appended == [1]
    inner.close()


def test_entry_fills_time_and_relay_and_refuses_text(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "relay.db")
    ledger = Ledger(
        store,
        agency=CT,
        key=Ed25519PrivateKey.generate(),
        kid=f"{CT}#k1",
        keyring=Keyring.of([]),
        clock=lambda: NOW,
    )
    record = ledger.entry("decision", outcome="block", rules=("informant.identity",))
    assert (record.at, record.relay) == ("2026-11-29T18:00:00.000000Z", CT)
    with pytest.raises(ValueError, match=r"^topic$"):
        ledger.entry("decision", outcome="block", topic="a message with words")
    with pytest.raises(ValueError, match=r"^event$"):
        ledger.entry("gossip", outcome="ok")
    with pytest.raises(ValueError, match="365"):
        Ledger(store, agency=CT, key=Ed25519PrivateKey.generate(), kid=f"{CT}#k1",
               keyring=Keyring.of([]), clock=lambda: NOW, retention_days=364)  # fmt: skip
    store.close()


def test_receive_checkpoint_rules(tmp_path: Path) -> None:
    """A later checkpoint with a lower seq (the history went backwards) is a conflict; one
    that is older in both seq and time arrived late and is kept as stale."""
    key = Ed25519PrivateKey.generate()
    kid = f"{MA}#k1"
    pin = PinnedKey(
        kid=KeyId(kid),
        agency=AgencyId(MA),
        public_key=key.public_key().public_bytes_raw(),
        not_before=NOW - dt.timedelta(days=1),
    )
    clock = [NOW + dt.timedelta(hours=2)]
    store = SqliteStore(tmp_path / "relay.db")
    ledger = Ledger(
        store,
        agency=CT,
        key=Ed25519PrivateKey.generate(),
        kid=f"{CT}#k1",
        keyring=Keyring.of([pin]),
        clock=lambda: clock[0],
    )

    def token(seq: int, minutes: int, head: str = "a" * 64) -> str:
        at = rfc3339(NOW + dt.timedelta(minutes=minutes))
        return sign_checkpoint(key, kid, agency=MA, seq=seq, head=head, at=at)

    assert ledger.receive_checkpoint(MA, token(100, 10)) == "stored"
    assert ledger.receive_checkpoint(MA, token(120, 15, "b" * 64)) == "stored"
    assert ledger.receive_checkpoint(MA, token(90, 5, "c" * 64)) == "stale"  # late
    # another instance's clock 30 s behind: within the slack
    skewed = sign_checkpoint(
        key, kid, agency=MA, seq=130, head="e" * 64, at=rfc3339(NOW + dt.timedelta(seconds=870))
    )
    assert ledger.receive_checkpoint(MA, skewed) == "stored"
    assert ledger.receive_checkpoint(MA, token(110, 30, "d" * 64)) == "conflict"  # rollback
    with pytest.raises(CheckpointError) as info:
        ledger.receive_checkpoint(CT, token(140, 20))
    assert info.value.code == "issuer_mismatch"
    with pytest.raises(CheckpointError) as info:
        ledger.receive_checkpoint(MA, token(150, 200))  # dated after now + skew
    assert info.value.code == "not_yet_valid"
    outcomes = [
        (r.record.event.value, r.record.outcome, r.record.count) for r in store.audit_rows()
    ]
    assert outcomes == [
        ("checkpoint_received", "stored", 100),
        ("checkpoint_received", "stored", 120),
        ("checkpoint_received", "late", 90),
        ("checkpoint_received", "stored", 130),
        ("checkpoint_conflict", "rollback", 110),
    ]
    assert ledger.kept_tokens(MA)[0] == token(90, 5, "c" * 64)
    store.close()


def test_prune_honours_the_floor_and_is_recorded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "relay.db")
    clock = [NOW]
    ledger = Ledger(
        store,
        agency=CT,
        key=Ed25519PrivateKey.generate(),
        kid=f"{CT}#k1",
        keyring=Keyring.of([]),
        clock=lambda: clock[0],
        retention_days=400,
    )
    ledger.append([ledger.entry("post", outcome="ok") for _ in range(3)])
    clock[0] = NOW + dt.timedelta(days=399)
    assert ledger.prune(clock[0]) == 0
    clock[0] = NOW + dt.timedelta(days=401)
    assert ledger.prune(clock[0]) == 3
    rows = store.audit_rows()
    assert [(r.record.event.value, r.record.count) for r in rows] == [
        ("retention", 0),
        ("retention", 3),
    ]
    assert store.audit_anchor() is not None
    store.close()


# -- growth: what is compared, served and pruned -----------------------------------------------
class NoFullScan:
    """A store that refuses to hand over every kept checkpoint of an issuer."""

    def __init__(self, store: SqliteStore) -> None:
        self.inner = store
        self.near: list[tuple[str, int]] = []

    def checkpoints(self, issuer: str, *, newest: int | None = None) -> Any:
        assert newest is not None, "every kept checkpoint was read"
        return self.inner.checkpoints(issuer, newest=newest)

    def checkpoints_near(self, issuer: str, seq: int) -> Any:
        self.near.append((issuer, seq))
        return self.inner.checkpoints_near(issuer, seq)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self.inner, name)  # type: ignore[no-any-return]


def _partner_ledger(tmp_path: Path) -> tuple[Ledger, NoFullScan, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    pin = PinnedKey(
        kid=KeyId(f"{MA}#k1"),
        agency=AgencyId(MA),
        public_key=key.public_key().public_bytes_raw(),
        not_before=NOW - dt.timedelta(days=400),
    )
    store = NoFullScan(SqliteStore(tmp_path / "relay.db"))
    ledger = Ledger(
        store,
        agency=CT,
        key=Ed25519PrivateKey.generate(),
        kid=f"{CT}#k1",
        keyring=Keyring.of([pin]),
        clock=lambda: NOW + dt.timedelta(hours=2),
    )
    return ledger, store, key


def test_receive_compares_with_the_neighbours_not_every_checkpoint(tmp_path: Path) -> None:
    ledger, store, key = _partner_ledger(tmp_path)

    def token(seq: int, minutes: float, head: str = "a") -> str:
        at = rfc3339(NOW + dt.timedelta(minutes=minutes))
        return sign_checkpoint(key, f"{MA}#k1", agency=MA, seq=seq, head=head * 64, at=at)

    # a long consistent history: one checkpoint a minute, seq 10 apart
    for i in range(200):
        store.inner.put_checkpoint(
            issuer=MA,
            seq=10 * i,
            head=f"{i:064x}",
            at=rfc3339(NOW - dt.timedelta(minutes=200 - i)),
            token=f"t{i}",
            received_at=rfc3339(NOW),
        )
    assert ledger.receive_checkpoint(MA, token(2000, 1)) == "stored"
    assert ledger.receive_checkpoint(MA, token(2000, 1)) == "stale"  # duplicate
    assert ledger.receive_checkpoint(MA, token(2000, 1, "f")) == "conflict"  # fork
    assert ledger.receive_checkpoint(MA, token(1995, 0.5)) == "stale"  # late, in order
    # older in seq than one kept but signed much later: the history went backwards
    assert ledger.receive_checkpoint(MA, token(1985, 30)) == "conflict"
    # newer in seq than one kept but signed well before it
    assert ledger.receive_checkpoint(MA, token(1005, -180)) == "conflict"
    assert ledger.receive_checkpoint(MA, token(2010, 2)) == "stored"
    assert [seq for _, seq in store.near] == [2000, 2000, 2000, 1995, 1985, 1005, 2010]
    outcomes = [r.record.outcome for r in store.inner.audit_rows()]
    assert outcomes == ["stored", "duplicate", "fork", "late", "rollback", "rollback", "stored"]
    store.inner.close()


def test_kept_tokens_are_the_newest_thousand(tmp_path: Path) -> None:
    ledger, store, _ = _partner_ledger(tmp_path)
    for seq in range(1, SERVED_CHECKPOINTS + 251):
        at = rfc3339(NOW - dt.timedelta(seconds=SERVED_CHECKPOINTS + 251 - seq))
        store.inner.put_checkpoint(
            issuer=MA, seq=seq, head="a" * 64, at=at, token=f"t{seq}", received_at=at
        )
    tokens = ledger.kept_tokens(MA)
    assert tokens == [f"t{seq}" for seq in range(251, SERVED_CHECKPOINTS + 251)]
    store.inner.close()


async def test_get_serves_at_most_the_newest_thousand(net: Net) -> None:
    ma = net.nodes[MA]
    for seq in range(SERVED_CHECKPOINTS + 5):
        at = rfc3339(NOW - dt.timedelta(minutes=SERVED_CHECKPOINTS + 5 - seq))
        ma.store.put_checkpoint(
            issuer=CT, seq=seq, head="a" * 64, at=at, token=f"t{seq}", received_at=at
        )
    got = await net.client(CT).fetch_checkpoints(MA)
    assert got == [f"t{seq}" for seq in range(5, SERVED_CHECKPOINTS + 5)]


def test_prune_drops_old_checkpoints_but_each_issuers_newest(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "relay.db")
    clock = [NOW]
    ledger = Ledger(
        store,
        agency=CT,
        key=Ed25519PrivateKey.generate(),
        kid=f"{CT}#k1",
        keyring=Keyring.of([]),
        clock=lambda: clock[0],
    )
    for day in range(3):
        clock[0] = NOW + dt.timedelta(days=day)
        ledger.make_checkpoint()  # own, seq 0, 1, 2 (each records one)
        at = rfc3339(clock[0])
        store.put_checkpoint(
            issuer=MA, seq=day, head="a" * 64, at=at, token=f"ma{day}", received_at=at
        )
    clock[0] = NOW + dt.timedelta(days=365 + 1, hours=1)  # days 0 and 1 are past retention
    assert ledger.prune(clock[0]) == 2  # records: the checkpoint records of days 0 and 1
    assert [c.seq for c in store.checkpoints(CT)] == [2]
    assert [c.token for c in store.checkpoints(MA)] == ["ma2"]
    tail = [(r.record.event.value, r.record.outcome, r.record.count) for r in store.audit_rows()]
    assert tail[-2:] == [("retention", "pruned", 2), ("retention", "checkpoints_pruned", 4)]
    clock[0] = NOW + dt.timedelta(days=800)  # everything is old now: the newest stay
    ledger.prune(clock[0])
    assert [c.seq for c in store.checkpoints(CT)] == [2]
    assert [c.token for c in store.checkpoints(MA)] == ["ma2"]
    store.close()
