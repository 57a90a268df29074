"""The dissemination ledger as the relay writes it: every step recorded, no text, and an
audit write that fails stops forwarding until the ledger takes writes again."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.core.audit import AuditEvent, ChainedRecord, verify_chain
from relay.core.model import SlackMessage
from relay.core.slack_parse import parse_event
from relay.errors import AuditUnavailable
from relay.ledger import AuditWriteError
from tests.federation.harness import Federation, policy_text

CT, MA = "CT9990100", "MA9990200"
SECRET_BITS = ("CI-4471", "Route 9", "3RTY55", "Nissan")


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation(tmp_path, [CT, MA])
    await federation.start(
        {
            CT: policy_text(CT, [{"ori": MA}]),
            MA: policy_text(MA, [{"ori": CT}]),
        }
    )
    yield federation
    await federation.stop()


def _bolo(ts: str, text: str) -> SlackMessage:
    return parse_event({"type": "message", "user": "U0HAVEN01", "ts": ts, "text": text})


def _rows(fed: Federation, ori: str) -> list[ChainedRecord]:
    service = fed.relays[ori]
    assert service is not None
    return service.store.audit_rows()


def _raw(fed: Federation, ori: str) -> str:
    """Every audit row as stored, as one string (for the no-text check)."""
    with sqlite3.connect(fed.relays[ori].dir / "relay.db") as db:
        return "\n".join(str(r) for r in db.execute("SELECT * FROM audit_log"))


def _fail_audit_writes(db: Path, when: str = "") -> None:
    """A real write failure of the real store: inserts into the audit chain abort."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            f"CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log {when} "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )


