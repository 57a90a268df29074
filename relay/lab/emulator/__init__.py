"""A Slack emulator for tests and ``relay demo``: several workspaces, the Web API methods the
relay uses with Slack's response shapes and error codes, signed Events API delivery with
retries, Socket Mode, file upload v2 and authenticated downloads.

See ``docs/emulator.md``.
"""

from relay.lab.emulator.api_views import View
from relay.lab.emulator.delivery import Attempt, DeliveryRecord, DeliveryState, DeliveryStats
from relay.lab.emulator.emulator import Emulator, start_emulator
from relay.lab.emulator.interaction import Interaction
from relay.lab.emulator.limits import Limit
from relay.lab.emulator.spec import (
    DEFAULT_BOT_SCOPES,
    DEFAULT_USER_SCOPES,
    ChannelSpec,
    EventsApi,
    SocketMode,
    Timings,
    UserGroupSpec,
    UserSpec,
    WorkspaceSpec,
)
from relay.lab.emulator.users import FileUpload
from relay.lab.emulator.webhook import sign

__all__ = [
    "DEFAULT_BOT_SCOPES",
    "DEFAULT_USER_SCOPES",
    "Attempt",
    "ChannelSpec",
    "DeliveryRecord",
    "DeliveryState",
    "DeliveryStats",
    "Emulator",
    "EventsApi",
    "FileUpload",
    "Interaction",
    "Limit",
    "SocketMode",
    "Timings",
    "UserGroupSpec",
    "UserSpec",
    "View",
    "WorkspaceSpec",
    "sign",
    "start_emulator",
]
