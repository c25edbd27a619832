"""OpenAI Realtime and xAI Grok Voice Agent providers.

One sans-I/O protocol core (:mod:`.core`) shared by both services, a :class:`Dialect`
holding everything Grok does differently, and a thin ``websockets`` shell
(:mod:`.session`).  Importing this package registers ``openai_realtime`` and ``grok``.
"""

from .core import RealtimeProtocol
from .dialect import GROK, OPENAI, Dialect
from .provider import GrokVoiceProvider, OpenAIRealtimeProvider, RealtimeProvider
from .session import RealtimeSession
from .settings import FunctionTool, GrokVoiceSettings, OpenAIRealtimeSettings, RealtimeSettings

__all__ = [
    "GROK",
    "OPENAI",
    "Dialect",
    "FunctionTool",
    "GrokVoiceProvider",
    "GrokVoiceSettings",
    "OpenAIRealtimeProvider",
    "OpenAIRealtimeSettings",
    "RealtimeProtocol",
    "RealtimeProvider",
    "RealtimeSession",
    "RealtimeSettings",
]