def _allow_audit_writes(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER fail_audit")


async def test_every_step_is_recorded_without_text_and_the_chain_verifies(fed: Federation) -> None:
    ct = fed.relays[CT]
    assert ct is not None
    text = "BOLO: silver Nissan Rogue, MA reg 3RTY55, Route 9 NB.\nPer CI-4471 he is armed."
    await ct.publish(_bolo("5.1", text), topic="bolo", author="Det. Okafor", envelope_id="e-1")
    await fed.settle()

    sent = [(r.record.event, r.record.destination, r.record.outcome) for r in _rows(fed, CT)]
    assert ("decision", MA, "redact") in sent  # the informant line was stripped
    assert ("sign", MA, "post") in sent
    assert ("forward", MA, "accepted") in sent
    forward = next(r.record for r in _rows(fed, CT) if r.record.event == "forward")
    assert forward.envelope_id == "e-1"
    assert forward.actor_user is None or forward.actor_user.startswith("U")
    assert forward.policy is not None
    assert forward.policy.startswith(f"{CT}@")
    assert forward.digest is not None
    assert len(forward.digest) == 64

    got = [(r.record.event, r.record.source, r.record.outcome) for r in _rows(fed, MA)]
    assert ("receive", CT, "new") in got
    assert ("decision", CT, "forward") in got

    for ori in (CT, MA):
        raw = _raw(fed, ori)
        assert raw, "the ledger is empty"
        for bit in SECRET_BITS:
            assert bit not in raw
        store = fed.relays[ori].store
        verdict = verify_chain(store.audit_rows(), [], store.audit_anchor())
        assert verdict.ok, verdict


async def test_a_failing_audit_write_stops_forwarding_until_it_succeeds(fed: Federation) -> None:
    ct = fed.relays[CT]
    ma = fed.relays[MA]
    assert ct is not None
    assert ma is not None
    db = fed.relays[CT].dir / "relay.db"
    _fail_audit_writes(db)  # a real write failure of the real store
    with pytest.raises(AuditWriteError) as failed:
        await ct.publish(_bolo("6.1", "BOLO: red Honda Civic"), topic="bolo", author="x")
    assert ct.ledger is not None
    assert ct.ledger.failing
    assert ct.metrics.audit_writable._value.get() == 0
    assert ct.metrics.audit_failures._value.get() >= 1
    assert "Honda" not in str(failed.value)
    # while it fails nothing is taken either: the Slack event stays to be retried
    with pytest.raises(AuditUnavailable):
        await ct.publish(_bolo("6.2", "BOLO: blue Ford"), topic="bolo", author="x")
    assert ct.store.queue_stats() == []
    assert not await ct.parts.recorder.ready()
    await fed.settle()
    assert ma.delivered.empty()

    _allow_audit_writes(db)
    assert await ct.parts.recorder.ready()  # the ledger records that writes came back, then opens
    assert ct.metrics.audit_writable._value.get() == 1
    await ct.publish(_bolo("6.3", "BOLO: blue Ford"), topic="bolo", author="x")
    await fed.settle()
    assert not ma.delivered.empty()
    events = [r.record.event for r in _rows(fed, CT)]
    assert "audit_recovered" in events
    assert events.index(AuditEvent.AUDIT_RECOVERED) < events.index(AuditEvent.FORWARD)


async def test_the_outbox_holds_envelopes_while_the_ledger_fails(fed: Federation) -> None:
    """Queued before the failure: not sent while audit writes fail (its forward record could
    not be kept), sent once they succeed."""
    import datetime as dt

    ct, ma = fed.relays[CT], fed.relays[MA]
    assert ct.running is not None
    assert ma is not None
    assert ct.ledger is not None
    url, ct.urls[MA] = ct.urls[MA], "https://127.0.0.1:1"  # refused: retried later
    await ct.publish(_bolo("7.1", "BOLO: grey Jeep"), topic="bolo", author="x")
    await fed.settle()
    assert ma.delivered.empty()
    assert [e.state for e in ct.store.queue_entries()] == ["pending"]
    _fail_audit_writes(ct.dir / "relay.db")
    ledger = ct.ledger
    with pytest.raises(AuditWriteError):
        ledger.append([ledger.entry("audit_read", outcome="probe")])
    ct.urls[MA] = url
    fed.clock[0] += dt.timedelta(hours=1)  # the retry is due
    ct.parts.queues.outbox.wake()
    await fed.settle()
    assert ma.delivered.empty()
    assert [e.state for e in ct.store.queue_entries()] == ["pending"]
    _allow_audit_writes(ct.dir / "relay.db")
    ct.parts.queues.outbox.wake()
    await fed.settle()
    assert not ma.delivered.empty()
    # the dissemination record comes with the delivery (the partner's receipts after it)
    assert [e for r in _rows(fed, CT) if (e := r.record.event) != "receipt"][-1] == "forward"


async def test_a_receiver_whose_ledger_fails_takes_nothing_until_it_recovers(
    fed: Federation,
) -> None:
    """MA's audit writes fail: it answers 503 ``unavailable`` (CT keeps the envelope and
    retries) and its inbound queue posts nothing; once MA's ledger works, it arrives."""
    import datetime as dt

    ct, ma = fed.relays[CT], fed.relays[MA]
    assert ct is not None
    assert ma.running is not None
    assert ma.ledger is not None
    _fail_audit_writes(ma.dir / "relay.db")
    ledger = ma.ledger
    with pytest.raises(AuditWriteError):
        ledger.append([ledger.entry("audit_read", outcome="probe")])
    await ct.publish(_bolo("8.1", "BOLO: black Audi A4"), topic="bolo", author="x")
    await fed.settle()
    assert ma.delivered.empty()
    assert ct.metrics.send_failures.labels(MA, "unavailable")._value.get() >= 1
    assert [e.state for e in ct.store.queue_entries()] == ["pending"]
    assert ma.store.queue_stats() == []  # nothing was accepted

    _allow_audit_writes(ma.dir / "relay.db")
    fed.clock[0] += dt.timedelta(hours=1)  # CT's retry is due
    ct.parts.queues.outbox.wake()
    await fed.settle()
    assert not ma.delivered.empty()
    events = [r.record.event for r in _rows(fed, MA)]
    assert events.index(AuditEvent.AUDIT_RECOVERED) < events.index(AuditEvent.RECEIVE)


async def test_the_inbound_queue_takes_nothing_while_the_ledger_fails(fed: Federation) -> None:
    """An accepted envelope whose records cannot be written is not marked done, and is not
    taken again while audit writes fail; once they succeed it is completed and recorded."""
    import datetime as dt

    ct, ma = fed.relays[CT], fed.relays[MA]
    assert ct is not None
    assert ma.running is not None
    # receipts go in, nothing after
    _fail_audit_writes(
        ma.dir / "relay.db", when="""WHEN NEW.record NOT LIKE '%"event":"receive"%'"""
    )
    await ct.publish(_bolo("9.1", "BOLO: white Tesla"), topic="bolo", author="x")
    await fed.settle()
    assert ma.ledger is not None
    assert ma.ledger.failing
    first = ma.delivered.qsize()  # handed to the poster before the records failed
    fed.clock[0] += dt.timedelta(hours=1)  # the retry is due, and the lease long gone
    ma.parts.queues.inbound.wake()
    await fed.settle()
    assert ma.delivered.qsize() == first  # not taken again while failing
    assert [e.state for e in ma.store.queue_entries()] == ["pending"]

    _allow_audit_writes(ma.dir / "relay.db")
    ma.parts.queues.inbound.wake()
    await fed.settle()
    assert [e.state for e in ma.store.queue_entries()] == ["done"]
    # the settlement kept in hand was written once the ledger took writes: recorded once
    events = [r.record.event for r in _rows(fed, MA)]
    assert events.count(AuditEvent.DECISION) == 1
    assert events.count(AuditEvent.POST) == 1  # handed to the harness's delivery port once
    assert not ma.ledger.failing


async def test_an_accepted_envelope_whose_record_fails_is_recorded_once_the_ledger_works(
    fed: Federation,
) -> None:
    """MA took the envelope, CT could not write the ``forward`` record: CT keeps the answer
    and settles it (record included) as soon as writes succeed; nothing is sent twice and
    nothing given up unrecorded."""
    ct, ma = fed.relays[CT], fed.relays[MA]
    assert ct.running is not None
    assert ma is not None
    _fail_audit_writes(ct.dir / "relay.db", when="""WHEN NEW.record LIKE '%"event":"forward"%'""")
    await ct.publish(_bolo("10.1", "BOLO: green Kia"), topic="bolo", author="x")
    await fed.settle()
    assert ma.delivered.qsize() == 1
    assert ct.metrics.audit_writable._value.get() == 0
    assert [e.state for e in ct.store.queue_entries()] == ["pending"]
    _allow_audit_writes(ct.dir / "relay.db")
    ct.parts.queues.outbox.wake()
    await fed.settle()
    assert [e.state for e in ct.store.queue_entries()] == ["done"]
    forwards = [r.record for r in _rows(fed, CT) if r.record.event == "forward"]
    assert [(f.destination, f.outcome) for f in forwards] == [(MA, "accepted")]
    assert ma.delivered.qsize() == 1  # sent once


async def test_an_envelope_given_up_after_earlier_attempts_is_recorded_unconfirmed(
    fed: Federation,
) -> None:
    """An earlier attempt's answer may have been lost: giving up is recorded as a
    ``forward`` with outcome ``unconfirmed``, so no dissemination goes unrecorded."""
    import datetime as dt

    ct = fed.relays[CT]
    assert ct.running is not None
    ct.urls[MA] = "https://127.0.0.1:1"  # refused: retried
    await ct.publish(_bolo("11.1", "BOLO: tan Buick"), topic="bolo", author="x")
    await fed.settle()
    fed.clock[0] += dt.timedelta(days=2)  # past max_age at the next attempt
    ct.parts.queues.outbox.wake()
    await fed.settle()
    [entry] = ct.store.queue_entries()
    assert (entry.state, entry.reason) == ("dead", "max_age")
    forwards = [r.record for r in _rows(fed, CT) if r.record.event == "forward"]
    assert [(f.destination, f.outcome) for f in forwards] == [(MA, "unconfirmed")]
