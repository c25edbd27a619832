"""WebRTC transport (the ``webrtc`` extra: ``pip install 'beluga-voice[webrtc]'``).

Browsers on real networks want WebRTC, not raw PCM over a WebSocket: Opus, jitter
buffers, and the browser's echo cancellation and noise suppression on the microphone.
:class:`WebRTCServer` negotiates calls over its WebSocket (see :mod:`.server` for why and
how) and runs one pipeline per call around a :class:`WebRTCTransport`; the events are the
WebSocket protocol's, carried on a data channel.  Runs on asyncio (aiortc's loop), which is
what ``serve`` uses.
"""

from .server import SIGNALLING_PATH, IceServer, WebRTCConfig, WebRTCServer
from .tracks import BotAudioTrack, InboundAudio
from .transport import WebRTCInput, WebRTCOutput, WebRTCTransport

__all__ = [
    "SIGNALLING_PATH",
    "BotAudioTrack",
    "IceServer",
    "InboundAudio",
    "WebRTCConfig",
    "WebRTCInput",
    "WebRTCOutput",
    "WebRTCServer",
    "WebRTCTransport",
]
