"""``relay queue list|retry|drop``: the command-line contract (relay/commands/queue.py).

Run as operators' tools run it: ``python -m relay queue ...`` in a subprocess, against a real
SQLite store file (and one PostgreSQL schema) prepared through the store itself. Checked: the
table and the JSON Lines, the filters, what retry and drop change in the store, exit codes
0/1/2, one-line errors without a traceback, and no store password in any output.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import pytest

from relay.core.backoff import DONE, Attempt
from relay.store.base import SqlStore
from relay.store.contract import OutboxItem, QueueEntry
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SqliteStore
from tests.store.conftest import PG_DSN, pg_schema  # noqa: F401 - a fixture used below

ROOT: Final = Path(__file__).resolve().parents[2]
MA: Final = "MA9990200"
NY: Final = "NY9990300"
BODY_MARKER: Final = "BODY-TEXT-MUST-NOT-SHOW"
JSON_KEYS: Final = {
    "id",
    "queue",
    "peer",
    "envelope_id",
    "state",
    "attempts",
    "created_at",
    "next_at",
    "reason",
}
HEADER: Final = ["ID", "QUEUE", "PEER", "STATE", "ATTEMPTS", "AGE", "NEXT", "REASON", "ENVELOPE"]
RFC3339_UTC: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

CONFIG: Final = """\
agency: CT9990100
policy: policy.yaml
signing_key: signing.key.pem
signing_kid: "CT9990100#2026-k1"
store: {store}
federation:
  listen: {{host: 127.0.0.1, port: 8443}}
  tls: {{cert: tls.crt, key: tls.key, ca: ca.pem}}
"""


def relay(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "queue", *args],
        capture_output=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def one_error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _item(partner: str, envelope_id: str, now: float) -> OutboxItem:
    return OutboxItem(
        partner=partner,
        envelope_id=envelope_id,
        order_key=envelope_id,
        body=json.dumps({"text": BODY_MARKER}).encode(),
        expires_at=now + 3600,
    )


def fill(store: SqlStore, now: float) -> dict[str, str]:
    """Five items; returns envelope id -> queue id.

    env-dead (MA, dead: expired), env-due (MA, pending, due now), env-later (NY, pending
    again in 10 minutes after a timeout), env-done (MA, delivered), env-in (inbound from NY).
    """
    created = now - 300
    names = ["env-dead", "env-due", "env-later", "env-done"]
    partners = [MA, MA, NY, MA]
    store.enqueue([_item(p, n, now) for p, n in zip(partners, names, strict=True)], now=created)
    claimed = {c.envelope_id: c.seq for c in store.claim_outbox(MA, **_lease(now))}
    claimed |= {c.envelope_id: c.seq for c in store.claim_outbox(NY, **_lease(now))}
    store.settle_outbox(
        [
            (claimed["env-dead"], Attempt(state="dead", reason="expired")),
            (claimed["env-done"], DONE),
            (claimed["env-later"], Attempt(state="pending", next_at=now + 600, reason="timeout")),
        ],
        owner="test",
        now=now,
    )
    store.release("test")  # env-due: claimed, handed back (no attempt), due now
    store.record_received(
        issuer=NY,
        envelope_id="env-in",
        digest="0" * 64,
        sender=NY,
        body=json.dumps({"text": BODY_MARKER}).encode(),
        at=dt.datetime.fromtimestamp(now - 60, dt.UTC),
        expires_at=now + 3600,
    )
    return {e.envelope_id: e.id for e in store.queue_entries(limit=100)}


def _lease(now: float) -> dict[str, Any]:
    return {"owner": "test", "now": now, "lease": 60.0, "limit": 10}


def entries(store: SqlStore) -> dict[str, QueueEntry]:
    """Envelope id -> the item as the store has it now."""
    return {e.envelope_id: e for e in store.queue_entries(limit=100)}


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """``conf/relay.yaml`` whose relative ``sqlite:///data/relay.db`` is under ``conf/``."""
    (tmp_path / "conf" / "data").mkdir(parents=True)
    path = tmp_path / "conf" / "relay.yaml"
    path.write_text(CONFIG.format(store="sqlite:///data/relay.db"), encoding="utf-8")
    return path


