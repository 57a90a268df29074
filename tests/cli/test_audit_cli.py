"""``relay audit verify|export|disseminations|checkpoints``: the command-line contract
(relay/commands/audit/), against a real SQLite store written through the ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relay.cli import main
from relay.commands.audit import CSV_HEADER
from relay.core.audit import GENESIS, AuditEvent, AuditRecord, rfc3339, sign_checkpoint
from relay.core.keys import Keyring
from relay.core.signing import b64url_encode, public_key_bytes
from relay.ledger import Ledger
from relay.store.sqlite import SqliteStore

ROOT: Final = Path(__file__).resolve().parents[2]
CT, MA, RI = "CT9990100", "MA9990200", "RI9990400"
KID: Final = "CT9990100#2026-k1"
T0: Final = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
DIGEST: Final = "ab" * 32
POLICY: Final = "CT9990100@0123456789ab"
CONFIG: Final = f"""\
agency: {CT}
policy: policy.yaml
signing_key: signing.key.pem
signing_kid: "{KID}"
store: sqlite:///relay.db
federation:
  listen: {{host: 127.0.0.1, port: 8443}}
  tls: {{cert: tls.crt, key: tls.key, ca: ca.pem}}
"""
OK_LINE: Final = re.compile(
    r"ok: (\d+) records, head (\d+) ([0-9a-f]{12}), (\d+) checkpoints\n"
    r"time: covered from record (\d+)"
)


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.config = tmp / "relay.yaml"
        self.config.write_text(CONFIG, encoding="utf-8")
        self.key = Ed25519PrivateKey.generate()
        (tmp / "signing.key.pem").write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.clock = [T0]

    def ledger(self, store: SqliteStore) -> Ledger:
        return Ledger(
            store,
            agency=CT,
            key=self.key,
            kid=KID,
            keyring=Keyring.of([]),
            clock=lambda: self.clock[0],
        )

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.dir / "relay.db", isolation_level=None)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """Six forwards over four days (two to RI), a decision, and a signed checkpoint."""
    s = Setup(tmp_path)
    store = SqliteStore(tmp_path / "relay.db")
    ledger = s.ledger(store)
    for day in range(4):
        s.clock[0] = T0 + dt.timedelta(days=day)
        partner = RI if day % 2 else MA
        ledger.append(
            [
                ledger.entry(
                    "forward",
                    source=CT,
                    destination=partner,
                    envelope_id=f"env-{day}",
                    digest=DIGEST,
                    policy=POLICY,
                    topic="bolo",
                    outcome="accepted",
                    rules=("informant.identity", "pii.dob") if day == 0 else (),
                )
            ]
        )
    ledger.append([ledger.entry("decision", outcome="block", rules=("classified.marking",))])
    ledger.make_checkpoint()  # seq 5 signed, recorded as seq 6
    store.close()
    return s


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code: int, out: str, err: str, expected: int) -> str:
    assert code == expected, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- verify ------------------------------------------------------------------------------------
def test_verify_ok_then_tampering_names_the_record(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, err) == (0, "")
    match = OK_LINE.fullmatch(out.strip())
    assert match is not None, out
    assert match.group(1) == "6"
    assert match.group(2) == "6"
    assert match.group(4) == "1"  # our own kept checkpoint
    assert match.group(5) == "1"  # every record is version 2: time covered from the first
    with setup.db() as db:
        db.execute("UPDATE audit_log SET record = replace(record, 'env-2', 'env-9') WHERE seq = 3")
    code, out, err = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out, err) == (1, "broken: record 3: edited\n", "")


def test_verify_reads_are_audited(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("verify", "--config", str(setup.config), capsys=capsys)[0] == 0
    store = SqliteStore(setup.dir / "relay.db")
    try:
        last = store.audit_rows()[-1].record
    finally:
        store.close()
    assert (last.event, last.outcome, last.count) == ("audit_read", "verify", 6)
    code, out, _ = run("verify", "--config", str(setup.config), capsys=capsys)
    assert code == 0
    assert out.startswith("ok: 7 records, head 7 ")


def test_verify_finds_a_deleted_record(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    with setup.db() as db:
        db.execute("DELETE FROM audit_log WHERE seq = 2")
    code, out, _ = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out) == (1, "broken: record 2: deleted\n")


def test_truncation_is_found_with_a_partners_checkpoints(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A partner keeps our checkpoint; we cut our log back, head and own checkpoint included.
    The chain alone is consistent; the partner's export shows the truncation, then the fork
    once the cut history grows past the checkpoint again."""
    code, exported, _ = run(
        "checkpoints", "--config", str(setup.config), "--issuer", CT, capsys=capsys
    )
    assert code == 0
    line = json.loads(exported.splitlines()[0])
    assert set(line) == {"issuer", "seq", "head", "at", "received_at", "token"}
    assert (line["issuer"], line["seq"]) == (CT, 5)
    partner_file = tmp_path / "from-ma.jsonl"
    partner_file.write_text(json.dumps({"token": line["token"]}) + "\n\n", encoding="utf-8")
    with setup.db() as db:
        prev = db.execute("SELECT hash FROM audit_log WHERE seq = 3").fetchone()[0]
        db.execute("DELETE FROM audit_log WHERE seq > 3")
        db.execute("DELETE FROM audit_checkpoints")
        db.execute("UPDATE audit_head SET seq = 3, hash = ?", (prev,))
    code, out, _ = run("verify", "--config", str(setup.config), capsys=capsys)
    assert code == 0  # nothing in the store itself tells
    code, out, _ = run(
        "verify",
        "--config",
        str(setup.config),
        "--checkpoints",
        str(partner_file),
        capsys=capsys,
    )
    # the first verify's audit_read record became seq 4: the checkpoint names seq 5
    assert (code, out) == (1, "broken: record 5: truncated\n")
    # that verify appended seq 5 too: a record there that differs from the checkpoint
    code, out, _ = run(
        "verify", "--config", str(setup.config), "--checkpoints", str(partner_file), capsys=capsys
    )
    assert (code, out) == (1, "broken: record 5: forked\n")


