"""Relays started from relay.yaml files, shared by the tests that run them that way.

An agency's files (``write_relay``): TLS from a throwaway trustme CA, a signing key as ``relay
keygen`` writes it, and ``policy.yaml`` (``write_policy``). ``relay_config`` describes the
config that pins its partners (``write_config`` writes it); ``start_pair`` starts a receiver
then a sender that knows its URL; ``publish_and_drain`` takes one message through the
sender's outbox and the receiver's inbound queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any, Final

import trustme

from relay.app import RunningRelay, start_relay
from relay.config import read_config
from relay.core.model import SlackMessage
from relay.core.slack_parse import parse_event
from relay.flow.inbound import Delivery
from relay.lab.relayyaml import Listen, Material, RelayYaml, write_material
from tests.federation.harness import policy_text, publish, trustme_tls

CT, MA = "CT9990100", "MA9990200"
# A partner URL nothing answers on: the receiver of a pair never sends (and starts first).
NOWHERE = "https://127.0.0.1:1"
# The admin listener (health, readiness, metrics) on a free port: ``relay_config(..., **ADMIN)``.
ADMIN: Final[dict[str, Any]] = {"admin": Listen("127.0.0.1", 0)}
BOLO_TEXT = "BOLO: stolen white F-150, CT reg 7KX219, Route 9 NB."
# Partners' signing keys are pinned for this window.
PINNED_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PINNED_UNTIL = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def write_relay(tmp: Path, ori: str, ca: trustme.CA) -> Material:
    """``tmp/ori`` with tls.crt, tls.key, ca.pem and a signing key in ``keys/`` (the files
    ``relay keygen --kid-suffix 2026-k1`` writes)."""
    return write_material(
        tmp / ori,
        ori,
        f"{ori}#2026-k1",
        trustme_tls(ca, "127.0.0.1"),
        signing_key=f"keys/{ori}-2026-k1.key.pem",
        jwk=True,
    )


def write_policy(me: Material, ori: str, partners: list[dict[str, Any]]) -> None:
    """``policy.yaml`` in ``me``'s directory (``partners`` as ``policy_text`` takes them)."""
    (me.dir / "policy.yaml").write_text(policy_text(ori, partners))


def write_bolo_policies(ct: Material, ma: Material) -> None:
    """CT and MA share and accept BOLOs with each other."""
    write_policy(ct, CT, [{"ori": MA, "share": "[bolo]", "accept": "[bolo]"}])
    write_policy(ma, MA, [{"ori": CT, "share": "[bolo]", "accept": "[bolo]"}])


def relay_config(me: Material, partners: list[tuple[Material, str]], **extra: Any) -> RelayYaml:
    """relay.yaml for ``me`` (SQLite store, federation on a free port): ``partners`` are
    (files, url), each pinned by TLS fingerprint and signing key; ``extra``: more of
    :class:`RelayYaml`'s fields (``slack``, ``admin``, ``delivery``...)."""
    return me.config(
        policy="policy.yaml",
        store="sqlite:///relay.db",
        partners=[peer.partner(url, PINNED_FROM, PINNED_UNTIL) for peer, url in partners],
        **extra,
    )


def write_config(me: Material, config: RelayYaml) -> Path:
    """``config`` as ``relay.yaml`` in ``me``'s directory."""
    return config.write(me.dir / "relay.yaml")


async def start_pair(
    ct: Material,
    ma: Material,
    *,
    ct_extra: dict[str, Any] | None = None,
    ma_extra: dict[str, Any] | None = None,
) -> tuple[RunningRelay, RunningRelay, asyncio.Queue[Delivery]]:
    """MA started first (its CT URL goes nowhere), then CT pointed at MA's real URL; each
    relay.yaml has its ``*_extra`` fields (as :func:`relay_config` takes them). What MA would
    post (without a ``slack:`` section) lands in the queue returned third. The caller stops
    both."""
    delivered: asyncio.Queue[Delivery] = asyncio.Queue()
    ma_config = relay_config(ma, [(ct, NOWHERE)], **(ma_extra or {}))
    ma_relay = await start_relay(read_config(write_config(ma, ma_config)), deliver=delivered.put)
    try:
        ct_config = relay_config(ct, [(ma, ma_relay.url)], **(ct_extra or {}))
        ct_relay = await start_relay(read_config(write_config(ct, ct_config)))
    except BaseException:
        await ma_relay.stop()
        raise
    return ct_relay, ma_relay, delivered


def bolo_event(ts: str, text: str = BOLO_TEXT, user: str = "U1") -> SlackMessage:
    """A person's Slack message, parsed as the relay parses it."""
    return parse_event({"type": "message", "user": user, "ts": ts, "text": text})


async def publish_and_drain(
    sender: RunningRelay, receiver: RunningRelay, message: SlackMessage
) -> None:
    """Publish a BOLO from the sender; its outbox sends, then the receiver's inbound queue
    judges (what it accepts is then in the receiver's delivery queue)."""
    await publish(sender.parts, message, topic="bolo", author="Det. Okafor")
    await sender.drain()
    await receiver.drain()


def sqlite_recorder(path: Path, agency: str = "CT9990100") -> tuple[Any, Any, Any]:
    """A SQLite store at ``path``, its async facade and a recorder over a fresh ledger, the
    way a relay wires them: ``(store, aio, recorder)``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from relay.core.keys import Keyring
    from relay.flow.records import Recorder
    from relay.ledger import Ledger
    from relay.metrics import RelayMetrics
    from relay.store.aio import AsyncStore
    from relay.store.group import GroupWriter
    from relay.store.sqlite import SqliteStore

    store = SqliteStore(path)
    aio = AsyncStore(store, writer=GroupWriter(store))
    ledger = Ledger(
        store,
        agency=agency,
        key=Ed25519PrivateKey.generate(),
        kid=f"{agency}#k1",
        keyring=Keyring.of([]),
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    recorder = Recorder(agency=agency, ledger=ledger, metrics=RelayMetrics(), store=aio)
    return store, aio, recorder
