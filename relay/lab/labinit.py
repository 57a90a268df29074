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
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from relay.lab import ports
from relay.lab.pki import ThrowawayCA
from relay.lab.relayyaml import (
    Delivery,
    Listen,
    Material,
    Slack,
    throwaway_tls,
    write_file,
    write_material,
)

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


free_ports = ports.free_ports  # chosen below the ephemeral range (relay.lab.ports)


def _baseline() -> Path:
    shipped = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"
    if not shipped.is_file():
        raise LabInitError(
            f"relay lab init: the shipped policy {shipped} is missing "
            "(run from a checkout: pip install -e .)",
            code=1,
        )
    return shipped


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
        write_file(directory / "policies" / "baseline.yaml", baseline.read_bytes())
        numbers = free_ports(1 + 3 * len(chosen))
        emulator_port = numbers[0]
        ports = {a.ori: _Ports(*numbers[1 + 3 * i : 4 + 3 * i]) for i, a in enumerate(chosen)}
        ca = ThrowawayCA(directory / "ca", days=VALID_DAYS)
        material = {a.ori: _material(directory / a.ori, a, ca) for a in chosen}
        workspaces = []
        for a in chosen:
            home = directory / a.ori
            bot_token = f"xoxb-{a.team}-{secrets.token_hex(12)}"
            signing_secret = secrets.token_hex(16)
            write_file(home / "secrets" / "slack-bot-token", bot_token + "\n", 0o600)
            write_file(home / "secrets" / "slack-signing-secret", signing_secret + "\n", 0o600)
            write_file(home / "policy.yaml", lab_policy(a, chosen, today))
            api_url = f"http://127.0.0.1:{emulator_port}/api/"
            write_file(home / "relay.yaml", _relay_yaml(a, chosen, ports, material, api_url, now))
            workspaces.append(_workspace(a, bot_token, signing_secret, ports[a.ori].slack))
        emulator = {"host": "127.0.0.1", "port": emulator_port, "workspaces": workspaces}
        write_file(directory / "emulator.json", json.dumps(emulator, indent=2) + "\n", 0o600)
    except OSError as exc:
        raise LabInitError(
            f"relay lab init: cannot write {exc.filename or directory}: "
            f"{exc.strerror or type(exc).__name__}",
            code=1,
        ) from None
    return chosen


def _material(home: Path, a: LabAgency, ca: ThrowawayCA) -> Material:
    """Signing key (as ``relay keygen`` writes it) and TLS certificate."""
    return write_material(
        home,
        a.ori,
        f"{a.ori}#{KID_SUFFIX}",
        throwaway_tls(ca, a.ori),
        signing_key=f"keys/{a.ori}-{KID_SUFFIX}.key.pem",
        cert="tls/relay.crt",
        tls_key="tls/relay.key",
        ca="tls/ca.pem",
        jwk=True,
    )


def lab_policy(
    a: LabAgency,
    chosen: list[LabAgency],
    today: dt.date,
    *,
    extends: str = "../policies/baseline.yaml",
) -> str:
    """A lab agency's policy: the baseline's rules, every other agency of ``chosen`` a
    partner sharing and accepting every topic, nothing passed on."""
    topics = ", ".join(TOPICS)
    expires = (today + dt.timedelta(days=365)).isoformat()
    lines = [
        f"# {a.name} ({a.ori}): lab policy written by `relay lab init`. The rules are the",
        "# shipped baseline's (a copy in ../policies/baseline.yaml); every other lab agency is a",
        "# partner sharing and accepting every topic, without passing anything on.",
        f'version: "lab-{today.isoformat()}"',
        f"extends: {extends}",
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
    material: dict[str, Material],
    api_url: str,
    now: dt.datetime,
) -> str:
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=VALID_DAYS)
    mine = ports[a.ori]
    partners = [
        material[p.ori].partner(f"https://127.0.0.1:{ports[p.ori].federation}", start, end)
        for p in chosen
        if p.ori != a.ori
    ]
    config = material[a.ori].config(
        policy="policy.yaml",
        store="sqlite:///relay.db",
        delivery=Delivery(stop_timeout_seconds=5),
        admin=Listen("127.0.0.1", mine.admin),
        logging=("json", "info"),
        listen=Listen("127.0.0.1", mine.federation),
        partners=partners,
        slack=Slack(
            team_id=a.team,
            mode="events",
            api_url=api_url,
            bot_token_file="secrets/slack-bot-token",  # noqa: S106 - a file name
            signing_secret_file="secrets/slack-signing-secret",  # noqa: S106
            listen=Listen("127.0.0.1", mine.slack),
            channels={a.channel(t): t for t in TOPICS},
        ),
    )
    return config.render(
        f"{a.name} ({a.ori}): lab relay written by `relay lab init` (throwaway keys,\n"
        "loopback only). Paths are relative to this file. Run the lab: relay lab up LAB_DIR"
    )


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
