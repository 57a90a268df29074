"""The strict JSON reader, Slack's request signature and the event shape check: pure, every
refusal a reason code, never RecursionError or a traceback's worth of input."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from relay.core.json_strict import JsonRefused, loads_strict, nesting_depth
from relay.core.reasons import Reason
from relay.core.slack_request import check_signature, form_payload, parse_timestamp
from relay.core.slack_shape import Refused, check_event, event_problem, read_event

MIB = 1 << 20


def _code(body: bytes, **kw: Any) -> str:
    with pytest.raises(JsonRefused) as info:
        loads_strict(body, max_bytes=kw.pop("max_bytes", MIB), **kw)
    return info.value.code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"a": 1, "a": 2}', "duplicate_key"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate_key"),
        (b'[{"x": [{"k": 1, "k": 2}]}]', "duplicate_key"),
        (b'{"a": "\xff"}', "encoding_invalid"),
        (b'{"a": "\xed\xa0\x80"}', "encoding_invalid"),  # a UTF-8-encoded surrogate
        (b'{"a": "\\ud800"}', "encoding_invalid"),  # an escaped lone surrogate
        ("\ufeff{}".encode(), "encoding_invalid"),
        ('{"a": 1}'.encode("utf-16"), "encoding_invalid"),
        (b"[NaN]", "json_invalid"),
        (b"[-Infinity]", "json_invalid"),
        (b'{"a": 1', "json_invalid"),
        (b"", "json_invalid"),
        (b"1" * 5000, "json_invalid"),  # past Python's integer digit limit
        (b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "json_too_deep"),
        (b"[" * 100_000, "json_too_deep"),  # not even closed
    ],
)
def test_refusals_have_codes(body: bytes, code: str) -> None:
    assert _code(body) == code


def test_size_is_checked_first() -> None:
    assert _code(b"[" * 10, max_bytes=5) == "too_large"
    assert loads_strict(b"[1]", max_bytes=3) == [1]


def test_depth_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    assert loads_strict(b"[[[]]]", max_bytes=MIB, max_depth=3) == [[[]]]
    assert _code(b"[[[[]]]]", max_depth=3) == "json_too_deep"
    text = b'[{"a": "[[[[[[{{{{\\"]]]"}]'
    assert nesting_depth(text, 10) == 2
    assert loads_strict(text, max_bytes=MIB, max_depth=2) == [{"a": '[[[[[[{{{{"]]]'}]


def test_valid_documents_pass_unchanged() -> None:
    doc: dict[str, Any] = {"a": [1, 2.5, None, True, "é\u200b", {"b": {}}], "c": "\\u0041"}
    assert loads_strict(json.dumps(doc).encode(), max_bytes=MIB) == doc
    assert loads_strict(b'"\\ud83d\\ude00"', max_bytes=MIB) == "\U0001f600"


def test_refusal_message_carries_no_input() -> None:
    secret = "informant-canary-7731"
    with pytest.raises(JsonRefused) as info:
        loads_strict(f'{{"{secret}": 1, "{secret}": 2}}'.encode(), max_bytes=MIB)
    assert secret not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


# -- Slack's signature -------------------------------------------------------------------
SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000


def _sign(ts: str, body: bytes) -> str:
    return "v0=" + hmac.new(SECRET, f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()


def test_a_genuine_signature_passes() -> None:
    body = b'{"type":"event_callback"}'
    ts = str(NOW)
    sig = _sign(ts, body)
    assert check_signature(SECRET, timestamp=ts, signature=sig, body=body, now=NOW) is None


@pytest.mark.parametrize(
    "ts", ["", "¹²³", "١٧٠٠٠٠٠٠٠٠", "+1700000000", " 1700000000", "1700000000.5", "9" * 5000]
)
def test_timestamps_that_are_not_bounded_ascii_integers(ts: str) -> None:
    assert parse_timestamp(ts) is None
    got = check_signature(SECRET, timestamp=ts, signature=_sign(ts, b""), body=b"", now=NOW)
    assert got == "timestamp_invalid"


def test_timestamp_window_and_bad_signatures() -> None:
    old = str(NOW - 301)
    assert (
        check_signature(SECRET, timestamp=old, signature=_sign(old, b""), body=b"", now=NOW)
        == "timestamp_skewed"
    )
    ts = str(NOW)
    for sig in (None, "", "v0=é" + "0" * 63, "v0=" + "0" * 64, _sign(ts, b"x").upper(), "v1=ab"):
        got = check_signature(SECRET, timestamp=ts, signature=sig, body=b"", now=NOW)
        assert got == "signature_invalid", sig


def test_form_payload_for_interactivity() -> None:
    payload = json.dumps({"type": "block_actions", "user": {"id": "U1"}})
    from urllib.parse import urlencode

    assert form_payload(urlencode({"payload": payload}).encode(), max_bytes=MIB)["type"] == (
        "block_actions"
    )
    for body, code in [
        (b"payload=%7B%22a%22%3A1%2C%22a%22%3A2%7D", "duplicate_key"),
        (b"payload=%FF", "encoding_invalid"),
        (b"payload=1&payload=2", "duplicate_key"),
        (b"other=1", "bad_request"),
        (b"payload=%5B1%5D", "malformed"),
        ("payload=é".encode(), "encoding_invalid"),
    ]:
        with pytest.raises(JsonRefused) as info:
            form_payload(body, max_bytes=MIB)
        assert info.value.code == code, body


# -- event shapes ------------------------------------------------------------------------
def _callback(event: Any, **top: Any) -> dict[str, Any]:
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event, **top}


_MSG = {"type": "message", "channel": "C1", "user": "U1", "ts": "1700000000.000100"}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "$"),
        ({"type": 5}, "type"),
        ({"type": "url_verification", "challenge": {"a": 1}}, "challenge"),
        (_callback("not an object"), "event"),
        (_callback([1, 2]), "event"),
        (_callback(_MSG, event_id={"text": "secret"}), "event_id"),
        (_callback(_MSG, event_id="Ev 1 with spaces"), "event_id"),
        (_callback({**_MSG, "ts": {"x": 1}}), "event.ts"),
        (_callback({**_MSG, "ts": "1700000000"}), "event.ts"),
        (_callback({**_MSG, "channel": "C1 and a long story"}), "event.channel"),
        (_callback({**_MSG, "text": {"t": "x"}}), "event.text"),
        (_callback({**_MSG, "files": "x"}), "event.files"),
        (_callback({**_MSG, "files": ["x"]}), "event.files[0]"),
        (_callback({**_MSG, "subtype": "message_changed", "message": "x"}), "event.message"),
        (_callback({**_MSG, "subtype": "message_changed"}), "event.message"),
        (
            _callback({**_MSG, "subtype": "message_changed", "message": {"edited": []}}),
            "event.message.edited",
        ),
        (
            _callback({**_MSG, "subtype": "message_changed", "message": {"edited": {"ts": 1}}}),
            "event.message.edited.ts",
        ),
        (_callback({**_MSG, "previous_message": 7}), "event.previous_message"),
        (_callback({**_MSG, "subtype": "message_deleted"}), "event.deleted_ts"),
        (_callback({"type": "reaction_added", "item": "x"}), "event.item"),
        (_callback({"type": "reaction_added", "reaction": "a b", "item": {}}), "event.reaction"),
        (_callback({"type": "channel_id_changed", "new_channel_id": []}), "event.new_channel_id"),
    ],
)
def test_wrong_shapes_are_named_by_path(doc: Any, field: str) -> None:
    assert event_problem(doc) == field
    refused = check_event(doc)
    assert isinstance(refused, Refused)
    assert refused.reason == "malformed"
    assert refused.field == field


def test_good_shapes_pass() -> None:
    for doc in (
        _callback(_MSG),
        _callback({**_MSG, "subtype": "message_deleted", "deleted_ts": "1.2", "ts": "1.3"}),
        _callback({"type": "app_home_opened", "anything": {"goes": [1]}}),
        {"type": "app_rate_limited", "minute_rate_limited": 1},
        _callback(  # a reaction with a skin tone, as Slack sends it
            {
                "type": "reaction_added",
                "user": "U1",
                "reaction": "+1::skin-tone-2",
                "item": {"type": "message", "channel": "C1", "ts": "1700000000.000100"},
            }
        ),
        {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7"},
    ):
        assert event_problem(doc) is None
        assert check_event(doc) is doc


def test_read_event_keeps_the_event_id_only_when_it_is_one() -> None:
    refused = read_event(json.dumps(_callback([1])).encode())
    assert refused == Refused(Reason.MALFORMED, "event", "Ev1")
    refused = read_event(json.dumps(_callback([1], event_id="x y")).encode())
    assert isinstance(refused, Refused)
    assert refused.event_id is None
    assert read_event(b"[" * 100_000) == Refused(Reason.JSON_TOO_DEEP)
