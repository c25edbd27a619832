"""An OpenAI Realtime (GA) compatible server in front of any beluga-voice provider.

Point the official ``openai`` SDK, a browser or any OpenAI Realtime client at
``ws://host:port/v1/realtime`` and talk to the offline ``local`` provider, Gemini, Nova,
Grok, OpenAI itself (through retry, fallback and metrics) or an STT -> agent -> TTS
cascade.  See ``docs/openai-compatible-server.md``.

- :mod:`.core`: the sans-I/O protocol core (client events in, server events out);
- :mod:`.server`: the WebSocket shell; :mod:`.backend`: what it talks to.
"""

from .actions import Action
from .backend import Backend, BackendSession, ProviderBackend, provider_settings
from .core import RealtimeServerCore
from .schema import UNSUPPORTED_EVENTS, parse_client_event
from .server import INSECURE_KEY_PREFIX, OpenAIRealtimeServer
from .session import BackendSettings

__all__ = [
    "INSECURE_KEY_PREFIX",
    "UNSUPPORTED_EVENTS",
    "Action",
    "Backend",
    "BackendSession",
    "BackendSettings",
    "OpenAIRealtimeServer",
    "ProviderBackend",
    "RealtimeServerCore",
    "parse_client_event",
    "provider_settings",
]
