"""A reaction's inbox key and order key, and the ids relay.yaml accepts for supervisors."""

from __future__ import annotations

from relay.core.ids import is_user_id, is_usergroup_id
from relay.slack.keys import event_key


def _reaction(**event: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "reaction_added",
        "user": "U0SGTBAKR1",
        "reaction": "no_entry",
        "item": {"type": "message", "channel": "C0BOLO0001", "ts": "1700000000.000100"},
        "item_user": "U0OKAFOR01",
        "event_ts": "1700000100.000200",
    }
    return {"type": "event_callback", "event_id": "Ev1", "event": {**base, **event}}


def test_a_reaction_is_keyed_by_message_reaction_and_person_and_queues_with_its_message() -> None:
    assert event_key(_reaction()) == (
        "react.C0BOLO0001.1700000000.000100.no_entry.U0SGTBAKR1",
        "C0BOLO0001/1700000000.000100",
    )
    # a retry, or the same reaction put back later, is the same key
    assert event_key(_reaction(event_ts="1700000999.000001")) == event_key(_reaction())
    assert event_key(_reaction(user="U0LTMORAN1")) != event_key(_reaction())
    assert event_key(_reaction(item={"type": "file", "file": "F1"})) is None
    assert event_key(_reaction(type="reaction_removed")) is None


def test_slack_user_and_group_ids() -> None:
    assert [
        is_user_id(v) for v in ("U0SGTBAKR1", "W0LTMORAN1", "sgt.baker", "S0SUPERVS1", "U")
    ] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [is_usergroup_id(v) for v in ("S0SUPERVS1", "@supervisors", "U0SGTBAKR1")] == [
        True,
        False,
        False,
    ]
