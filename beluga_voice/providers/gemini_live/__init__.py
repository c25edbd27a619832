"""Google Gemini Live provider (BidiGenerateContent over WebSocket).

A sans-I/O protocol core (:mod:`.protocol`, :mod:`.lifecycle`, :mod:`.wire`,
:mod:`.settings`) under a thin ``websockets`` shell (:mod:`.session`, :mod:`.connection`).
Importing this package registers the ``gemini`` provider.
"""

from .models import MODELS, LiveModel
from .protocol import SPEAK_PREFIX, CloseVerdict, GeminiLiveProtocol, Phase
from .provider import GeminiLiveProvider
from .session import GeminiLiveSession
from .settings import (
    DEFAULT_MODEL,
    DEFAULT_VERTEX_MODEL,
    GeminiSettings,
    ToolDeclaration,
    build_setup,
    endpoint_url,
)
from .wire import code_from_gemini_close

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VERTEX_MODEL",
    "MODELS",
    "SPEAK_PREFIX",
    "CloseVerdict",
    "GeminiLiveProtocol",
    "GeminiLiveProvider",
    "GeminiLiveSession",
    "GeminiSettings",
    "LiveModel",
    "Phase",
    "ToolDeclaration",
    "build_setup",
    "code_from_gemini_close",
    "endpoint_url",
]
