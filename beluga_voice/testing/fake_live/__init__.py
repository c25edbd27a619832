"""A fake OpenAI GPT-Live server for offline tests (see :mod:`.server`)."""

from .schema import SDK_AVAILABLE, check_client_event, check_server_event
from .script import Delegate, Reply, ScriptEntry
from .server import FakeLiveServer, Records

__all__ = [
    "SDK_AVAILABLE",
    "Delegate",
    "FakeLiveServer",
    "Records",
    "Reply",
    "ScriptEntry",
    "check_client_event",
    "check_server_event",
]