# The store the ``sqlite_store`` fixture filled, and the ids of its items by short name.
Filled = tuple[SqliteStore, dict[str, str]]


@pytest.fixture
def sqlite_store(conf: Path) -> Iterator[Filled]:
    """The five items in ``conf/data/relay.db``; the test reads the store afterwards."""
    store = SqliteStore(conf.parent / "data" / "relay.db")
    try:
        yield store, fill(store, time.time())
    finally:
        store.close()


def table(text: str) -> list[dict[str, str]]:
    """The human table, cut at the header's column starts (NEXT may read ``in 9m59s``)."""
    lines = text.splitlines()
    assert lines[0].split() == HEADER
    starts = [lines[0].index(name) for name in HEADER]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        assert all(cells), line
        assert all(" " not in c for c in cells if not c.startswith("in ")), line
        rows.append(dict(zip(HEADER, cells, strict=True)))
    return rows


def json_lines(text: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in text.splitlines()]
    for doc in docs:
        assert set(doc) == JSON_KEYS
    return docs


# --- list -----------------------------------------------------------------------------------


def test_list_table_shows_everything_not_done(sqlite_store: Filled, conf: Path) -> None:
    _, ids = sqlite_store
    proc = relay("list", "--config", str(conf))  # cwd is the repository: the path is conf's
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert BODY_MARKER not in proc.stdout
    rows = {r["ENVELOPE"]: r for r in table(proc.stdout)}
    assert set(rows) == {"env-dead", "env-due", "env-later", "env-in"}
    assert [r["ID"] for r in table(proc.stdout)] == [
        ids["env-dead"],
        ids["env-due"],
        ids["env-later"],
        ids["env-in"],
    ]
    dead, due, later, inbound = (rows[n] for n in ("env-dead", "env-due", "env-later", "env-in"))
    assert dead == {
        "ID": ids["env-dead"],
        "QUEUE": "outbox",
        "PEER": MA,
        "STATE": "dead",
        "ATTEMPTS": "1",
        "AGE": dead["AGE"],
        "NEXT": "-",
        "REASON": "expired",
        "ENVELOPE": "env-dead",
    }
    assert re.fullmatch(r"5m0\ds", dead["AGE"]), dead["AGE"]
    assert (due["STATE"], due["NEXT"], due["REASON"], due["ATTEMPTS"]) == (
        "pending",
        "now",
        "-",
        "0",  # a lease handed back is not an attempt
    )
    assert (later["PEER"], later["STATE"], later["REASON"]) == (NY, "pending", "timeout")
    assert re.fullmatch(r"in (9m[0-5]\ds|10m00s)", later["NEXT"]), later["NEXT"]
    assert (inbound["QUEUE"], inbound["PEER"], inbound["STATE"]) == ("inbound", NY, "pending")
    assert inbound["ID"].startswith("in-")
    assert re.fullmatch(r"1m0\ds", inbound["AGE"]), inbound["AGE"]


def test_list_json_lines(sqlite_store: Filled, conf: Path) -> None:
    _, ids = sqlite_store
    now = time.time()
    proc = relay("list", "--config", str(conf), "--json")
    assert proc.returncode == 0, proc.stderr
    assert BODY_MARKER not in proc.stdout
    docs = {d["envelope_id"]: d for d in json_lines(proc.stdout)}
    assert set(docs) == {"env-dead", "env-due", "env-later", "env-in"}
    for doc in docs.values():
        assert RFC3339_UTC.fullmatch(doc["created_at"]), doc
        assert doc["id"] == ids[doc["envelope_id"]]

    def seconds(value: str) -> float:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

    assert docs["env-dead"] == {
        "id": ids["env-dead"],
        "queue": "outbox",
        "peer": MA,
        "envelope_id": "env-dead",
        "state": "dead",
        "attempts": 1,
        "created_at": docs["env-dead"]["created_at"],
        "next_at": None,
        "reason": "expired",
    }
    assert abs(seconds(docs["env-dead"]["created_at"]) - (now - 300)) < 10
    later = docs["env-later"]
    assert (later["state"], later["reason"], later["peer"]) == ("pending", "timeout", NY)
    assert abs(seconds(later["next_at"]) - (now + 600)) < 10
    assert docs["env-due"]["reason"] is None
    assert seconds(docs["env-due"]["next_at"]) <= now
    assert docs["env-in"]["queue"] == "inbound"
    assert docs["env-in"]["id"].startswith("in-")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--state", "dead"], {"env-dead"}),
        (["--state", "done"], {"env-done"}),
        (["--state", "pending"], {"env-due", "env-later", "env-in"}),
        (["--state", "all"], {"env-dead", "env-due", "env-later", "env-done", "env-in"}),
        (["--partner", NY], {"env-later", "env-in"}),
        (["--partner", MA], {"env-dead", "env-due"}),
        (["--partner", MA, "--state", "all"], {"env-dead", "env-due", "env-done"}),
        (["--partner", "TX9990400"], set()),
    ],
)
def test_list_filters(
    sqlite_store: Filled, conf: Path, flags: list[str], expected: set[str]
) -> None:
    proc = relay("list", "--config", str(conf), "--json", *flags)
    assert proc.returncode == 0, proc.stderr
    assert {d["envelope_id"] for d in json_lines(proc.stdout)} == expected
    human = relay("list", "--config", str(conf), *flags)
    assert human.returncode == 0, human.stderr
    assert {r["ENVELOPE"] for r in table(human.stdout)} == expected


