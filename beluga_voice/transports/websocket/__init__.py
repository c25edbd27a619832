"""WebSocket transport: a server hosting one pipeline per connection, a client, serializers.

The default wire protocol (PCM16 binary audio, JSON text events) is documented in
``docs/websocket-protocol.md``; :class:`TwilioSerializer` speaks Twilio Media Streams (it
lives in :mod:`beluga_voice.transports.telephony` with the other carriers).
"""

from ..telephony.twilio import TwilioSerializer
from .client import WebSocketClient, WebSocketClientProcessor, event_to_frame
from .protocol import (
    PROTOCOL_VERSION,
    DefaultSerializer,
    EndRequest,
    Message,
    ProtocolError,
    Serializer,
)
from .server import CLOSE_TRY_AGAIN, PipelineFactory, ServerConfig, WebSocketServer
from .transport import CLOSE_IDLE, WebSocketInput, WebSocketOutput, WebSocketTransport

__all__ = [
    "CLOSE_IDLE",
    "CLOSE_TRY_AGAIN",
    "PROTOCOL_VERSION",
    "DefaultSerializer",
    "EndRequest",
    "Message",
    "PipelineFactory",
    "ProtocolError",
    "Serializer",
    "ServerConfig",
    "TwilioSerializer",
    "WebSocketClient",
    "WebSocketClientProcessor",
    "WebSocketInput",
    "WebSocketOutput",
    "WebSocketServer",
    "WebSocketTransport",
    "event_to_frame",
]
