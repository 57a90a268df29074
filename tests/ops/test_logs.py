"""``relay.logs``: JSON lines in production, the console renderer on a terminal, stdlib
loggers (aiohttp's) through the same renderer, exceptions reduced to their class name."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from relay.logs import configure_logging, get_logger

SECRET = "BOLO-TEXT-MUST-NOT-SHOW"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    relay_level = logging.getLogger("relay").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("relay").setLevel(relay_level)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_have_timestamp_level_event_and_values() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    get_logger("delivery").info("delivered", partner="MA9990200", attempts=2)
    (line,) = _lines(out)
    assert line["event"] == "delivered"
    assert line["level"] == "info"
    assert line["partner"] == "MA9990200"
    assert line["attempts"] == 2
    assert line["logger"] == "relay.delivery"
    stamp = dt.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert line["timestamp"].endswith("Z")
    assert stamp.utcoffset() == dt.timedelta(0)
    assert out.getvalue().count("\n") == 1


def test_level_filter() -> None:
    out = io.StringIO()
    configure_logging("json", "warning", stream=out)
    log = get_logger("relay.service")
    log.debug("noise")
    log.info("noise")
    log.warning("kept", reason="partner_down")
    log.error("kept too")
    assert [(r["level"], r["event"]) for r in _lines(out)] == [
        ("warning", "kept"),
        ("error", "kept too"),
    ]


def test_debug_level_shows_debug() -> None:
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    get_logger("bridge").debug("detail", event_id="Ev1")
    assert _lines(out)[0]["level"] == "debug"


def test_auto_is_json_off_a_terminal_and_console_on_one() -> None:
    out = io.StringIO()
    configure_logging("auto", "info", stream=out)
    get_logger("x").info("started", agency="CT9990100")
    assert _lines(out)[0]["event"] == "started"

    tty = _Tty()
    configure_logging("auto", "info", stream=tty)
    get_logger("x").info("started", agency="CT9990100")
    text = tty.getvalue()
    assert "started" in text
    assert "agency" in text
    assert not text.lstrip().startswith("{")


def test_console_mode() -> None:
    out = io.StringIO()
    configure_logging("console", "info", stream=out)
    get_logger("x").warning("partner_down", partner="MA9990200")
    text = out.getvalue()
    assert "partner_down" in text
    assert "partner" in text
    assert "MA9990200" in text
    assert "\x1b[" not in text  # no colours when the stream is not a terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_reconfiguring_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    configure_logging("json", "info", stream=second)
    get_logger("x").info("once")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


def test_own_exceptions_reduced_to_type_name() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    try:
        raise ValueError(SECRET)
    except ValueError:
        get_logger("delivery").exception("delivery_failed", partner="MA9990200")
    text = out.getvalue()
    assert SECRET not in text
    assert "Traceback" not in text
    (line,) = _lines(out)
    assert line["exc_type"] == "ValueError"
    assert line["exc_at"].startswith("test_logs.py:")
    assert line["level"] == "error"


def test_stdlib_aiohttp_records_go_through_the_renderer_without_exception_text() -> None:
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    aiohttp_log = logging.getLogger("aiohttp.server")
    aiohttp_log.info("GET /slack/events %s", SECRET)  # below WARNING: not shown
    try:
        raise RuntimeError(f"bad request body: {SECRET}")
    except RuntimeError:
        aiohttp_log.exception("Error handling request")
    logging.getLogger("aiohttp.web").warning("slow handler")
    text = out.getvalue()
    assert SECRET not in text
    assert "Traceback" not in text
    lines = _lines(out)
    assert [r["event"] for r in lines] == ["Error handling request", "slow handler"]
    assert lines[0]["exc_type"] == "RuntimeError"
    assert lines[0]["level"] == "error"
    assert lines[0]["logger"] == "aiohttp.server"
    assert lines[0]["timestamp"].endswith("Z")


def test_exc_info_given_as_an_instance() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    get_logger("x").error("failed", exc_info=KeyError(SECRET))
    (line,) = _lines(out)
    assert line["exc_type"] == "KeyError"
    assert SECRET not in out.getvalue()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="format"):
        configure_logging("xml", "info", stream=io.StringIO())
    with pytest.raises(ValueError, match="level"):
        configure_logging("json", "loud", stream=io.StringIO())
