"""Real relays on 127.0.0.1 over HTTPS with mutual TLS from a throwaway trustme CA."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.app import RunningRelay, start_relay
from relay.assemble import Parts
from relay.config import read_config
from relay.core.envelope import EnvelopeKind
from relay.core.keys import KeyId, PinnedKey
from relay.core.model import AgencyId, MessageKind, SlackMessage
from relay.core.policy.engine import Decision
from relay.core.slack_parse import parse_event
from relay.federation.tls import client_context
from relay.flow.inbound import Delivery
from relay.flow.outbound import Outgoing
from relay.lab.ports import free_ports
from relay.lab.relayyaml import Listen, Material, TlsPems, write_material
from relay.ledger import Ledger
from relay.metrics import RelayMetrics
from relay.store.contract import Store

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
# Every relay's signing key is pinned (by its partners) for this window.
PINNED_FROM, PINNED_UNTIL = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=365)

RULES = """
patterns:
  source_term:
    regex: ['\\b(?:C\\.? ?I|CS|CHS|SOI)\\.?\\s?(?:#|-)?\\s?\\d{1,4}\\b']
  secret:
    case_sensitive: true
    regex: ['^SECRET']
detectors:
  - id: classified.marking
    action: block
    stage: whole_message
    when: [secret]
  - id: informant.source
    action: strip
    when: [source_term]
"""


def policy_text(
    ori: str, partners: list[dict[str, Any]], topics: str = "[bolo, intel]", extra_rules: str = ""
) -> str:
    lines = [
        f"agency: {{ori: {ori}, name: Agency {ori}, state: {ori[:2]}}}",
        f"topics: {topics}",
        "partners:",
    ]
    for p in partners:
        lines += [
            f"  - ori: {p['ori']}",
            f"    name: Partner {p['ori']}",
            f"    kind: {p.get('kind', 'law_enforcement')}",
            "    agreement: {id: IEA-TEST, expires: 2028-01-01}",
            f"    share: {p.get('share', '[bolo]')}",
            f"    accept: {p.get('accept', '[bolo]')}",
            f"    redisseminate: {str(p.get('redisseminate', True)).lower()}",
        ]
    return "\n".join(lines) + "\n" + textwrap.dedent(RULES) + extra_rules


_KINDS = {
    MessageKind.POST: EnvelopeKind.POST,
    MessageKind.EDIT: EnvelopeKind.EDIT,
    MessageKind.DELETE: EnvelopeKind.DELETE,
}


@dataclass
class Relay:
    """One agency's relay, started from its own ``relay.yaml`` (no Slack workspace: what it
    would post lands in ``delivered``)."""

    ori: str
    key: Ed25519PrivateKey
    kid: str
    material: Material
    fingerprint: str
    dir: Path
    port: int = 0
    running: RunningRelay | None = None
    delivered: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def parts(self) -> Parts:
        assert self.running is not None
        return self.running.parts

    @property
    def store(self) -> Store:
        return self.parts.store

    @property
    def ledger(self) -> Ledger:
        return self.parts.ledger

    @property
    def metrics(self) -> RelayMetrics:
        return self.parts.metrics

    @property
    def urls(self) -> dict[str, str]:
        """Where this relay's client reaches its partners (a test may point one elsewhere)."""
        urls = self.parts.client._urls
        assert isinstance(urls, dict)
        return urls

    async def publish(
        self,
        message: SlackMessage,
        *,
        topic: str,
        author: str,
        envelope_id: str | None = None,
        kind: EnvelopeKind | None = None,
        target: str | None = None,
    ) -> dict[str, Decision]:
        return await publish(
            self.parts,
            message,
            topic=topic,
            author=author,
            jti=envelope_id,
            kind=kind,
            target=target,
        )

    async def drain(self) -> None:
        assert self.running is not None
        await self.running.drain()

    def pinned(self, *, revoked: bool = False) -> PinnedKey:
        return PinnedKey(
            kid=KeyId(self.kid),
            agency=AgencyId(self.ori),
            public_key=self.key.public_key().public_bytes_raw(),
            not_before=PINNED_FROM,
            not_after=PINNED_UNTIL,
            revoked=revoked,
        )

    def client_ssl(self, ca: trustme.CA) -> ssl.SSLContext:
        return client_context(self.dir / "cert.pem", self.dir / "key.pem", self.dir / "ca.pem")


