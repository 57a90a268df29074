"""Issue #6: sensitive text stays in its own workspace, never in logs, metric labels, audit
records, error messages or exceptions.

Canary strings (``CANARY-`` and random hex, one per path) are sent through every path the
relay has: a shared BOLO, an informant line that is stripped, a classified paragraph that
blocks, a thread reply, an edit, a delete, a photo's file name, title, alt text and EXIF, the
officer's display name, a non-federated channel, Slack events with a bad signature (and signed
junk), raw HTTPS to the federation listener (malformed JSON, forged, misaddressed, unknown
peer, a bad file push), envelopes handed to the service directly, a bad audit checkpoint, and
bad values in ``relay.yaml`` and a policy file through ``relay config check`` and ``relay policy
check``. Then no canary may appear in: the JSON log lines (DEBUG), the stdlib log records,
any relay's Prometheus exposition, the audit tables and refusals as stored, refusal bodies,
exception messages, the services' failure lists, or the CLI output (including ``relay queue
list`` over the stores the flow left). What was refused at the door is not stored at all. The
canaries that are shared legitimately appear in the partner's workspace (and only there),
which, with the log events, audit records and metrics asserted, proves the flow ran.

Identifiers are not canaried: envelope ids, key ids, rule ids, config keys and enum names are
what logs and errors are meant to carry.

One Network (two agencies: Havenport CT and Millbrook MA), 127.0.0.1 only, no sleeps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from prometheus_client import generate_latest

from relay.cli import main as relay_cli
from relay.core.audit import CheckpointError
from relay.core.envelope import Author, EnvelopeId, EnvelopeKind, build_envelope, sign_origin
from relay.core.model import AgencyId
from relay.errors import VerificationError
from relay.federation.tls import client_context
from relay.lab.emulator import ChannelSpec
from relay.lab.network import Agency, Network
from relay.logs import configure_logging

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "examples"
CT, MA, NY = "CT9990100", "MA9990200", "NY9990300"
OFFICER = "U0OKAFOR01"

# One canary per path; "x" after the dash keeps a hex digit run from looking like "CI-12".
CANARY: dict[str, str] = {
    name: f"CANARY-x{secrets.token_hex(8)}"
    for name in (
        "shared",  # an ordinary BOLO line: shared with MA
        "informant",  # beside a CI number: the line is stripped
        "classified",  # in a portion-marked (S//NF) paragraph: the message is blocked
        "reply",  # a thread reply: shared
        "edit",  # the edited BOLO: shared
        "deleted",  # a message later deleted: shared, then retracted
        "file_name",
        "file_title",
        "file_alt",
        "exif",  # in the photo's EXIF: stripped by re-encoding
        "officer",  # the posting officer's display name
        "private",  # a channel the relay does not federate
        "bad_signature",  # a Slack event whose signature is wrong
        "signed_junk",  # a correctly signed body that is not JSON
        "poison",  # a correctly signed event the parser cannot use
        "fed_json",  # malformed JSON to the federation listener
        "fed_forged",  # an envelope signed with a key that is not MA's
        "fed_field",  # an unknown envelope member (a phrase, as text would be)
        "fed_misaddressed",  # signed by MA, addressed to another agency
        "fed_stranger",  # from a TLS certificate no partner is pinned to
        "fed_file",  # a file push whose bytes do not hash to its name
        "direct",  # bodies handed to handle_peer_envelope directly
        "checkpoint",  # a bad audit checkpoint token
        "config",  # bad values in relay.yaml
        "policy",  # bad values in a policy file
    )
}
# What MA's officers may read (in MA's Slack workspace, nowhere else).
SHARED = ("shared", "reply", "edit", "file_title", "file_alt", "officer")
# What was refused at the door: not stored anywhere, not even in the agency's own database.
REFUSED = (
    "bad_signature",
    "signed_junk",
    "fed_json",
    "fed_field",
    "fed_stranger",
    "fed_file",
    "direct",
    "checkpoint",
)
# What must not reach MA's workspace at all.
WITHHELD = ("informant", "classified", "exif", "private", "poison", "bad_signature")


def _agencies() -> list[Agency]:
    return [
        Agency(
            CT,
            "Havenport PD",
            "T0HAVENPT1",
            EXAMPLES / "ct9990100-havenport.yaml",
            officers=((OFFICER, f"Det. Sgt. {CANARY['officer']}"),),
        ),
        Agency(MA, "Millbrook PD", "T0MILLBRK1", EXAMPLES / "ma9990200-millbrook.yaml"),
    ]


@pytest.fixture
def json_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """JSON logs at DEBUG into a StringIO for the whole flow (and the stdlib records in
    caplog); the logging configuration is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    relay_level = logging.getLogger("relay").level
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    caplog.set_level(logging.DEBUG, logger="relay")
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("relay").setLevel(relay_level)
    structlog.reset_defaults()


