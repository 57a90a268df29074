"""``relay lab init DIR [--agencies N]``: a complete lab of N agencies on loopback, on disk.

Layout (see ``docs/lab.md``)::

    DIR/emulator.json               the Slack emulator's workspaces (relay emulator --workspaces)
    DIR/ca/ca.pem                   the throwaway CA (its private key is not kept)
    DIR/policies/baseline.yaml      a copy of the shipped baseline the agencies' policies extend
    DIR/<ORI>/relay.yaml            Events API mode, SQLite store, every path relative
    DIR/<ORI>/policy.yaml           extends ../policies/baseline.yaml; every other agency a partner
    DIR/<ORI>/keys/<ORI>-lab-k1.key.pem, .jwk.json   Ed25519 signing key (relay keygen's format)
    DIR/<ORI>/tls/relay.crt, relay.key, ca.pem       mutual TLS on 127.0.0.1
    DIR/<ORI>/secrets/slack-bot-token, slack-signing-secret   (0600, named by *_file)

Ports are chosen once, here (free loopback ports), and written into every URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from relay.core.keys import public_jwk
from relay.core.signing import public_key_bytes
from relay.lab.pki import ThrowawayCA

__all__ = ["CATALOGUE", "MAX_AGENCIES", "TOPICS", "LabAgency", "LabInitError", "init_lab"]

TOPICS: Final = ("bolo", "ctwide-intel", "narcotics", "pattern-crime", "dd-burglaries")
_CODES: Final = {
    "bolo": "BOLO",
    "ctwide-intel": "INTL",
    "narcotics": "NARC",
    "pattern-crime": "PATT",
    "dd-burglaries": "BURG",
}
KID_SUFFIX: Final = "lab-k1"
VALID_DAYS: Final = 90  # certificates, pinned keys; agreements run a year


@dataclass(frozen=True, slots=True)
class LabAgency:
    ori: str
    name: str
    officers: tuple[tuple[str, str], ...]  # (user id, display name)

    @property
    def state(self) -> str:
        return self.ori[:2]

    @property
    def team(self) -> str:
        return f"T0{self.state}{self.ori[6]}LAB"

    def channel(self, topic: str) -> str:
        return f"C0{self.state}{self.ori[6]}{_CODES[topic]}"


CATALOGUE: Final = (
    LabAgency(
        "CT9990100",
        "Havenport PD",
        (("U0OKAFOR01", "Det. Sgt. R. Okafor"), ("U0FERREI02", "Det. L. Ferreira")),
    ),
    LabAgency("MA9990200", "Millbrook PD", (("U0MILLBR01", "Sgt. P. Dunne"),)),
    LabAgency("NY9990300", "Eastfield PD", (("U0EASTFL01", "Det. K. Osei"),)),
    LabAgency("RI9990400", "Granite Falls PD", (("U0GRANIT01", "Det. M. Alvarez"),)),
    LabAgency("NH9990500", "Larkspur PD", (("U0LARKSP01", "Sgt. J. Whitcombe"),)),
    LabAgency("VT9990600", "Stonebridge PD", (("U0STONEB01", "Det. A. Lindqvist"),)),
    LabAgency("ME9990700", "Harrow Bay PD", (("U0HARROW01", "Det. S. Mbeki"),)),
    LabAgency("NJ9990800", "Pinecrest PD", (("U0PINECR01", "Sgt. D. Kowalczyk"),)),
    LabAgency("PA9990900", "Wexley PD", (("U0WEXLEY01", "Det. T. Nakamura"),)),
)
MAX_AGENCIES: Final = len(CATALOGUE)


class LabInitError(Exception):
    """``code`` 2: bad input (the directory, N); 1: the lab could not be written."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class _Ports:
    federation: int
    slack: int
    admin: int


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all held open until every one is chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def _baseline() -> Path:
    shipped = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"
    if not shipped.is_file():
        raise LabInitError(
            f"relay lab init: the shipped policy {shipped} is missing "
            "(run from a checkout: pip install -e .)",
            code=1,
        )
    return shipped


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def _check_dir(directory: Path, agencies: int) -> None:
    if not 2 <= agencies <= MAX_AGENCIES:
        raise LabInitError(
            f"relay lab init: --agencies must be 2 to {MAX_AGENCIES}, not {agencies}"
        )
    if directory.exists() and not directory.is_dir():
        raise LabInitError(f"relay lab init: {directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise LabInitError(
            f"relay lab init: {directory} is not empty (give a new or empty directory)"
        )


