"""``relay status``: queues, dead letters and refusals from the store, and the admin probe.

The store is a real SQLite file prepared through the store's own enqueue/claim/settle API;
the admin listener is a loopback HTTP server on port 0 answering ``/readyz``.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Final

import pytest

from relay.cli import main
from relay.commands.status import probe_admin
from relay.config import AdminConfig
from relay.core.backoff import DONE, Attempt
from relay.store.contract import OutboxItem, RefusalRecord, RefusalWindow
from relay.store.sqlite import SqliteStore

MA: Final = "MA9990200"
NY: Final = "NY9990300"
RI: Final = "RI9990400"
BODY: Final = "BODY-TEXT-MUST-NOT-SHOW"

CONFIG: Final = """\
agency: CT9990100
policy: policy.yaml
signing_key: signing.key.pem
signing_kid: "CT9990100#2026-k1"
store: sqlite:///relay.db
{admin}
federation:
  listen: {{host: 127.0.0.1, port: 8443}}
  tls: {{cert: tls.crt, key: tls.key, ca: ca.pem}}
partners:
  - ori: {ri}
    url: https://relay.granite.test:8443
    tls_sha256: ["{pin}"]
    keys:
      - kid: "{ri}#2026-k1"
        public_key: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
        not_before: 2026-01-01T00:00:00Z
        not_after: 2030-01-01T00:00:00Z