async def publish(
    parts: Parts,
    message: SlackMessage,
    *,
    topic: str,
    author: str,
    jti: str | None = None,
    kind: EnvelopeKind | None = None,
    target: str | None = None,
) -> dict[str, Decision]:
    """As the Slack side would: ``message`` judged, signed and queued for every partner."""
    return await parts.outbound.publish(
        Outgoing(
            message=message,
            topic=topic,
            author=author,
            envelope_id=jti or str(uuid.uuid4()),
            kind=kind or _KINDS.get(message.kind, EnvelopeKind.POST),
            target=target,
        )
    )


def trustme_tls(ca: trustme.CA, *names: str) -> TlsPems:
    """A leaf from a trustme CA for ``names`` (a host, an IP address), as PEM."""
    cert = ca.issue_cert(*names)
    return TlsPems(
        cert.cert_chain_pems[0].bytes(), cert.private_key_pem.bytes(), ca.cert_pem.bytes()
    )


class Federation:
    """Relays that pin each other; start them, then publish and look at what arrives."""

    def __init__(self, tmp: Path, oris: list[str]) -> None:
        self.ca = trustme.CA()
        self.tmp = tmp
        self.relays: dict[str, Relay] = {}
        self.clock = [NOW]
        ports = free_ports(len(oris))  # chosen together: no two relays draw the same port
        for ori, port in zip(oris, ports, strict=True):
            tls = trustme_tls(self.ca, "127.0.0.1", f"relay-{ori.lower()}.example")
            m = write_material(
                tmp / ori, ori, f"{ori}#2026-k1", tls, cert="cert.pem", tls_key="key.pem"
            )
            self.relays[ori] = Relay(
                ori=ori,
                key=m.key,
                kid=m.kid,
                material=m,
                fingerprint=m.fingerprint,
                dir=m.dir,
                port=port,
            )

    def now(self) -> dt.datetime:
        return self.clock[0]

    def _config(
        self,
        relay: Relay,
        pins: list[str],
        *,
        hop_limit: int,
        rate: float,
        burst: int,
        max_body: int,
    ) -> Path:
        config = relay.material.config(
            policy="policy.yaml",
            store=f"sqlite:///{relay.dir / 'relay.db'}",
            listen=Listen("127.0.0.1", relay.port),
            hop_limit=hop_limit,
            max_body_bytes=max_body,
            read_timeout_seconds=2,
            rate_limit=(rate, burst),
            partners=[
                self.relays[o].material.partner(self.relays[o].url, PINNED_FROM, PINNED_UNTIL)
                for o in pins
            ],
        )
        return config.write(relay.dir / "relay.yaml")

    async def start(
        self,
        policies: dict[str, str],
        *,
        hop_limit: int = 4,
        rate: float = 1000.0,
        burst: int = 1000,
        max_body: int = 1 << 20,
        pins: dict[str, list[str]] | None = None,
    ) -> None:
        """Start every relay from a ``relay.yaml`` of its own, the way ``relay run`` does.
        ``pins``: the partners a relay pins (certificate and key); all others if absent."""
        for ori, relay in self.relays.items():
            (relay.dir / "policy.yaml").write_text(policies[ori])
            pinned = (pins or {}).get(ori) or [o for o in self.relays if o != ori]
            path = self._config(
                relay, pinned, hop_limit=hop_limit, rate=rate, burst=burst, max_body=max_body
            )
            relay.running = await start_relay(
                read_config(path), clock=self.now, deliver=relay.delivered.put
            )

    def service(self, ori: str) -> Relay:
        """``ori``'s running relay (after :meth:`start`)."""
        relay = self.relays[ori]
        assert relay.running is not None, f"{ori} is not started"
        return relay

    async def publish(
        self,
        ori: str,
        text: str,
        ts: str,
        *,
        author: str = "Det. R. Okafor",
        envelope_id: str | None = None,
    ) -> dict[str, Decision]:
        """A person's BOLO posted in ``ori``'s Slack: published, then every relay settles.
        Returns the decision for each partner."""
        message = parse_event({"type": "message", "user": "U1", "ts": ts, "text": text})
        decisions = await self.service(ori).publish(
            message, topic="bolo", author=author, envelope_id=envelope_id
        )
        await self.settle()
        return decisions

    async def settle(self) -> None:
        """Wait until no relay has work due in its queues (bounded: hops are finite)."""
        for _ in range(4):
            for relay in self.relays.values():
                if relay.running:
                    await relay.running.drain()
        live = [r.running for r in self.relays.values() if r.running]
        for _ in range(8):  # receipts go back hop by hop: until every relay is quiet
            if all([await running.quiet() for running in live]):
                break
            for running in live:
                await running.drain()

    async def stop(self) -> None:
        for relay in self.relays.values():
            if relay.running:
                await relay.running.stop()
                relay.running = None
