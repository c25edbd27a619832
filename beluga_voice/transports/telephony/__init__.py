"""Telephony: phone calls through a carrier's media stream (Twilio, Telnyx, Plivo).

A carrier connects a call to our WebSocket server and streams it as JSON events with
base64 G.711 audio at 8 kHz.  Each serializer here speaks one carrier's protocol (see
:mod:`.base` for what they share: marks for the played position, ``clear`` on barge-in,
DTMF keypresses as :class:`~beluga_voice.frames.InputDTMFFrame`); pass it as the
server's ``serializer_factory``, or run ``beluga-voice serve --protocol twilio``.
"""

from collections.abc import Callable
from typing import Final

from ..websocket.protocol import Serializer
from .base import DTMF_DIGITS, CarrierSerializer, PlaybackMarks
from .plivo import PlivoSerializer
from .telnyx import TelnyxSerializer
from .twilio import TwilioSerializer

__all__ = [
    "CARRIERS",
    "DTMF_DIGITS",
    "CarrierSerializer",
    "PlaybackMarks",
    "PlivoSerializer",
    "TelnyxSerializer",
    "TwilioSerializer",
]

CARRIERS: Final[dict[str, Callable[[], Serializer]]] = {
    "twilio": TwilioSerializer,
    "telnyx": TelnyxSerializer,
    "plivo": PlivoSerializer,
}
"""Serializer factory by carrier name (``serve --protocol``)."""
