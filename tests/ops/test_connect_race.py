"""uvloop's "File descriptor N is used by transport" while a connection opens under load (found
by ``relay bench soak``): a failed connection, retried, never a poison event."""

from __future__ import annotations

import pytest

from relay.errors import DeliveryError
from relay.slack.web import map_slack_errors

RACE = "File descriptor 25 is used by transport <TCPTransport closed=False reading=True 0x5>"


async def test_the_uvloop_connect_race_is_a_retryable_unreachable() -> None:
    with pytest.raises(DeliveryError) as err:
        async with map_slack_errors("chat.postEphemeral"):
            raise RuntimeError(RACE)
    assert (err.value.code, err.value.retryable) == ("unreachable", True)


async def test_any_other_runtime_error_is_not_taken_for_it() -> None:
    with pytest.raises(RuntimeError, match="something else"):
        async with map_slack_errors("chat.postMessage"):
            raise RuntimeError("something else")