def _photo(exif_text: str) -> bytes:
    img = Image.new("RGB", (64, 48), (30, 90, 140))
    exif = Image.Exif()
    exif[0x010E] = exif_text  # ImageDescription
    exif[0x010F] = "DoorbellCam"
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _slack_signature(secret: str, ts: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def _envelope(
    key: Ed25519PrivateKey, *, lines: list[str], audience: str, author: str, kid: str
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    unsigned = build_envelope(
        issuer=AgencyId(MA),
        audience=AgencyId(audience),
        onward=False,
        envelope_id=EnvelopeId(f"{MA}.C0FORGED01.{time.time():.6f}"),
        issued_at=now,
        expires_at=now + dt.timedelta(days=1),
        kind=EnvelopeKind.POST,
        topic="bolo",
        marking="LES",
        author=Author(name=author, agency=AgencyId(MA)),
        lines=lines,
        salts=[secrets.token_urlsafe(16) for _ in lines],
    )
    signed = sign_origin(unsigned, key=key, kid=kid)
    return json.dumps(signed.to_wire(), separators=(",", ":")).encode()


def _workspace_text(net: Network, ori: str) -> str:
    """Everything MA's officers can read: messages (text, username, metadata) and files."""
    assert net.emu is not None
    team = net.nodes[ori].agency.team
    ws = net.emu.workspace(team)
    parts = [json.dumps(net.emu.messages(team, ch), default=str) for ch in ws.channels]
    for info in ws.files.values():
        parts.append(f"{info.name}\n{info.title}\n{info.alt_txt}")
        parts.append(info.content.decode("latin-1") if info.content else "")
    return "\n".join(parts)


def _tables(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The audit ledger, its head, checkpoints and the refusal records, as stored."""
    with sqlite3.connect(db_path) as db:
        return {
            table: list(db.execute(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
            for table in ("audit_log", "audit_head", "audit_checkpoints", "refusals")
        }


def _whole_db(db_path: Path) -> str:
    """Every row of every table, bytes included: for what must not be stored at all."""
    with sqlite3.connect(db_path) as db:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [row for name in names for row in db.execute(f'SELECT * FROM "{name}"')]  # noqa: S608
    return "\n".join(
        " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
        for row in rows
    )


def _found(text: str, names: tuple[str, ...] | None = None) -> list[str]:
    """The canaries (by name) that occur in ``text``."""
    return [n for n in names or tuple(CANARY) if CANARY[n] in text]


# -- the Slack side ------------------------------------------------------------------------------
async def _slack_paths(net: Network) -> None:
    """Officers post, reply, edit, delete and upload, and post in a channel not federated."""
    assert net.emu is not None
    ct = net.nodes[CT].agency
    bolo = (
        "BOLO - armed robbery, Havenport Food Mart, 06/02 1420 hrs.\n"
        f"Suspect vehicle: dark green Subaru Outback, plate noted as {CANARY['shared']}.\n"
        f"Per CI-4471 he is armed and carries {CANARY['informant']} in the glovebox.\n"
        "Last seen northbound on Route 9 toward Millbrook."
    )
    root = net.post(
        CT,
        "bolo",
        OFFICER,
        bolo,
        files=[
            (
                f"suspect-{CANARY['file_name']}.jpg",
                _photo(f"camera note {CANARY['exif']}"),
                f"Suspect at pump 4 {CANARY['file_title']}",
                f"Person in hoodie {CANARY['file_alt']}",
            )
        ],
    )
    net.post(
        CT,
        "bolo",
        OFFICER,
        f"(S//NF) Intercept places the suspect with {CANARY['classified']} tonight.\n"
        "Watch the Route 9 gas station for the green Subaru.",
    )
    net.post(
        CT,
        "bolo",
        OFFICER,
        f"Update: plate may be switched, also check {CANARY['reply']} on the Subaru.",
        thread_ts=root,
    )
    net.emu.edit_as_user(
        ct.team,
        ct.channel("bolo"),
        OFFICER,
        root,
        bolo.replace("northbound", f"southbound past {CANARY['edit']} exit"),
    )
    gone = net.post(
        CT,
        "bolo",
        OFFICER,
        f"BOLO: white van seen near {CANARY['deleted']} on Route 9, driver unknown.",
    )
    private = "C0HAVGEN01"
    net.emu.create_channel(ct.team, ChannelSpec(id=private, name="squad-room"))
    net.emu.post_as_user(
        ct.team,
        private,
        OFFICER,
        f"Squad room only: the van belongs to {CANARY['private']}, keep it quiet.",
    )
    events = 6
    await net.settle(CT, events)
    net.emu.delete_as_user(ct.team, ct.channel("bolo"), OFFICER, gone)
    events += 1
    await net.settle(CT, events)


async def _events_endpoint(net: Network) -> list[str]:
    """Slack events sent straight to CT's Events URL; returns the response bodies."""
    assert net.emu is not None
    node = net.nodes[CT]
    secret = net.emu.workspace(node.agency.team).signing_secret
    channel = node.agency.channel("bolo")
    now = str(int(time.time()))

    def callback(event: dict[str, Any], event_id: str) -> bytes:
        doc = {
            "type": "event_callback",
            "team_id": node.agency.team,
            "event_id": event_id,
            "event_time": int(now),
            "event": event,
        }
        return json.dumps(doc).encode()

    forged = callback(
        {
            "type": "message",
            "channel": channel,
            "user": OFFICER,
            "ts": f"{now}.000901",
            "text": f"Forged: release the file on {CANARY['bad_signature']} to everyone.",
        },
        "Ev0FORGED01",
    )
    poison = callback(
        {
            "type": "message",
            "channel": channel,
            "user": OFFICER,
            "ts": f"{now}.000902",
            "text": {CANARY["poison"]: f"nested text {CANARY['poison']}"},
        },
        "Ev0POISON01",
    )
    junk = f"not json at all: {CANARY['signed_junk']}".encode()

    def signed(body: bytes) -> dict[str, str]:
        return {
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": _slack_signature(secret, now, body),
        }

    wrong = {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64}
    requests = [
        (forged, wrong, 401),  # a bad signature
        (forged, {"X-Slack-Request-Timestamp": CANARY["bad_signature"]}, 401),  # none at all
        (junk, wrong, 401),
        (junk, signed(junk), 200),  # signed, but not JSON: acknowledged, refused
        (poison, signed(poison), 200),  # signed, text not a string: refused (malformed)
    ]
    bodies = []
    async with aiohttp.ClientSession() as session:
        for body, headers, status in requests:
            assert node.relay.slack_url is not None
            async with session.post(
                node.relay.slack_url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
            ) as resp:
                assert resp.status == status, (status, await resp.text())
                bodies.append(await resp.text())
    await node.relay.wait_idle()  # the poison event was taken: it is judged (and dropped)
    return bodies


# -- the federation side -------------------------------------------------------------------------
async def _federation_paths(net: Network) -> tuple[list[str], list[str]]:
    """Raw HTTPS to CT's federation listener as MA (and as a stranger), then bodies handed to
    the service directly. Returns the response bodies and the exception messages."""
    ca, leaves, keys = net.ca, net.leaves, net.keys  # the network's own throwaway PKI
    assert ca is not None
    node = net.nodes[CT]
    url = net.urls[CT]
    as_ma = client_context(leaves[MA].cert, leaves[MA].key, ca.ca_path)
    stranger = ca.issue("ZZ9990999")
    as_stranger = client_context(stranger.cert, stranger.key, ca.ca_path)

    forged = _envelope(
        Ed25519PrivateKey.generate(),
        lines=[f"BOLO: the courier is {CANARY['fed_forged']}, armed."],
        audience=CT,
        author=f"Det. {CANARY['fed_forged']}",
        kid=f"{MA}#demo",
    )
    misaddressed = _envelope(
        keys[MA],
        lines=[f"BOLO: the courier is {CANARY['fed_misaddressed']}, armed."],
        audience=NY,
        author=f"Det. {CANARY['fed_misaddressed']}",
        kid=f"{MA}#demo",
    )
    extra = json.loads(forged)
    extra[f"{CANARY['fed_field']} is the informant"] = CANARY["fed_field"]
    with_field = json.dumps(extra).encode()
    bad_json = f'{{"payload": "{CANARY["fed_json"]}", "signatures": ['.encode()
    not_envelope = json.dumps({"text": CANARY["fed_json"], "lines": [CANARY["fed_json"]]}).encode()

    envelopes, files = "/v1/envelopes", "/v1/files/"
    as_json, text_plain = "application/json", "text/plain"
    stranger_body = f"{CANARY['fed_stranger']}".encode()
    file_body = f"JPEG {CANARY['fed_file']}".encode()
    requests = [
        (as_ma, "POST", envelopes, bad_json, as_json, 400),  # bad_request
        (as_ma, "POST", envelopes, not_envelope, as_json, 400),  # malformed
        (as_ma, "POST", envelopes, forged, as_json, 403),  # signature_invalid
        (as_ma, "POST", envelopes, with_field, as_json, 400),  # unknown_field
        (as_ma, "POST", envelopes, misaddressed, as_json, 403),  # not_addressed
        (as_stranger, "POST", envelopes, misaddressed, as_json, 403),  # peer_unknown
        (as_stranger, "POST", envelopes, stranger_body, text_plain, 403),
        (as_ma, "PUT", files + "ab" * 32, file_body, "image/jpeg", 400),  # wrong hash
        (as_ma, "PUT", files + "cd" * 32, file_body, text_plain, 415),  # not an image
    ]
    bodies: list[str] = []
    for ctx, method, path, body, mime, status in requests:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session,
            session.request(method, url + path, data=body, headers={"Content-Type": mime}) as resp,
        ):
            text = await resp.text()
            assert resp.status == status, (path, status, resp.status, text)
            assert set(json.loads(text)) == {"error"}, text
            bodies.append(text)

    errors: list[str] = []
    direct = [
        f"{CANARY['direct']} is not JSON".encode(),
        json.dumps({"payload": CANARY["direct"], "signatures": []}).encode(),
        json.dumps([CANARY["direct"]]).encode(),
        json.dumps({**json.loads(forged), "payload": CANARY["direct"]}).encode(),
        with_field,
        misaddressed,
    ]
    for body in direct:
        with pytest.raises(VerificationError) as caught:
            await node.relay.parts.door.handle_peer_envelope(body, peer=MA)
        errors += [str(caught.value), repr(caught.value), caught.value.message, caught.value.code]

    ledger = net.nodes[MA].relay.ledger
    assert ledger is not None
    bad_token = f"eyJhbGciOiJFZERTQSJ9.{CANARY['checkpoint']}.c2ln"
    with pytest.raises(CheckpointError) as caught_cp:
        ledger.receive_checkpoint(CT, bad_token)
    errors += [str(caught_cp.value), repr(caught_cp.value)]
    # and a good checkpoint both ways, so the checkpoint tables are not empty
    own = net.nodes[CT].relay.ledger
    assert own is not None
    assert ledger.receive_checkpoint(CT, own.make_checkpoint()) == "stored"
    return bodies, errors


# -- the command line ----------------------------------------------------------------------------
RELAY_YAML = """\
agency: CT9990100
policy: policy.yaml
signing_key: keys/ct.key.pem
signing_kid: "CT9990100#k1"
store: postgresql://relay_ct:{c}@db.internal:5432/relay_ct
logging: {{format: json-{c}, level: loud-{c}}}
federation:
  listen: {{host: 127.0.0.1, port: 8443}}
  tls: {{cert: tls/relay.crt, key: tls/relay.key, ca: tls/ca.pem}}
partners:
  - ori: MA9990200
    url: http://relay.millbrook.test:8443/{c}
    tls_sha256: ["{c}"]
    keys:
      - kid: "MA9990200#k1"
        public_key: {c}
        not_before: {c}
        not_after: 2030-06-30T00:00:00Z
        revoked: {c}
slack:
  team_id: T0TESTWS01
  mode: {c}
  api_url: https://slack.com/api/
  bot_token: xoxb-{c}
  signing_secret: {c}
  listen: {{host: 127.0.0.1, port: 3000}}
  channels:
    C0TESTBOLO: bolo
"""

POLICY_YAML = """\
version: "2026-11-26"
extends: {baseline}
agency:
  ori: CT9990100
  name: Havenport PD
  state: CT
topics: [bolo]
ceiling: {c}
tearline: {c}
partners:
  - ori: MA9990200
    name: Millbrook PD
    state: MA
    kind: law_enforcement
    agreement: {{id: IEA-CT-MA-2025-014, expires: {c}}}
    share: [bolo]
    accept: [bolo]
    redisseminate: {c}
patterns:
  codename:
    regex:
      - '{c}(unclosed'
      - '{c} of [z-a]'
"""


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = relay_cli(argv)
    got = capsys.readouterr()
    return code, got.out + got.err


def _cli_paths(tmp: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """``relay config check`` and ``relay policy check`` on files with canaries in bad
    values (secrets written inline, a password in the store URL, bad enums, bad regexes)."""
    cli = tmp / "cli"
    cli.mkdir()
    policy = cli / "policy.yaml"
    policy.write_text(
        POLICY_YAML.format(c=CANARY["policy"], baseline=ROOT / "policies" / "baseline.yaml"),
        encoding="utf-8",
    )
    config = cli / "relay.yaml"
    config.write_text(RELAY_YAML.format(c=CANARY["config"]), encoding="utf-8")
    outputs = []
    code, out = _cli(["config", "check", str(config)], capsys)
    assert code == 2, out
    assert "config invalid" in out
    assert "must not be written in the YAML" in out  # the inline secrets were seen
    outputs.append(out)
    code, out = _cli(["policy", "check", str(policy)], capsys)
    assert code == 2, out
    assert "bad regex in pattern set 'codename'" in out
    outputs.append(out)
    broken = cli / "broken.yaml"  # a YAML syntax error on the line holding the canary
    broken.write_text(
        f"version: '2026-11-26'\npatterns:\n  codename:\n    regex: ['{CANARY['policy']}\n\t- x\n",
        encoding="utf-8",
    )
    code, out = _cli(["policy", "check", str(broken)], capsys)
    assert code == 2, out
    assert "YAML syntax error" in out
    outputs.append(out)
    for ori in (CT, MA):  # what an operator lists of the queues the flow left behind
        code, out = _cli(
            ["queue", "list", "--store", f"sqlite:///{tmp / ori / 'relay.db'}", "--state", "all"],
            capsys,
        )
        assert code == 0, out
        assert "partner_unknown" in out, out  # the dead letters (NY, probation: no relay)
        outputs.append(out)
    return outputs


# -- the test ------------------------------------------------------------------------------------
async def test_canaries_reach_no_log_metric_audit_record_or_error(
    tmp_path: Path,
    json_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    async with Network(tmp_path, _agencies()) as net:
        await _slack_paths(net)
        event_bodies = await _events_endpoint(net)
        fed_bodies, errors = await _federation_paths(net)
        for ori in (CT, MA):
            await net.nodes[ori].relay.drain()

        # The flow happened: MA's officers read the shared canaries, and nothing withheld.
        seen = _workspace_text(net, MA)
        assert _found(seen, SHARED) == list(SHARED), "a shared canary did not reach MA"
        assert _found(seen, WITHHELD) == [], "withheld text reached MA's workspace"
        assert CANARY["deleted"] not in seen, "the deleted message's copy is still up"
        assert "southbound" in seen
        assert "Last seen" in seen

        metrics = {
            ori: generate_latest(n.relay.metrics.registry).decode() for ori, n in net.nodes.items()
        }
        failures = {
            ori: repr((list(n.relay.parts.recorder.recent), n.relay.store.queue_entries()))
            for ori, n in net.nodes.items()
        }
        rows = {ori: repr(n.relay.store.audit_rows()) for ori, n in net.nodes.items()}
    tables = {ori: _tables(tmp_path / ori / "relay.db") for ori in (CT, MA)}
    stored = {ori: _whole_db(tmp_path / ori / "relay.db") for ori in (CT, MA)}
    cli_out = _cli_paths(tmp_path, capsys)
    elapsed = time.monotonic() - started

    # -- not vacuous ---------------------------------------------------------------------------
    log_text = json_logs.getvalue()
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    events = {line.get("event") for line in lines}
    assert {"refusals_opened", "dead_letter"} <= events, events
    # one line when a peer and reason first refuse in a window (#15), the count at its close
    refused = [line for line in lines if line.get("event") == "refusals_opened"]
    assert {line["reason"] for line in refused} >= {
        "bad_request",
        "signature_invalid",
        "unknown_field",
        "not_addressed",
        "peer_unknown",
    }
    for ori in (CT, MA):
        assert len(tables[ori]["audit_log"]) >= 5, ori
        assert tables[ori]["audit_checkpoints"], ori
    assert tables[CT]["refusals"], "the refusals were recorded"
    audit = [json.loads(row[4]) for row in tables[CT]["audit_log"]]
    assert {"decision", "sign", "forward", "refusal"} <= {r["event"] for r in audit}
    assert any(r.get("outcome") == "block" for r in audit), "the classified post was blocked"
    assert any(r.get("outcome") == "redact" for r in audit), "the informant line was stripped"
    redacted = 'relay_rule_hits_total{action="redact",direction="outbound",rule="informant'
    assert redacted in metrics[CT]
    assert (
        'relay_envelopes_refused_total{partner="MA9990200",reason="not_addressed"}'
        in (metrics[CT])
    )
    assert len(errors) >= 20

    # -- no canary anywhere it must not be -----------------------------------------------------
    records = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.msg!r} {r.args!r}" for r in caplog.records
    )
    places = {
        "json log lines": log_text,
        "stdlib log records": records,
        **{f"{ori} metrics": text for ori, text in metrics.items()},
        **{f"{ori} audit rows": text for ori, text in rows.items()},
        **{
            f"{ori} table {name}": repr(found)
            for ori, named in tables.items()
            for name, found in named.items()
        },
        **{f"{ori} failure lists": text for ori, text in failures.items()},
        "events endpoint answers": "\n".join(event_bodies),
        "federation answers": "\n".join(fed_bodies),
        "exception messages": "\n".join(errors),
        "cli output": "\n".join(cli_out),
    }
    leaks = {where: _found(text) for where, text in places.items() if _found(text)}
    assert leaks == {}, f"canaries leaked: {leaks}"
    kept = {ori: _found(text, REFUSED) for ori, text in stored.items() if _found(text, REFUSED)}
    assert kept == {}, f"refused input was stored: {kept}"
    assert CANARY["shared"] in stored[CT], "the stores were read (the event queue holds it)"
    assert elapsed < 60, elapsed