def test_verify_refuses_a_forged_checkpoint_file(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(other, KID, agency=CT, seq=99, head=GENESIS, at=rfc3339(T0))
    bad = tmp_path / "forged.jsonl"
    bad.write_text(json.dumps({"token": forged}) + "\n", encoding="utf-8")
    code, out, err = run(
        "verify", "--config", str(setup.config), "--checkpoints", str(bad), capsys=capsys
    )
    line = one_error(code, out, err, 2)
    assert line == f"relay audit verify: {bad}:1: checkpoint refused (signature_invalid)"
    bad.write_text("not json\n", encoding="utf-8")
    code, out, err = run(
        "verify", "--config", str(setup.config), "--checkpoints", str(bad), capsys=capsys
    )
    assert "expected" in one_error(code, out, err, 2)
    code, out, err = run(
        "verify", "--config", str(setup.config), "--checkpoints", "nope.jsonl", capsys=capsys
    )
    assert "cannot read nope.jsonl" in one_error(code, out, err, 2)


# -- export ------------------------------------------------------------------------------------
def test_export_jsonl_window(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        "export",
        "--config",
        str(setup.config),
        "--since",
        "2026-11-03",
        "--until",
        "2026-11-04T12:00:00Z",
        capsys=capsys,
    )
    assert (code, err) == (0, "")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["seq"] for x in lines] == [2, 3]
    assert lines[0] == {
        "seq": 2,
        "event": "forward",
        "at": "2026-11-03T09:30:00.000000Z",
        "relay": CT,
        "outcome": "accepted",
        "source": CT,
        "destination": RI,
        "envelope_id": "env-1",
        "digest": DIGEST,
        "policy": POLICY,
        "topic": "bolo",
        "prev": lines[0]["prev"],
        "hash": lines[0]["hash"],
        "v": 2,
    }
    assert list(lines[0])[-1] == "v"
    assert lines[1]["prev"] == lines[0]["hash"]


