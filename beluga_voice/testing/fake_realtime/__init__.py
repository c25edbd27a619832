"""Fake OpenAI Realtime / Grok Voice Agent servers for offline development and tests.

Run one from a shell with ``python -m beluga_voice.testing.fake_realtime --flavour grok``.
"""

from .schema import SDK_AVAILABLE, GrokSession, check_client_event, check_server_event
from .script import Faults, FunctionCall, Reply, ScriptEntry
from .server import FakeRealtimeServer, Records

__all__ = [
    "SDK_AVAILABLE",
    "FakeRealtimeServer",
    "Faults",
    "FunctionCall",
    "GrokSession",
    "Records",
    "Reply",
    "ScriptEntry",
    "check_client_event",
    "check_server_event",
]
