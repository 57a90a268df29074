"""Real relays on 127.0.0.1 over HTTPS with mutual TLS from a throwaway trustme CA."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.core.keys import KeyId, Keyring, PinnedKey
from relay.core.model import AgencyId
from relay.core.policy.engine import Decision
from relay.core.policy.load import load_policy
from relay.core.slack_parse import parse_event
from relay.federation.client import PeerClient
from relay.federation.server import build_federation_app
from relay.federation.tls import client_context, server_context
from relay.ledger import Ledger
from relay.service import RelayService
from relay.store.sqlite import SqliteStore

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)

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


@dataclass
class Relay:
    ori: str
    key: Ed25519PrivateKey
    kid: str
    cert: trustme.LeafCert
    fingerprint: str
    dir: Path
    service: RelayService | None = None
    runner: web.AppRunner | None = None
    client: PeerClient | None = None
    url: str = ""
    urls: dict[str, str] = field(default_factory=dict)

    def pinned(self, *, revoked: bool = False) -> PinnedKey:
        return PinnedKey(
            kid=KeyId(self.kid),
            agency=AgencyId(self.ori),
            public_key=self.key.public_key().public_bytes_raw(),
            not_before=NOW - dt.timedelta(days=30),
            not_after=NOW + dt.timedelta(days=365),
            revoked=revoked,
        )

    def client_ssl(self, ca: trustme.CA) -> ssl.SSLContext:
        return client_context(self.dir / "cert.pem", self.dir / "key.pem", self.dir / "ca.pem")


class Federation:
    """Relays that pin each other; start them, then publish and look at what arrives."""

    def __init__(self, tmp: Path, oris: list[str]) -> None:
        self.ca = trustme.CA()
        self.tmp = tmp
        self.relays: dict[str, Relay] = {}
        self.clock = [NOW]
        for ori in oris:
            d = tmp / ori
            d.mkdir()
            cert = self.ca.issue_cert("127.0.0.1", f"relay-{ori.lower()}.example")
            cert.private_key_pem.write_to_path(str(d / "key.pem"))
            cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
            self.ca.cert_pem.write_to_path(str(d / "ca.pem"))
            der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
            self.relays[ori] = Relay(
                ori=ori,
                key=Ed25519PrivateKey.generate(),
                kid=f"{ori}#2026-k1",
                cert=cert,
                fingerprint=hashlib.sha256(der).hexdigest(),
                dir=d,
            )

    def now(self) -> dt.datetime:
        return self.clock[0]

    async def start(
        self,
        policies: dict[str, str],
        *,
        hop_limit: int = 4,
        rate: float = 1000.0,
        burst: int = 1000,
        max_body: int = 1 << 20,
        keyrings: dict[str, Keyring] | None = None,
    ) -> None:
        for ori, relay in self.relays.items():
            policy = load_policy(policies[ori], source=f"{ori}.yaml", today=NOW.date())
            keyring = (keyrings or {}).get(ori) or Keyring.of(
                r.pinned() for o, r in self.relays.items() if o != ori
            )
            relay.client = PeerClient(relay.urls, relay.client_ssl(self.ca), timeout=5)
            store = SqliteStore(relay.dir / "relay.db")
            ledger = Ledger(
                store,
                agency=ori,
                key=relay.key,
                kid=relay.kid,
                keyring=keyring,
                clock=self.now,
            )
            relay.service = RelayService(
                agency=ori,
                policy=policy,
                keyring=keyring,
                signing_key=relay.key,
                signing_kid=relay.kid,
                store=store,
                sender=relay.client,
                fingerprints={r.fingerprint: o for o, r in self.relays.items() if o != ori},
                hop_limit=hop_limit,
                clock=self.now,
                ledger=ledger,
            )
            app = build_federation_app(
                relay.service,
                max_body_bytes=max_body,
                read_timeout=2.0,
                rate_per_second=rate,
                rate_burst=burst,
            )
            relay.service.start()
            relay.runner = web.AppRunner(app)
            await relay.runner.setup()
            site = web.TCPSite(
                relay.runner,
                "127.0.0.1",
                0,
                ssl_context=server_context(
                    relay.dir / "cert.pem", relay.dir / "key.pem", relay.dir / "ca.pem"
                ),
            )
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            relay.url = f"https://127.0.0.1:{port}"
        for relay in self.relays.values():
            relay.urls.update({o: r.url for o, r in self.relays.items() if o != relay.ori})

    def service(self, ori: str) -> RelayService:
        """``ori``'s running service (after :meth:`start`)."""
        service = self.relays[ori].service
        assert service is not None, f"{ori} is not started"
        return service

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
                if relay.service:
                    await relay.service.drain()

    async def stop(self) -> None:
        for relay in self.relays.values():
            if relay.service:
                await relay.service.stop()
            if relay.client:
                await relay.client.close()
            if relay.runner:
                await relay.runner.cleanup()
            if relay.service:
                relay.service.store.close()