"""


def _item(envelope_id: str, partner: str) -> OutboxItem:
    return OutboxItem(
        partner=partner,
        envelope_id=envelope_id,
        order_key=envelope_id,
        body=BODY.encode(),
        expires_at=time.time() + 86400,
    )


def _fill(path: Path, now: float) -> None:
    t0 = now - 600
    store = SqliteStore(path)
    try:
        store.enqueue([_item(f"m{i}", MA) for i in range(1, 5)], now=t0)
        claimed = store.claim_outbox(MA, owner="a", now=t0, lease=30, limit=4)
        assert [c.envelope_id for c in claimed] == ["m1", "m2", "m3", "m4"]
        seq = {c.envelope_id: c.seq for c in claimed}
        store.settle_outbox(
            [
                (seq["m1"], Attempt(state="pending", next_at=now + 3600)),
                (seq["m2"], Attempt(state="dead", reason="http_410")),
                (seq["m3"], Attempt(state="dead", reason="signature_invalid")),
                (seq["m4"], DONE),
            ],
            owner="a",
            now=t0,
        )
        store.enqueue([_item("m5", MA), _item("n1", NY)], now=t0 + 60)
        (leased,) = store.claim_outbox(MA, owner="b", now=now, lease=3600, limit=1)
        assert leased.envelope_id == "m5"
        store.record_received(
            issuer=NY,
            envelope_id="in1",
            digest="d1",
            sender=NY,
            body=BODY.encode(),
            at=dt.datetime.fromtimestamp(t0, dt.UTC),
            expires_at=now + 86400,
        )
        (inbound,) = store.claim_inbound(owner="a", now=now, lease=30, limit=1)
        store.settle_inbound(
            inbound.seq, Attempt(state="dead", reason="policy_blocked"), owner="a", now=now
        )
        store.take_event(
            event_id="Ev1", team="T0TESTWS01", body=BODY.encode(), at=dt.datetime.now(dt.UTC)
        )
        for i in range(7):
            store.record_refusal(
                RefusalRecord(
                    at=dt.datetime.fromtimestamp(t0 + i, dt.UTC),
                    peer="unknown" if i % 2 else MA,
                    reason=f"reason_{i}",
                    http_status=400,
                )
            )
        start = dt.datetime.fromtimestamp(t0, dt.UTC)
        store.record_refusals(
            [],
            [
                RefusalWindow(
                    peer="unknown",
                    reason="peer_unknown",
                    started=start,
                    ended=start + dt.timedelta(seconds=60),
                    count=2000,
                    closed=True,
                ),
                RefusalWindow(
                    peer=MA,
                    reason="rate_limited",
                    started=start + dt.timedelta(seconds=5),
                    ended=start + dt.timedelta(seconds=65),
                    count=12,
                    closed=False,
                ),
            ],
            keep=1000,
        )
    finally:
        store.close()


class _Admin(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def admin_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _config(tmp_path: Path, admin_port: int | None) -> Path:
    admin = (
        f"admin:\n  listen: {{host: 127.0.0.1, port: {admin_port}}}"
        if admin_port is not None
        else ""
    )
    path = tmp_path / "relay.yaml"
    path.write_text(CONFIG.format(admin=admin, ri=RI, pin="ab" * 32), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["status", *argv])
    out = capsys.readouterr()
    assert BODY not in out.out + out.err
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_json_from_the_store_and_a_ready_relay(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    admin_server: http.server.ThreadingHTTPServer,
) -> None:
    port = admin_server.server_address[1]
    config = _config(tmp_path, int(port))
    _fill(tmp_path / "relay.db", time.time())
    code, out, _ = _status(capsys, "--config", str(config), "--json")
    assert code == 0
    status = json.loads(out)
    assert set(status) == {
        "agency",
        "generated_at",
        "relay",
        "partners",
        "inbound",
        "slack_pending_events",
        "refusals",
        "refusal_windows",
    }
    assert status["agency"] == "CT9990100"
    assert status["generated_at"].endswith("Z")
    assert status["relay"] == {
        "state": "ready",
        "url": f"http://127.0.0.1:{port}/readyz",
        "http_status": 200,
    }
    partners = {p["ori"]: p for p in status["partners"]}
    assert list(partners) == [MA, NY, RI]
    ma = partners[MA]
    assert {k: ma[k] for k in ("queued", "due", "leased", "dead", "last_dead_reason")} == {
        "queued": 2,
        "due": 1,
        "leased": 1,
        "dead": 2,
        "last_dead_reason": "signature_invalid",
    }
    assert 590 <= ma["oldest_queued_age_seconds"] <= 700
    ny = partners[NY]
    assert (ny["queued"], ny["due"], ny["leased"], ny["dead"]) == (1, 1, 0, 0)
    assert ny["last_dead_reason"] is None
    assert partners[RI] == {
        "ori": RI,
        "queued": 0,
        "due": 0,
        "leased": 0,
        "dead": 0,
        "oldest_queued_age_seconds": None,
        "last_dead_reason": None,
    }
    assert status["inbound"] == {
        "queued": 0,
        "due": 0,
        "leased": 0,
        "dead": 1,
        "oldest_queued_age_seconds": None,
        "last_dead_reason": "policy_blocked",
    }
    assert status["slack_pending_events"] == 1
    assert [r["reason"] for r in status["refusals"]] == [f"reason_{i}" for i in range(2, 7)]
    assert set(status["refusals"][0]) == {"at", "peer", "reason"}
    windows = status["refusal_windows"]
    assert [(w["peer"], w["reason"], w["count"], w["open"]) for w in windows] == [
        (MA, "rate_limited", 12, True),
        ("unknown", "peer_unknown", 2000, False),
    ]
    assert windows[1]["ended_at"].endswith("Z")
    assert set(windows[0]) == {"peer", "reason", "started_at", "ended_at", "count", "open"}


def test_table(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    admin_server: http.server.ThreadingHTTPServer,
) -> None:
    _Admin.status = 503
    try:
        config = _config(tmp_path, int(admin_server.server_address[1]))
        _fill(tmp_path / "relay.db", time.time())
        code, out, _ = _status(capsys, "--config", str(config))
    finally:
        _Admin.status = 200
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("relay CT9990100: running, not ready (http://127.0.0.1:")
    assert "-> 503)" in lines[0]
    header = next(line for line in lines if line.startswith("QUEUE"))
    assert header.split() == [
        "QUEUE", "PEER", "QUEUED", "DUE", "LEASED", "DEAD", "OLDEST", "LAST", "DEAD", "REASON",
    ]  # fmt: skip
    ma = next(line for line in lines if MA in line and line.startswith("outbox")).split()
    assert ma[:6] == ["outbox", MA, "2", "1", "1", "2"]
    assert ma[-1] == "signature_invalid"
    inbound = next(line for line in lines if line.startswith("inbound")).split()
    assert inbound[-1] == "policy_blocked"
    assert "Slack events pending: 1" in lines
    assert "Last 5 refusals:" in lines
    assert "Refusals counted, last 2 windows:" in lines
    counted = next(line for line in lines if "peer_unknown" in line).split()
    assert counted[2:] == ["unknown", "peer_unknown", "2000"]
    assert lines[-1].split()[-1] == "reason_6"


def test_relay_not_running_and_no_admin_listener(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, _free_port())
    _fill(tmp_path / "relay.db", time.time())
    code, out, _ = _status(capsys, "--config", str(config), "--json")
    assert code == 0
    assert json.loads(out)["relay"]["state"] == "not_running"
    assert json.loads(out)["relay"]["http_status"] is None

    config = _config(tmp_path, None)
    code, out, _ = _status(capsys, "--config", str(config), "--json")
    assert json.loads(out)["relay"] == {
        "state": "no_admin_listener",
        "url": None,
        "http_status": None,
    }
    code, out, _ = _status(capsys, "--config", str(config))
    assert "unknown (no admin: listener in relay.yaml)" in out.splitlines()[0]
    assert "No refusals." not in out


def test_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, None)
    SqliteStore(tmp_path / "relay.db").close()
    code, out, _ = _status(capsys, "--config", str(config))
    assert code == 0
    assert "No refusals." in out.splitlines()


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, None)
    code, out, err = _status(capsys, "--config", str(config))
    assert (code, out) == (1, "")
    assert err == f"relay status: no SQLite store at {tmp_path / 'relay.db'}\n"

    config.write_text("agency: nope\n", encoding="utf-8")
    code, out, err = _status(capsys, "--config", str(config))
    assert code == 2
    assert out == ""
    assert err.startswith(f"{config}:1: ")


class _Proxy(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy that answers 502 to everything (and remembers what it was asked)."""

    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_probe_never_goes_through_a_proxy(
    admin_server: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    # urlopen keeps the opener it builds (with the proxy below in it) for the whole process:
    # give it back as it was, or every later urllib caller goes through a closed proxy.
    monkeypatch.setattr(urllib.request, "_opener", None)
    try:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_address[1]}")
        port = int(admin_server.server_address[1])
        # plain urllib would ask the proxy, even for the loopback listener
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        info.value.close()
        assert (info.value.code, len(_Proxy.asked)) == (502, 1)
        _Proxy.asked.clear()
        assert probe_admin(AdminConfig(host="127.0.0.1", port=port)) == {
            "state": "ready",
            "url": f"http://127.0.0.1:{port}/readyz",
            "http_status": 200,
        }
        assert probe_admin(AdminConfig(host="127.0.0.1", port=_free_port()))["state"] == (
            "not_running"
        )
        assert _Proxy.asked == []
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
