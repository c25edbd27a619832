"""Transports: where a pipeline meets the world (files, WebSockets, the local sound card).

Every transport has an input half (a source of :class:`~beluga_voice.frames.InputAudioFrame`)
and an output half (a paced sink of bot audio that tracks speaking and handles barge-in);
see :mod:`.base`, :mod:`.output` and :mod:`.pacing`.  The WebSocket server and client live in
:mod:`beluga_voice.transports.websocket`.
"""

from .base import ClientConnectedFrame, ClientDisconnectedFrame, InputTransport, Transport
from .file import WavFileInput, WavFileOutput
from .local_audio import LocalAudioTransport, LocalAudioUnavailable
from .output import OutputStats, OutputTransport
from .pacing import AnyioClock, Clock, Pacer, PlaybackBuffer
from .recorder import ConversationRecorder

__all__ = [
    "AnyioClock",
    "ClientConnectedFrame",
    "ClientDisconnectedFrame",
    "Clock",
    "ConversationRecorder",
    "InputTransport",
    "LocalAudioTransport",
    "LocalAudioUnavailable",
    "OutputStats",
    "OutputTransport",
    "Pacer",
    "PlaybackBuffer",
    "Transport",
    "WavFileInput",
    "WavFileOutput",
]