def test_export_csv_to_a_file(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "week.csv"
    code, out, err = run(
        "export",
        "--config",
        str(setup.config),
        "--format",
        "csv",
        "--until",
        "2026-11-03",
        "--output",
        str(target),
        capsys=capsys,
    )
    assert (code, out, err) == (0, "", "")
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == 2
    row = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert row["seq"] == "1"
    assert row["rules"] == "informant.identity;pii.dob"
    assert row["actor_user"] == ""
    assert row["destination"] == MA
    # the read was audited: outcome export, one record read
    code, out, _ = run("export", "--config", str(setup.config), capsys=capsys)
    last = json.loads(out.splitlines()[-1])
    assert (last["event"], last["outcome"], last["count"]) == ("audit_read", "export", 1)


# -- disseminations ----------------------------------------------------------------------------
def test_disseminations_table_and_jsonl(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        "disseminations", "--config", str(setup.config), "--partner", RI, capsys=capsys
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "ENVELOPE", "TOPIC", "DIGEST", "POLICY", "OUTCOME"]
    assert [line.split() for line in lines[1:]] == [
        ["2026-11-03T09:30:00.000000Z", "env-1", "bolo", DIGEST, POLICY, "accepted"],
        ["2026-11-05T09:30:00.000000Z", "env-3", "bolo", DIGEST, POLICY, "accepted"],
    ]
    code, out, _ = run(
        "disseminations",
        "--config",
        str(setup.config),
        "--partner",
        MA,
        "--since",
        "2026-11-03",
        "--format",
        "jsonl",
        capsys=capsys,
    )
    assert code == 0
    assert [json.loads(x) for x in out.splitlines()] == [
        {
            "seq": 3,
            "at": "2026-11-04T09:30:00.000000Z",
            "partner": MA,
            "envelope_id": "env-2",
            "topic": "bolo",
            "digest": DIGEST,
            "policy": POLICY,
            "outcome": "accepted",
        }
    ]


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["export", "--since", "2026-13-01"], "relay audit export: bad --since '2026-13-01'"),
        (["export", "--until", "yesterday"], "relay audit export: bad --until 'yesterday'"),
        (["export", "--since", "2026-11-01T00:00:00"], "bad --since"),  # no offset
        (["export", "--since", "2026-11-08", "--until", "2026-11-01"], "before --until"),
        (["disseminations", "--partner", "ma9990200"], "bad --partner 'ma9990200'"),
        (["disseminations", "--partner", MA, "--since", "x"], "bad --since 'x'"),
        (["checkpoints", "--issuer", "nope"], "bad --issuer 'nope'"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    setup: Setup, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, err = run(*args[:1], "--config", str(setup.config), *args[1:], capsys=capsys)
    assert expected in one_error(code, out, err, 2)


def test_a_config_that_does_not_load_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run("export", "--config", str(tmp_path / "none.yaml"), capsys=capsys)
    assert "cannot read file" in one_error(code, out, err, 2)


def test_a_missing_store_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Setup(tmp_path)
    code, out, err = run("export", "--config", str(tmp_path / "relay.yaml"), capsys=capsys)
    assert one_error(code, out, err, 1).startswith("relay audit: no SQLite store at ")


def test_as_operators_run_it(setup: Setup) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "audit", "export", "--config", str(setup.config),
         "--since", "not-a-date"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert b"Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


# -- signing key rotation (audit.previous_keys) --------------------------------------------------
NEW_KID: Final = "CT9990100#2027-k1"


def _rotate(setup: Setup, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """As README's key rotation: keygen a new key, switch signing_key and signing_kid. Returns
    the old key's kid and public x (what audit.previous_keys then lists)."""
    assert main(["keygen", "--agency", CT, "--out", str(setup.dir / "keys"),
                 "--kid-suffix", "2027-k1"]) == 0  # fmt: skip
    capsys.readouterr()
    old_x = b64url_encode(public_key_bytes(setup.key))
    text = setup.config.read_text(encoding="utf-8")
    text = text.replace(
        "signing_key: signing.key.pem", "signing_key: keys/CT9990100-2027-k1.key.pem"
    )
    text = text.replace(f'signing_kid: "{KID}"', f'signing_kid: "{NEW_KID}"')
    setup.config.write_text(text, encoding="utf-8")
    # the relay runs on with the new key and signs a checkpoint with it
    pem = (setup.dir / "keys" / "CT9990100-2027-k1.key.pem").read_bytes()
    new_key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(new_key, Ed25519PrivateKey)
    store = SqliteStore(setup.dir / "relay.db")
    try:
        setup.clock[0] = T0 + dt.timedelta(days=5)
        ledger = Ledger(
            store, agency=CT, key=new_key, kid=NEW_KID, keyring=Keyring.of([]),
            clock=lambda: setup.clock[0],
        )  # fmt: skip
        ledger.make_checkpoint()
    finally:
        store.close()
    return KID, old_x


def _previous_keys(setup: Setup, kid: str, x: str, not_after: str) -> None:
    with setup.config.open("a", encoding="utf-8") as out:
        out.write(
            "audit:\n"
            "  previous_keys:\n"
            f'    - kid: "{kid}"\n'
            f"      public_key: {x}\n"
            "      not_before: 2026-01-01T00:00:00Z\n"
            f"      not_after: {not_after}\n"
        )


def test_verify_after_a_key_rotation_needs_the_previous_key(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out[:3]) == (0, "ok:")
    code, exported, _ = run(
        "checkpoints", "--config", str(setup.config), "--issuer", CT, capsys=capsys
    )
    partner_file = tmp_path / "from-ma.jsonl"  # what a partner kept, signed with the old key
    partner_file.write_text(
        "".join(
            json.dumps({"token": json.loads(x)["token"]}) + "\n" for x in exported.splitlines()
        ),
        encoding="utf-8",
    )
    kid, old_x = _rotate(setup, capsys)

    # without audit.previous_keys: our old checkpoint (seq 5) no longer verifies
    code, out, err = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out, err) == (1, "broken: checkpoint 5: key_not_pinned\n", "")
    code, out, err = run(
        "verify", "--config", str(setup.config), "--checkpoints", str(partner_file), capsys=capsys
    )
    line = one_error(code, out, err, 2)
    assert line == f"relay audit verify: {partner_file}:1: checkpoint refused (key_not_pinned)"

    # listed with the window it signed in (the switch on day 4): everything verifies again
    _previous_keys(setup, kid, old_x, "2026-11-06T09:30:00Z")
    code, out, err = run(
        "verify", "--config", str(setup.config), "--checkpoints", str(partner_file), capsys=capsys
    )
    assert (code, err) == (0, "")
    match = OK_LINE.fullmatch(out.strip())
    assert match is not None, out
    assert match.group(4) == "3"  # our two own (old key, new key) and the partner's copy


def test_a_previous_key_verifies_only_inside_its_window(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    kid, old_x = _rotate(setup, capsys)
    # the old checkpoint was signed on day 3 (2026-11-05): a window closed before that
    _previous_keys(setup, kid, old_x, "2026-11-04T00:00:00Z")
    code, out, _ = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out) == (1, "broken: checkpoint 5: expired\n")


def test_previous_keys_must_be_this_agencys(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    _previous_keys(
        setup, f"{MA}#2026-k1", b64url_encode(public_key_bytes(setup.key)), "2027-01-01"
    )
    code, out, err = run("verify", "--config", str(setup.config), capsys=capsys)
    assert code == 2
    assert out == ""
    assert f"previous key {MA}#2026-k1 is not a key of {CT}" in err


# -- the read is recorded before anything is output ----------------------------------------------
READS: Final = [
    (["export"], 6),  # four forwards, a decision, the checkpoint record: all of them
    (["export", "--format", "csv", "--since", "2026-11-04"], 4),
    (["disseminations", "--partner", RI], 2),
    (["checkpoints", "--issuer", CT], 1),
]


def _last_record(setup: Setup) -> tuple[str, str | None, int | None]:
    store = SqliteStore(setup.dir / "relay.db")
    try:
        last = store.audit_rows()[-1].record
    finally:
        store.close()
    return last.event.value, last.outcome, last.count


@pytest.mark.parametrize(("args", "count"), READS)
def test_a_reader_that_goes_away_was_recorded(setup: Setup, args: list[str], count: int) -> None:
    """stdout is a pipe whose reader is gone before the first byte (``| head`` at its
    worst): nothing can be written, yet the audit_read record names the rows that were about
    to be output."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "relay", "audit", args[0], "--config", str(setup.config),
             *args[1:]],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
            check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr
    assert _last_record(setup) == ("audit_read", args[0], count)


@pytest.mark.parametrize(("args", "count"), READS)
def test_no_output_when_the_read_cannot_be_recorded(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    count: int,
) -> None:
    assert count  # there would be something to output
    before = _last_record(setup)

    def refuse(self: SqliteStore, records: object) -> tuple[int, str]:
        raise sqlite3.OperationalError("disk I/O error at /secret/path")

    monkeypatch.setattr(SqliteStore, "audit_append", refuse)
    target = tmp_path / "out.txt"
    extra = ["--output", str(target)] if args[0] == "export" else []
    for more in ([], extra) if extra else ([],):
        code, out, err = run(args[0], "--config", str(setup.config), *args[1:], *more,
                             capsys=capsys)  # fmt: skip
        line = one_error(code, out, err, 1)
        assert line == f"relay audit: {args[0]}: cannot record the read (OperationalError)"
    assert not target.exists()
    monkeypatch.undo()
    assert _last_record(setup) == before


def test_export_output_is_unchanged_by_its_own_read(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit_read record is written before the rows: it is not among them, and the count
    is what was output."""
    code, first, _ = run("export", "--config", str(setup.config), capsys=capsys)
    assert code == 0
    assert [json.loads(x)["seq"] for x in first.splitlines()] == [1, 2, 3, 4, 5, 6]
    assert _last_record(setup) == ("audit_read", "export", 6)
    code, second, _ = run("export", "--config", str(setup.config), capsys=capsys)
    assert second.startswith(first)
    assert [json.loads(x)["seq"] for x in second.splitlines()] == list(range(1, 8))


# -- time under the hash, swaps, record versions (#15) ----------------------------------------
def _export_seqs(setup: Setup, capsys: pytest.CaptureFixture[str], *window: str) -> list[int]:
    code, out, _ = run("export", "--config", str(setup.config), *window, capsys=capsys)
    assert code == 0
    return [json.loads(x)["seq"] for x in out.splitlines()]


def test_a_moved_time_is_edited_and_hides_nothing_from_export(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version 2 record's row time is under its hash: moving it (the column the store
    windows and prunes on) is ``edited``, and export still goes by the hashed time."""
    window = ("--since", "2026-11-03", "--until", "2026-11-05")  # seq 2 and 3
    assert _export_seqs(setup, capsys, *window) == [2, 3]
    with setup.db() as db:
        db.execute("UPDATE audit_log SET at = '2026-10-01T00:00:00.000000Z' WHERE seq = 3")
    assert _export_seqs(setup, capsys, *window) == [2, 3]  # not hidden, even at the edge
    assert _export_seqs(setup, capsys, "--until", "2026-11-02") == []  # nor moved in
    code, out, err = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out, err) == (1, "broken: record 3: edited\n", "")


def test_two_swapped_records_are_reordered(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hashes intact, order exchanged: ``reordered``, not ``edited`` (adjacent or apart)."""
    with setup.db() as db:
        rows = {s: db.execute("SELECT at, prev, hash, record FROM audit_log WHERE seq = ?",
                              (s,)).fetchone() for s in (2, 4)}  # fmt: skip
        for seq, other in ((2, 4), (4, 2)):
            db.execute("UPDATE audit_log SET at = ?, prev = ?, hash = ?, record = ? "
                       "WHERE seq = ?", (*rows[other], seq))  # fmt: skip
    code, out, _ = run("verify", "--config", str(setup.config), capsys=capsys)
    assert (code, out) == (1, "broken: record 2: reordered\n")


def test_version_1_then_version_2_verifies_and_says_from_where_time_is_covered(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An older ledger (version 1 records: no ``v``, the row's time outside the hash) goes on
    in version 2; verify accepts both and names the first record whose time is covered."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    s = Setup(fresh)
    store = SqliteStore(fresh / "relay.db")
    try:
        old = [AuditRecord(event=AuditEvent.DECISION, at=rfc3339(T0 + dt.timedelta(hours=h)),
                           relay=CT, outcome="block", v=1) for h in range(3)]  # fmt: skip
        store.audit_append(old)
        store.audit_append([s.ledger(store).entry("decision", outcome="block")])
    finally:
        store.close()
    with s.db() as db:
        texts = [r[0] for r in db.execute("SELECT record FROM audit_log ORDER BY seq")]
    assert ['"v"' in t for t in texts] == [False, False, False, True]
    code, out, err = run("verify", "--config", str(s.config), capsys=capsys)
    match = OK_LINE.fullmatch(out.strip())
    assert (code, err) == (0, ""), out
    assert match is not None, out
    assert (match.group(1), match.group(5)) == ("4", "4")
    # a version 1 row's time is checked against the time in its hashed body
    with s.db() as db:
        db.execute("UPDATE audit_log SET at = '2026-12-01T00:00:00.000000Z' WHERE seq = 2")
    code, out, _ = run("verify", "--config", str(s.config), capsys=capsys)
    assert (code, out) == (1, "broken: record 2: edited\n")
    # the export names each record's version, last
    with s.db() as db:
        db.execute("UPDATE audit_log SET at = '2026-11-02T10:30:00.000000Z' WHERE seq = 2")
    code, out, _ = run("export", "--config", str(s.config), "--format", "csv", capsys=capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][-1] == "v"
    assert [r[-1] for r in rows[1:]] == ["1", "1", "1", "2", "2", "2"]  # then two reads
    code, out, _ = run("export", "--config", str(s.config), capsys=capsys)
    assert [json.loads(x)["v"] for x in out.splitlines()][:4] == [1, 1, 1, 2]