def init_lab(
    directory: Path, agencies: int = 3, *, today: dt.date | None = None
) -> list[LabAgency]:
    """Write the lab; raises :class:`LabInitError`. Returns the agencies written."""
    _check_dir(directory, agencies)
    baseline = _baseline()
    chosen = list(CATALOGUE[:agencies])
    now = dt.datetime.now(dt.UTC)
    today = today or now.date()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write(directory / "policies" / "baseline.yaml", baseline.read_bytes())
        numbers = free_ports(1 + 3 * len(chosen))
        emulator_port = numbers[0]
        ports = {a.ori: _Ports(*numbers[1 + 3 * i : 4 + 3 * i]) for i, a in enumerate(chosen)}
        ca = ThrowawayCA(directory / "ca", days=VALID_DAYS)
        pins: dict[str, tuple[str, str]] = {}  # ori -> (certificate sha256, signing key x)
        for a in chosen:
            pins[a.ori] = _material(directory / a.ori, a, ca)
        workspaces = []
        for a in chosen:
            home = directory / a.ori
            bot_token = f"xoxb-{a.team}-{secrets.token_hex(12)}"
            signing_secret = secrets.token_hex(16)
            _write(home / "secrets" / "slack-bot-token", bot_token + "\n", 0o600)
            _write(home / "secrets" / "slack-signing-secret", signing_secret + "\n", 0o600)
            _write(home / "policy.yaml", _policy(a, chosen, today))
            api_url = f"http://127.0.0.1:{emulator_port}/api/"
            _write(home / "relay.yaml", _relay_yaml(a, chosen, ports, pins, api_url, now))
            workspaces.append(_workspace(a, bot_token, signing_secret, ports[a.ori].slack))
        emulator = {"host": "127.0.0.1", "port": emulator_port, "workspaces": workspaces}
        _write(directory / "emulator.json", json.dumps(emulator, indent=2) + "\n", 0o600)
    except OSError as exc:
        raise LabInitError(
            f"relay lab init: cannot write {exc.filename or directory}: "
            f"{exc.strerror or type(exc).__name__}",
            code=1,
        ) from None
    return chosen


def _material(home: Path, a: LabAgency, ca: ThrowawayCA) -> tuple[str, str]:
    """Signing key (as ``relay keygen`` writes it) and TLS certificate; returns the pins."""
    key = Ed25519PrivateKey.generate()
    stem = f"{a.ori}-{KID_SUFFIX}"
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    jwk = public_jwk(public_key_bytes(key), kid=f"{a.ori}#{KID_SUFFIX}")
    (home / "keys").mkdir(parents=True, mode=0o700)
    _write(home / "keys" / f"{stem}.key.pem", pem, 0o600)
    _write(home / "keys" / f"{stem}.jwk.json", json.dumps(jwk, indent=2) + "\n")
    leaf = ca.issue(a.ori)
    tls = home / "tls"
    tls.mkdir(parents=True)
    leaf.cert.replace(tls / "relay.crt")
    leaf.key.replace(tls / "relay.key")
    _write(tls / "ca.pem", ca.ca_path.read_bytes())
    return leaf.sha256, str(jwk["x"])


