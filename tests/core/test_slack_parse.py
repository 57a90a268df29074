"""Slack message events (bare or wrapped) to SlackMessage, and what the engine makes of them.

The reference events under tests/data/slack_events are copies of slack-reference/events.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from relay.core.model import MessageKind
from relay.core.slack_parse import parse_event
from relay.errors import InputError

EVENTS_DIR = Path(__file__).resolve().parents[1] / "data" / "slack_events"
CANARY = "CANARY-VALUE-7731"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return doc


EVENT_FILES = sorted(p.stem for p in EVENTS_DIR.glob("*.json"))

# name: (kind, thread_ts, broadcast, number of files, target_ts)
EXPECTED: dict[str, tuple[MessageKind, str | None, bool, int, str | None]] = {
    "app_rate_limited": (MessageKind.IGNORED, None, False, 0, None),
    "bot_message_app": (MessageKind.POST, None, False, 0, None),
    "bot_message_classic": (MessageKind.POST, None, False, 0, None),
    "bot_message_customized": (MessageKind.POST, None, False, 0, None),
    "channel_id_changed": (MessageKind.IGNORED, None, False, 0, None),
    "channel_join": (MessageKind.IGNORED, None, False, 0, None),
    "channel_shared": (MessageKind.IGNORED, None, False, 0, None),
    "event_callback_wrapper": (MessageKind.IGNORED, None, False, 0, None),
    "message_changed": (MessageKind.EDIT, None, False, 0, "1700000000.000100"),
    "message_changed_tombstone": (
        MessageKind.DELETE,
        "1700000000.000100",
        False,
        0,
        "1700000000.000100",
    ),
    "message_changed_unfurl": (MessageKind.EDIT, None, False, 0, "1663969333.524439"),
    "message_deleted": (MessageKind.DELETE, None, False, 0, "1663966382.046509"),
    "message_file_share_bolo_photo": (MessageKind.POST, "1700000000.000100", False, 1, None),
    "message_file_share_image": (MessageKind.POST, None, False, 1, None),
    "message_file_share_slack_connect": (MessageKind.POST, None, False, 1, None),
    "message_file_share_snippet": (MessageKind.POST, None, False, 1, None),
    "message_forwarded_share": (MessageKind.POST, None, False, 0, None),
    "message_in_ext_shared_channel": (MessageKind.POST, None, False, 0, None),
    "message_legacy_attachments": (MessageKind.POST, None, False, 0, None),
    "message_plain": (MessageKind.POST, None, False, 0, None),
    "message_replied": (MessageKind.IGNORED, None, False, 0, None),
    "message_rich_text_bolo": (MessageKind.POST, None, False, 0, None),
    "message_rich_text_elements": (MessageKind.POST, None, False, 0, None),
    "thread_broadcast": (MessageKind.POST, "1633663824.000500", True, 0, None),
    "thread_reply": (MessageKind.POST, "1700000000.000100", False, 0, None),
    "url_verification": (MessageKind.IGNORED, None, False, 0, None),
}

# name: (action, rules that must be among the reasons)
EXPECTED_DECISION: dict[str, tuple[str, set[str]]] = {
    "app_rate_limited": ("block", {"not_relayed"}),
    "url_verification": ("block", {"not_relayed"}),
    "channel_join": ("block", {"not_relayed"}),
    "message_replied": ("block", {"not_relayed"}),
    "bot_message_app": ("block", {"bot_not_federated"}),
    "bot_message_classic": ("block", {"bot_not_federated"}),
    "bot_message_customized": ("block", {"bot_not_federated"}),
    "message_legacy_attachments": ("block", {"bot_not_federated"}),
    "message_file_share_snippet": ("block", {"file_type_not_allowed"}),
    "message_file_share_slack_connect": ("block", {"file_unverifiable"}),
    "message_plain": ("forward", set()),
    "thread_reply": ("forward", set()),
    "message_file_share_bolo_photo": ("forward", set()),
    "message_forwarded_share": ("redact", {"shared_content_dropped"}),
}


def test_every_reference_event_has_an_expectation():
    assert set(EVENT_FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_reference_event_parses_with_expected_kind_thread_and_files(name):
    message = parse_event(load(name))
    kind, thread_ts, broadcast, n_files, target_ts = EXPECTED[name]
    assert message.kind is kind
    assert message.thread_ts == thread_ts
    assert message.broadcast is broadcast
    assert len(message.files) == n_files
    assert message.target_ts == target_ts


@pytest.mark.parametrize("name", EVENT_FILES)
def test_reference_event_has_no_unknown_fields(name):
    """Every field Slack really sends is known: real traffic is not blocked as unknown."""
    assert parse_event(load(name)).unknown == ()


@pytest.mark.parametrize("name", sorted(EXPECTED_DECISION))
def test_reference_event_decision(name, decide):
    action, rules = EXPECTED_DECISION[name]
    wire = decide(load(name))
    assert wire["action"] == action
    assert rules <= {r["rule"] for r in wire["reasons"]}


def test_rich_text_bolo_never_sends_the_informant_line_or_mentions(decide, readable):
    """The quoted CI line is stripped or blocks the message; what is sent keeps the BOLO."""
    wire = decide(load("message_rich_text_bolo"))
    assert wire["action"] in {"redact", "block"}
    assert any(r["rule"].startswith("informant.") for r in wire["reasons"])
    dump = json.dumps(wire)
    for secret in ("motel on Elm St", "U0OFFICER2", "S0PATROL01", "C0INTEL001"):
        assert secret not in dump
    if wire["message"] is not None:
        assert "Grey 2019 sedan, dent on rear bumper" in readable(wire)


def test_rich_text_bolo_without_its_informant_line_is_sent_without_mentions(decide, readable):
    doc = copy.deepcopy(load("message_rich_text_bolo"))
    event = doc["event"]
    event["blocks"][0]["elements"] = [
        el for el in event["blocks"][0]["elements"] if el["type"] != "rich_text_quote"
    ]
    event["text"] = "\n".join(
        line for line in event["text"].split("\n") if not line.startswith("&gt; CI")
    )
    wire = decide(doc)
    assert wire["action"] == "redact"
    assert {"slack_mention", "slack_channel"} <= {r["rule"] for r in wire["reasons"]}
    seen = readable(wire)
    assert "Grey 2019 sedan, dent on rear bumper" in seen
    assert "armed and dangerous" in seen
    dump = json.dumps(wire)
    for secret in ("U0OFFICER2", "S0PATROL01", "C0INTEL001", "records.example.invalid"):
        assert secret not in dump


def test_file_share_keeps_allowlisted_file_metadata(decide):
    wire = decide(load("message_file_share_bolo_photo"))
    (f,) = wire["message"]["files"]
    assert f == {
        "id": "F0PHOTO002",
        "name": "IMG_0001.jpg",
        "title": "Suspect, camera 3",
        "alt_txt": "Person in dark hoodie at pump 4 (fictional)",
        "mimetype": "image/jpeg",
        "size": 48213,
    }
    assert wire["message"]["thread_ts"] == "1700000000.000100"


def test_thread_broadcast_is_sent_as_a_broadcast_reply(decide):
    doc = load("thread_broadcast")
    doc["event"]["text"] = "Update from the scene: the gray sedan was found abandoned on Route 9."
    wire = decide(doc)
    assert wire["action"] == "forward"
    assert wire["message"]["thread_ts"] == "1633663824.000500"
    assert wire["message"]["reply_broadcast"] is True
    assert "Write in the thread" not in json.dumps(wire)  # the root copy is not sent


# --- edits and deletes --------------------------------------------------------------------


def test_message_changed_judges_the_new_version(decide, readable):
    doc = load("message_changed")
    doc["event"]["message"]["text"] = (
        "BOLO update: gray sedan now northbound on Route 9.\n"
        "CI-5521 says the driver swapped plates at a body shop on Tolland Ave."
    )
    doc["event"]["message"].pop("blocks")
    doc["event"]["previous_message"]["text"] = "BOLO: gray sedan last seen at the Route 9 diner."
    wire = decide(doc)
    assert wire["action"] == "redact"
    assert wire["message"]["kind"] == "edit"
    assert wire["message"]["target_ts"] == "1700000000.000100"
    assert "gray sedan now northbound on Route 9" in readable(wire)
    assert "Tolland" not in json.dumps(wire)
    assert "diner" not in json.dumps(wire)  # the previous text is never sent


def test_message_changed_ignores_the_previous_version(decide):
    """A risky line that the edit removed does not hold back the edited message."""
    doc = load("message_changed")
    doc["event"]["previous_message"]["text"] = "CI-5521 says the sedan is at Tolland Ave."
    doc["event"]["previous_message"].pop("blocks")
    wire = decide(doc)
    assert wire["action"] == "forward"
    assert "Tolland" not in json.dumps(wire)


def test_message_deleted_forwards_a_delete_with_target_ts_only(decide):
    wire = decide(load("message_deleted"))
    assert wire["action"] == "forward"
    assert wire["reasons"] == []
    assert wire["message"] == {"kind": "delete", "target_ts": "1663966382.046509"}


def test_tombstone_edit_is_forwarded_as_a_delete(decide):
    wire = decide(load("message_changed_tombstone"))
    assert wire["action"] == "forward"
    assert wire["message"]["kind"] == "delete"
    assert wire["message"]["target_ts"] == "1700000000.000100"
    assert "This message was deleted" not in json.dumps(wire)


# --- wrapped and bare ---------------------------------------------------------------------

WRAPPED_MESSAGES = [
    name
    for name in EVENT_FILES
    if isinstance(load(name).get("event"), dict) and load(name)["event"].get("type") == "message"
]


@pytest.mark.parametrize("name", WRAPPED_MESSAGES)
def test_wrapped_and_bare_forms_give_the_same_decision(name, decide):
    doc = load(name)
    assert decide(doc) == decide(doc["event"])


def test_wrapped_forms_cover_posts_edits_deletes_and_files():
    kinds = {parse_event(load(n)).kind for n in WRAPPED_MESSAGES}
    assert {MessageKind.POST, MessageKind.EDIT, MessageKind.DELETE} <= kinds
    assert "message_file_share_image" in WRAPPED_MESSAGES


# --- unknown fields fail closed -----------------------------------------------------------


def _plain() -> dict[str, Any]:
    return copy.deepcopy(load("message_plain"))


def _photo() -> dict[str, Any]:
    return copy.deepcopy(load("message_file_share_bolo_photo"))


def _unknown_block_type() -> dict[str, Any]:
    doc = _plain()
    doc["event"]["blocks"].append({"type": "hologram", "block_id": "h1", "text": CANARY})
    return doc


def _unsupported_block_type() -> dict[str, Any]:
    doc = _plain()
    doc["event"]["blocks"].append(
        {"type": "video", "block_id": "v1", "title": {"type": "plain_text", "text": CANARY}}
    )
    return doc


def _unknown_element_type() -> dict[str, Any]:
    doc = _plain()
    section = doc["event"]["blocks"][0]["elements"][0]
    section["elements"].append({"type": "sparkle", "text": CANARY})
    return doc


def _unknown_container_type() -> dict[str, Any]:
    doc = _plain()
    doc["event"]["blocks"][0]["elements"].append(
        {"type": "rich_text_table", "elements": [{"type": "text", "text": CANARY}]}
    )
    return doc


def _unknown_top_level_key() -> dict[str, Any]:
    doc = _plain()
    doc["event"]["ai_summary"] = CANARY
    return doc


def _unknown_wrapper_key() -> dict[str, Any]:
    doc = _plain()
    doc["new_envelope_field"] = CANARY
    return doc


def _unknown_file_key() -> dict[str, Any]:
    doc = _photo()
    doc["event"]["files"][0]["transcript"] = CANARY
    return doc


def _unknown_style_key() -> dict[str, Any]:
    doc = _plain()
    section = doc["event"]["blocks"][0]["elements"][0]
    section["elements"][0]["style"] = {"bold": True, "blink": CANARY}
    return doc


def _unknown_attachment_key() -> dict[str, Any]:
    doc = _plain()
    doc["event"]["attachments"] = [{"text": "Gray sedan seen on Route 9", "hidden_note": CANARY}]
    return doc


def _unknown_metadata_key() -> dict[str, Any]:
    doc = _plain()
    doc["event"]["metadata"] = {"event_type": "bolo", "event_payload": {}, "secret": CANARY}
    return doc


def _unknown_edit_key() -> dict[str, Any]:
    doc = copy.deepcopy(load("message_changed"))
    doc["event"]["message"]["ai_summary"] = CANARY
    return doc


UNKNOWN_CASES = {
    "block_type": _unknown_block_type,
    "unsupported_block_type": _unsupported_block_type,
    "element_type": _unknown_element_type,
    "container_type": _unknown_container_type,
    "top_level_key": _unknown_top_level_key,
    "wrapper_key": _unknown_wrapper_key,
    "file_key": _unknown_file_key,
    "style_key": _unknown_style_key,
    "attachment_key": _unknown_attachment_key,
    "metadata_key": _unknown_metadata_key,
    "edited_message_key": _unknown_edit_key,
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_CASES))
def test_unknown_field_is_recorded_by_path_and_blocks(case, decide):
    doc = UNKNOWN_CASES[case]()
    message = parse_event(doc)
    assert message.unknown, "an unknown field must be recorded"
    assert all(CANARY not in path for path in message.unknown), "paths never carry values"
    wire = decide(doc)
    assert wire["action"] == "block"
    assert wire["message"] is None
    assert "unknown_field" in {r["rule"] for r in wire["reasons"]}
    assert CANARY not in json.dumps(wire)


# --- malformed input never crashes --------------------------------------------------------


@pytest.mark.parametrize("doc", [None, [], [1, 2], "message", 3, 2.5, True])
def test_non_object_raises_input_error(doc):
    with pytest.raises(InputError):
        parse_event(doc)


@pytest.mark.parametrize("doc", [{"event": 5}, {"type": "event_callback", "event": []}])
def test_wrapper_without_event_object_raises_input_error(doc):
    with pytest.raises(InputError):
        parse_event(doc)


TEXT = "Gray sedan seen northbound on Route 9 near the diner."
MALFORMED: dict[str, dict[str, object]] = {
    "blocks_not_list": {"blocks": 5},
    "attachments_not_list": {"attachments": 5},
    "files_not_list": {"files": 5},
    "files_item_not_object": {"files": [5]},
    "rich_text_elements_not_list": {"blocks": [{"type": "rich_text", "elements": 5}]},
    "section_fields_not_list": {
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": TEXT}, "fields": 5}]
    },
    "context_elements_not_list": {"blocks": [{"type": "context", "elements": 5}]},
    "attachment_fields_not_list": {"attachments": [{"text": TEXT, "fields": 5}]},
    "attachment_message_blocks_not_list": {"attachments": [{"message_blocks": 5}]},
    "metadata_not_object": {"metadata": [1]},
    "style_not_object": {
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": TEXT}]},
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": "x", "style": 5}],
                    },
                ],
            }
        ]
    },
    "edited_message_blocks_not_list": {
        "subtype": "message_changed",
        "message": {"type": "message", "text": TEXT, "ts": "1.2", "blocks": {"a": 1}},
    },
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_shapes_fail_closed_without_crashing(case, decide):
    """A field of the wrong JSON type is refused (InputError) or blocked, never a crash."""
    doc = {"type": "message", "user": "U0TEST0001", "ts": "1.1", "text": TEXT, **MALFORMED[case]}
    try:
        message = parse_event(doc)
    except InputError:
        return
    assert message.unknown
    assert decide(doc)["action"] == "block"
