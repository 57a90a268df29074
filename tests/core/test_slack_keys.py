"""Which events are the relay's own posts: its bot user or bot id, never a metadata mark
alone (anyone with a token could set one and hide a message from sharing)."""

from __future__ import annotations

from relay.slack.keys import RELAY_MARK, is_own

BOT = {"bot_user_id": "U0RELAYBOT", "bot_id": "B0RELAYBOT"}


def test_the_bot_user_or_bot_id_is_own() -> None:
    assert is_own({"user": "U0RELAYBOT", "text": "x"}, **BOT)
    assert is_own({"bot_id": "B0RELAYBOT", "text": "x"}, **BOT)
    edited = {"subtype": "message_changed", "message": {"bot_id": "B0RELAYBOT"}}
    assert is_own(edited, **BOT)


def test_an_officers_message_with_the_relay_mark_is_not_own() -> None:
    forged = {
        "user": "U0OFFICER1",
        "text": "BOLO grey sedan",
        "metadata": {"event_type": RELAY_MARK, "event_payload": {"envelope_id": "x"}},
    }
    assert not is_own(forged, **BOT)
