"""Relays started from relay.yaml files, shared by the tests that run them that way.

An agency's files (``write_relay``): TLS from a throwaway trustme CA, a signing key from
``relay keygen``, and ``policy.yaml`` (``write_policy``). ``relay_yaml`` writes the config
that pins its partners; ``start_pair`` starts a receiver then a sender that knows its URL;
``publish_and_drain`` takes one message through the sender's outbox and the receiver's
inbound queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import trustme

from relay.app import RunningRelay, start_relay
from relay.config import read_config
from relay.core.model import SlackMessage
from relay.core.slack_parse import parse_event
from relay.flow.inbound import Delivery
from tests.federation.harness import policy_text, publish

CT, MA = "CT9990100", "MA9990200"
# A partner URL nothing answers on: the receiver of a pair never sends (and starts first).
NOWHERE = "https://127.0.0.1:1"
# The admin listener (health, readiness, metrics) on a free port.
ADMIN = "admin:\n  listen: {host: 127.0.0.1, port: 0}\n"
BOLO_TEXT = "BOLO: stolen white F-150, CT reg 7KX219, Route 9 NB."

# An agency's files, by what ``write_relay`` returns: dir, key, kid, x, fp.
RelayFiles = dict[str, str]


def keygen(tmp: Path, ori: str) -> tuple[Path, str, str]:
    """``relay keygen`` into ``tmp/keys``: the private key's path, its kid and public x."""
    out = tmp / "keys"
    subprocess.run(
        [sys.executable, "-m", "relay", "keygen", "--agency", ori, "--out", str(out),
         "--kid-suffix", "2026-k1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    jwk = json.loads((out / f"{ori}-2026-k1.jwk.json").read_text())
    return out / f"{ori}-2026-k1.key.pem", jwk["kid"], jwk["x"]


def write_relay(tmp: Path, ori: str, ca: trustme.CA) -> RelayFiles:
    """``tmp/ori`` with tls.crt, tls.key, ca.pem and a signing key."""
    d = tmp / ori
    d.mkdir()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(d / "tls.key"))
    cert.cert_chain_pems[0].write_to_path(str(d / "tls.crt"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    key, kid, x = keygen(d, ori)
    return {
        "dir": str(d),
        "key": str(key),
        "kid": kid,
        "x": x,
        "fp": hashlib.sha256(der).hexdigest(),
    }


def write_policy(me: RelayFiles, ori: str, partners: list[dict[str, Any]]) -> None:
    """``policy.yaml`` in ``me``'s directory (``partners`` as ``policy_text`` takes them)."""
    (Path(me["dir"]) / "policy.yaml").write_text(policy_text(ori, partners))


def write_bolo_policies(ct: RelayFiles, ma: RelayFiles) -> None:
    """CT and MA share and accept BOLOs with each other."""
    write_policy(ct, CT, [{"ori": MA, "share": "[bolo]", "accept": "[bolo]"}])
    write_policy(ma, MA, [{"ori": CT, "share": "[bolo]", "accept": "[bolo]"}])


def relay_yaml(me: RelayFiles, ori: str, partners: list[tuple[RelayFiles, str, str]]) -> str:
    """relay.yaml for ``ori``: ``partners`` are (files, ori, url), each pinned by TLS
    fingerprint and signing key."""
    text = f"""
agency: {ori}
policy: policy.yaml
signing_key: {me["key"]}
signing_kid: "{me["kid"]}"
store: sqlite:///relay.db
federation:
  listen: {{host: 127.0.0.1, port: 0}}
  tls: {{cert: tls.crt, key: tls.key, ca: ca.pem}}
partners:
"""
    for peer, peer_ori, url in partners:
        text += f"""  - ori: {peer_ori}
    url: {url}
    tls_sha256: [{peer["fp"]}]
    keys:
      - kid: "{peer["kid"]}"
        public_key: {peer["x"]}
        not_before: 2026-01-01T00:00:00Z
        not_after: 2030-01-01T00:00:00Z
"""
    return text


def write_relay_yaml(me: RelayFiles, text: str) -> Path:
    path = Path(me["dir"]) / "relay.yaml"
    path.write_text(text)
    return path


async def start_pair(
    ct: RelayFiles, ma: RelayFiles, *, ct_extra: str = "", ma_extra: str = ""
) -> tuple[RunningRelay, RunningRelay, asyncio.Queue[Delivery]]:
    """MA started first (its CT URL goes nowhere), then CT pointed at MA's real URL; each
    relay.yaml ends with its ``*_extra`` sections. What MA would post (without a ``slack:``
    section) lands in the queue returned third. The caller stops both."""
    delivered: asyncio.Queue[Delivery] = asyncio.Queue()
    ma_relay = await start_relay(
        read_config(write_relay_yaml(ma, relay_yaml(ma, MA, [(ct, CT, NOWHERE)]) + ma_extra)),
        deliver=delivered.put,
    )
    try:
        ct_config = relay_yaml(ct, CT, [(ma, MA, ma_relay.url)]) + ct_extra
        ct_relay = await start_relay(read_config(write_relay_yaml(ct, ct_config)))
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
