"""A Slack emulator for tests and ``relay demo``: several workspaces, the Web API methods the
relay uses with Slack's response shapes and error codes, signed Events API delivery with
retries, Socket Mode, file upload v2 and authenticated downloads.

See ``docs/emulator.md``.
"""

from relay.emulator.delivery import Attempt, DeliveryRecord, DeliveryState, DeliveryStats
from relay.emulator.emulator import Emulator, start_emulator
from relay.emulator.limits import Limit
from relay.emulator.spec import (
    DEFAULT_BOT_SCOPES,
    ChannelSpec,
    EventsApi,
    SocketMode,
    Timings,
    UserSpec,
    WorkspaceSpec,
)
from relay.emulator.users import FileUpload
from relay.emulator.webhook import sign

__all__ = [
    "DEFAULT_BOT_SCOPES",
    "Attempt",
    "ChannelSpec",
    "DeliveryRecord",
    "DeliveryState",
    "DeliveryStats",
    "Emulator",
    "EventsApi",
    "FileUpload",
    "Limit",
    "SocketMode",
    "Timings",
    "UserSpec",
    "WorkspaceSpec",
    "sign",
    "start_emulator",
]