def _policy(a: LabAgency, chosen: list[LabAgency], today: dt.date) -> str:
    topics = ", ".join(TOPICS)
    expires = (today + dt.timedelta(days=365)).isoformat()
    lines = [
        f"# {a.name} ({a.ori}): lab policy written by `relay lab init`. The rules are the",
        "# shipped baseline's (a copy in ../policies/baseline.yaml); every other lab agency is a",
        "# partner sharing and accepting every topic, without passing anything on.",
        f'version: "lab-{today.isoformat()}"',
        "extends: ../policies/baseline.yaml",
        "",
        "agency:",
        f"  ori: {a.ori}",
        f"  name: {a.name}",
        f"  state: {a.state}",
        "",
        f"topics: [{topics}]",
        "",
        "partners:",
    ]
    for p in chosen:
        if p.ori == a.ori:
            continue
        lines += [
            f"  - ori: {p.ori}",
            f"    name: {p.name}",
            f"    state: {p.state}",
            "    kind: law_enforcement",
            f"    agreement: {{id: LAB-{a.ori}-{p.ori}, expires: {expires}}}",
            f"    share: [{topics}]",
            f"    accept: [{topics}]",
            "    redisseminate: false",
        ]
    return "\n".join(lines) + "\n"


def _relay_yaml(
    a: LabAgency,
    chosen: list[LabAgency],
    ports: dict[str, _Ports],
    pins: dict[str, tuple[str, str]],
    api_url: str,
    now: dt.datetime,
) -> str:
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    start = (now - dt.timedelta(days=1)).strftime(stamp)
    end = (now + dt.timedelta(days=VALID_DAYS)).strftime(stamp)
    mine = ports[a.ori]
    partners = []
    for p in chosen:
        if p.ori == a.ori:
            continue
        fingerprint, x = pins[p.ori]
        partners += [
            f"  - ori: {p.ori}",
            f"    url: https://127.0.0.1:{ports[p.ori].federation}",
            f'    tls_sha256: ["{fingerprint}"]',
            "    keys:",
            f'      - kid: "{p.ori}#{KID_SUFFIX}"',
            f"        public_key: {x}",
            f"        not_before: {start}",
            f"        not_after: {end}",
        ]
    channels = "".join(f"\n    {a.channel(t)}: {t}" for t in TOPICS)
    return f"""# {a.name} ({a.ori}): lab relay written by `relay lab init` (throwaway keys,
# loopback only). Paths are relative to this file. Run the lab: relay lab up LAB_DIR
agency: {a.ori}
policy: policy.yaml
signing_key: keys/{a.ori}-{KID_SUFFIX}.key.pem
signing_kid: "{a.ori}#{KID_SUFFIX}"
store: sqlite:///relay.db
delivery: {{stop_timeout_seconds: 5}}
admin:
  listen: {{host: 127.0.0.1, port: {mine.admin}}}
logging: {{format: json, level: info}}
federation:
  listen: {{host: 127.0.0.1, port: {mine.federation}}}
  tls: {{cert: tls/relay.crt, key: tls/relay.key, ca: tls/ca.pem}}
partners:
{chr(10).join(partners)}
slack:
  team_id: {a.team}
  mode: events
  api_url: {api_url}
  bot_token_file: secrets/slack-bot-token
  signing_secret_file: secrets/slack-signing-secret
  listen: {{host: 127.0.0.1, port: {mine.slack}}}
  channels:{channels}
"""


def _workspace(a: LabAgency, bot_token: str, signing_secret: str, slack_port: int) -> Any:
    from relay.lab.workspaces import handle

    return {
        "team": a.team,
        "name": a.name,
        "bot_token": bot_token,
        "signing_secret": signing_secret,
        "events_url": f"http://127.0.0.1:{slack_port}/slack/events",
        "channels": {t: a.channel(t) for t in TOPICS},
        "users": {
            handle(display): {
                "id": uid,
                "token": f"xoxp-{a.team}-{uid}-{secrets.token_hex(12)}",
                "display_name": display,
            }
            for uid, display in a.officers
        },
    }
