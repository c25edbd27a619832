"""Plivo Audio Streaming: a bidirectional ``<Stream>`` element over one WebSocket.

Message shapes from Plivo's "Stream Event Protocol"
(https://www.plivo.com/docs/voice/audio-streaming/audio-streaming) and the ``<Stream>``
XML element (https://www.plivo.com/docs/voice/xml/audiostream):

* Plivo sends ``start`` (``start.streamId``, ``callId``, ``mediaFormat`` with
  ``encoding`` ``audio/x-mulaw`` and ``sampleRate``), ``media`` (``media.payload``),
  ``dtmf`` (``dtmf.digit``), ``playedStream`` (a checkpoint's ``name``, once the audio
  before it played) and ``clearedAudio``.  There is no ``stop``: the socket closes.
* We send ``playAudio`` (``media.contentType``, ``sampleRate``, ``payload``),
  ``checkpoint`` (``streamId``, ``name``) after each chunk and ``clearAudio``
  (``streamId``).  Plivo answers a ``clearAudio`` with ``clearedAudio`` and does not
  return the checkpoints it dropped.

The ``<Stream>`` needs ``bidirectional="true"`` and
``contentType="audio/x-mulaw;rate=8000"`` (Plivo's default is L16).
"""

from __future__ import annotations

from typing import Any

from ..websocket.protocol import Message, ProtocolError
from .base import CarrierSerializer, Parsed, dumps, section

__all__ = ["PlivoSerializer"]


class PlivoSerializer(CarrierSerializer):
    """Serializer for Plivo Audio Streaming (mu-law 8 kHz, bidirectional)."""

    carrier = "plivo"

    def __init__(self) -> None:
        super().__init__(codec="pcmu")  # Plivo streams G.711 as mu-law only

    def set_codec(self, name: Any) -> None:
        if name != "audio/x-mulaw":
            super().set_codec(None)  # refused, with the message that says what to set

    def carrier_event(self, kind: str, event: dict[str, Any]) -> Parsed:
        if kind == "playedStream":
            return self.mark_echoed(event)
        if kind == "start":
            start = section(event, "start")
            headers = event.get("extra_headers")
            return self.started(
                start.get("streamId", event.get("streamId")),
                start.get("callId"),
                {"extra_headers": headers} if isinstance(headers, str) else None,
                start.get("mediaFormat"),
                ("encoding", "sampleRate"),
            )
        if kind == "clearedAudio":
            return []
        raise ProtocolError("unknown_event", f"unknown Plivo event {kind[:64]!r}")

    def media_message(self, payload: str) -> Message:
        media = {"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": payload}
        return dumps({"event": "playAudio", "media": media})

    def mark_message(self, name: str) -> Message:
        return dumps({"event": "checkpoint", "streamId": self.stream_id, "name": name})

    def clear_message(self) -> Message:
        return dumps({"event": "clearAudio", "streamId": self.stream_id})
