"""OpenAI GPT-Live: the ``openai_live`` provider.

A sans-I/O protocol core (:mod:`.protocol`, with :mod:`.turns` deriving replies and user
turns from a full-duplex stream and :mod:`.backend` reading the Responses backend's
events) and a thin ``websockets`` shell (:mod:`.session`).  Importing this package
registers ``openai_live``.
"""

from .protocol import LiveProtocol, State
from .provider import OpenAILiveProvider
from .session import OpenAILiveSession
from .settings import FunctionTool, OpenAILiveSettings
from .wire import DELEGATE_TOOL

__all__ = [
    "DELEGATE_TOOL",
    "FunctionTool",
    "LiveProtocol",
    "OpenAILiveProvider",
    "OpenAILiveSession",
    "OpenAILiveSettings",
    "State",
]