def test_list_of_an_empty_store_is_the_header(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "empty.db").close()
    proc = relay("list", "--store", "sqlite:///empty.db", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.split(), proc.stderr) == (0, HEADER, "")
    proc = relay("list", "--store", "sqlite:///empty.db", "--json", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "flags",
    [
        ["--partner", "ma9990200"],
        ["--partner", "MA9990200\n"],
        ["--state", "failed"],
    ],
)
def test_list_bad_filters_are_exit_2(sqlite_store: Filled, conf: Path, flags: list[str]) -> None:
    line = one_error_line(relay("list", "--config", str(conf), *flags), 2)
    assert line.startswith("relay")


# --- retry ----------------------------------------------------------------------------------


def test_retry_puts_a_dead_letter_back_due_now(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    before = time.time()
    proc = relay("retry", "--config", str(conf), ids["env-dead"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"retried {ids['env-dead']}\n", "")
    entry = entries(store)["env-dead"]
    assert (entry.state, entry.reason) == ("pending", None)
    assert before - 1 <= entry.next_at <= time.time()


def test_retry_of_items_that_are_not_dead_is_exit_1(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    asked = [ids["env-due"], ids["env-dead"], ids["env-done"], ids["env-in"]]
    proc = relay("retry", "--config", str(conf), *asked)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"not dead: {ids['env-due']}",
        f"retried {ids['env-dead']}",
        f"not dead: {ids['env-done']}",
        f"not dead: {ids['env-in']}",
    ]
    now = entries(store)
    assert (now["env-dead"].state, now["env-done"].state) == ("pending", "done")
    # An id with no item at all is not a dead letter either.
    proc = relay("retry", "--config", str(conf), "out-999")
    assert (proc.returncode, proc.stdout) == (1, "not dead: out-999\n")


def test_retry_all_dead_by_partner(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    for name in ("env-later", "env-in"):
        assert store.drop_entry(ids[name], now=time.time(), reason="offline")
    proc = relay("retry", "--config", str(conf), "--all-dead", "--partner", NY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"retried {ids['env-later']}", f"retried {ids['env-in']}"]
    now = entries(store)
    assert (now["env-later"].state, now["env-in"].state) == ("pending", "pending")
    assert now["env-dead"].state == "dead"  # MA's dead letter stays
    proc = relay("retry", "--config", str(conf), "--all-dead")
    assert (proc.returncode, proc.stdout) == (0, f"retried {ids['env-dead']}\n")
    assert entries(store)["env-dead"].state == "pending"
    proc = relay("retry", "--config", str(conf), "--all-dead")  # nothing left: still fine
    assert (proc.returncode, proc.stdout) == (0, "")


@pytest.mark.parametrize(
    "args",
    [
        [],  # neither ids nor --all-dead
        ["out-1", "--all-dead"],
        ["out-1", "--partner", MA],
        ["--all-dead", "--partner", "nope"],
    ],
)
def test_retry_usage_errors_are_exit_2(sqlite_store: Filled, conf: Path, args: list[str]) -> None:
    store, _ = sqlite_store
    before = entries(store)
    one_error_line(relay("retry", "--config", str(conf), *args), 2)
    assert entries(store) == before


# --- drop -----------------------------------------------------------------------------------


def test_drop_moves_pending_items_to_the_dead_letters(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    asked = [ids["env-due"], ids["env-in"]]
    proc = relay("drop", "--config", str(conf), *asked, "--reason", "partner_offline")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"dropped {i}" for i in asked]
    now = entries(store)
    for name in ("env-due", "env-in"):
        assert (now[name].state, now[name].reason) == ("dead", "partner_offline")
    assert now["env-later"].state == "pending"


def test_drop_default_reason(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    proc = relay("drop", "--config", str(conf), ids["env-later"])
    assert (proc.returncode, proc.stdout) == (0, f"dropped {ids['env-later']}\n")
    entry = entries(store)["env-later"]
    assert (entry.state, entry.reason) == ("dead", "dropped_by_operator")


def test_drop_of_items_that_are_not_pending_is_exit_1(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    asked = [ids["env-dead"], ids["env-due"], ids["env-done"], "in-999"]
    proc = relay("drop", "--config", str(conf), *asked)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"not pending: {ids['env-dead']}",
        f"dropped {ids['env-due']}",
        f"not pending: {ids['env-done']}",
        "not pending: in-999",
    ]
    now = entries(store)
    assert (now["env-dead"].state, now["env-dead"].reason) == ("dead", "expired")  # kept
    assert now["env-done"].state == "done"


@pytest.mark.parametrize(
    "reason",
    ["Bad", "1st", "_x", "a" * 65, "x-y", "x y", "x\n", "", "dropped\u0130"],
)
def test_drop_with_a_bad_reason_is_exit_2_and_changes_nothing(
    sqlite_store: Filled, conf: Path, reason: str
) -> None:
    store, ids = sqlite_store
    before = entries(store)
    line = one_error_line(
        relay("drop", "--config", str(conf), ids["env-due"], "--reason", reason), 2
    )
    assert line.startswith("relay queue: bad reason ")
    assert "^[a-z][a-z0-9_]{0,63}$" in line
    assert entries(store) == before


def test_drop_reason_of_64_characters_is_fine(sqlite_store: Filled, conf: Path) -> None:
    store, ids = sqlite_store
    reason = "r" + "0_" * 31 + "z"
    proc = relay("drop", "--config", str(conf), ids["env-due"], "--reason", reason)
    assert proc.returncode == 0, proc.stderr
    assert entries(store)["env-due"].reason == reason


# --- bad ids, bad config, stores that cannot be opened --------------------------------------


BAD_IDS: Final = ["x", "out-", "out-1a", "OUT-1", "out--1", "inbound-1", "in-\u0661", "-1"]


@pytest.mark.parametrize(
    ("command", "bad"),
    [("retry" if i % 2 else "drop", bad) for i, bad in enumerate([*BAD_IDS, "out-1 "])],
)
def test_a_malformed_id_is_exit_2_before_anything_changes(
    sqlite_store: Filled, conf: Path, command: str, bad: str
) -> None:
    store, ids = sqlite_store
    before = entries(store)
    good = ids["env-dead"] if command == "retry" else ids["env-due"]
    proc = relay(command, "--config", str(conf), good, "--", bad)
    assert one_error_line(proc, 2) == f"relay queue: bad id {bad!r} (expected out-<n> or in-<n>)"
    assert entries(store) == before


def test_a_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    line = one_error_line(relay("list", "--config", str(missing)), 2)
    assert line == f"{missing}:1: cannot read file (FileNotFoundError)"


def test_a_broken_config_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "relay.yaml"
    path.write_text(CONFIG.format(store="sqlite:///relay.db") + "colour: blue\n", "utf-8")
    proc = relay("drop", "--config", str(path), "out-1")
    assert one_error_line(proc, 2) == f"{path}:9: unknown key 'colour' in relay config"
    assert not (tmp_path / "relay.db").exists()


def test_config_or_store_is_required_not_both(conf: Path) -> None:
    one_error_line(relay("list"), 2)
    one_error_line(relay("list", "--config", str(conf), "--store", "sqlite:///x.db"), 2)


def test_store_url_relative_sqlite_path_is_under_the_current_directory(
    sqlite_store: Filled, conf: Path
) -> None:
    _, ids = sqlite_store
    proc = relay("list", "--store", "sqlite:///data/relay.db", "--json", cwd=conf.parent)
    assert proc.returncode == 0, proc.stderr
    assert len(json_lines(proc.stdout)) == 4
    proc = relay("retry", "--store", "sqlite:///data/relay.db", ids["env-dead"], cwd=conf.parent)
    assert (proc.returncode, proc.stdout) == (0, f"retried {ids['env-dead']}\n")


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    line = one_error_line(relay("list", "--store", "sqlite:///gone.db", cwd=tmp_path), 1)
    assert line.startswith("relay queue: ")
    assert "gone.db" in line
    assert not (tmp_path / "gone.db").exists()


SECRET_URLS: Final = [
    "postgresql://u:SECRETPW@127.0.0.1:1/x",
    "postgres://u:SECRETPW@127.0.0.1:1/x?sslmode=disable",
    "postgresql://u:SECRETPW@127.0.0.1:notaport/x",
    "mysql://u:SECRETPW@127.0.0.1/x",
]


@pytest.mark.parametrize(
    ("url", "args"),
    [
        *((url, ["list"]) for url in SECRET_URLS),
        (SECRET_URLS[0], ["list", "--json"]),
        (SECRET_URLS[0], ["retry", "out-1"]),
        (SECRET_URLS[0], ["retry", "--all-dead"]),
        (SECRET_URLS[0], ["drop", "in-1"]),
    ],
)
def test_a_store_that_cannot_be_opened_never_shows_its_url(url: str, args: list[str]) -> None:
    proc = relay(*args, "--store", url)
    line = one_error_line(proc, 1)
    assert line.startswith("relay queue: cannot open the ")
    assert "SECRETPW" not in proc.stdout + proc.stderr
    assert "127.0.0.1" not in line


def test_a_config_whose_store_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "relay.yaml"
    path.write_text(CONFIG.format(store=f'"{SECRET_URLS[0]}"'), encoding="utf-8")
    proc = relay("list", "--config", str(path))
    assert one_error_line(proc, 1) == (
        "relay queue: cannot open the PostgreSQL store: OperationalError"
    )
    assert "SECRETPW" not in proc.stdout + proc.stderr


# --- PostgreSQL -----------------------------------------------------------------------------


def test_postgresql_store_url(pg_schema: str) -> None:  # noqa: F811 - the imported fixture
    sep = "&" if "?" in PG_DSN else "?"
    url = f"{PG_DSN}{sep}options={quote(f'-csearch_path={pg_schema}', safe='')}"
    store = PostgresStore(PG_DSN, schema=pg_schema)
    try:
        ids = fill(store, time.time())
        proc = relay("list", "--store", url, "--json")
        assert proc.returncode == 0, proc.stderr
        assert {d["envelope_id"]: d["id"] for d in json_lines(proc.stdout)} == {
            k: v for k, v in ids.items() if k != "env-done"
        }
        human = relay("list", "--store", url, "--state", "all", "--partner", MA)
        assert human.returncode == 0, human.stderr
        assert {r["ENVELOPE"] for r in table(human.stdout)} == {"env-dead", "env-due", "env-done"}

        proc = relay("retry", "--store", url, ids["env-dead"], ids["env-due"])
        assert proc.returncode == 1
        assert proc.stdout.splitlines() == [
            f"retried {ids['env-dead']}",
            f"not dead: {ids['env-due']}",
        ]
        proc = relay("drop", "--store", url, ids["env-in"], "--reason", "bad_actor")
        assert (proc.returncode, proc.stdout) == (0, f"dropped {ids['env-in']}\n")
        now = entries(store)
        assert (now["env-dead"].state, now["env-dead"].reason) == ("pending", None)
        assert (now["env-in"].state, now["env-in"].reason) == ("dead", "bad_actor")

        proc = relay("retry", "--store", url, "--all-dead")
        assert (proc.returncode, proc.stdout) == (0, f"retried {ids['env-in']}\n")
        assert entries(store)["env-in"].state == "pending"
    finally:
        store.close()
