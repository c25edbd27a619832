"""Twilio Media Streams: a bidirectional ``<Connect><Stream>`` call over one WebSocket.

Message shapes from Twilio's "Media Streams - WebSocket Messages"
(https://www.twilio.com/docs/voice/media-streams/websocket-messages):

* Twilio sends ``connected``, then ``start`` (``start.streamSid``, ``callSid``,
  ``customParameters``, ``mediaFormat`` of ``audio/x-mulaw`` at 8000 Hz), ``media``
  (``media.payload``: 20 ms of base64 mu-law, ``media.track``), ``dtmf``
  (``dtmf.digit``), ``mark`` (``mark.name``: one of ours, played or cleared) and ``stop``.
* We send ``media`` (``streamSid``, ``media.payload``), ``mark`` (``mark.name``) after
  each chunk and ``clear`` on barge-in; every message names the ``streamSid``.
"""

from __future__ import annotations

from typing import Any

from ..websocket.protocol import EndRequest, Message, ProtocolError
from .base import CarrierSerializer, Parsed, dumps, section

__all__ = ["TwilioSerializer"]


class TwilioSerializer(CarrierSerializer):
    """Serializer for Twilio Media Streams.  ``stream_id`` (the streamSid) comes from ``start``."""

    carrier = "twilio"

    @property
    def stream_sid(self) -> str | None:
        """Twilio's name for :attr:`stream_id`."""
        return self.stream_id

    @property
    def call_sid(self) -> str | None:
        return self.call_id

    def carrier_event(self, kind: str, event: dict[str, Any]) -> Parsed:
        if kind == "mark":
            return self.mark_echoed(event.get("mark"))
        if kind == "start":
            start = section(event, "start")
            return self.started(
                event.get("streamSid", start.get("streamSid")),
                start.get("callSid"),
                start.get("customParameters"),
                start.get("mediaFormat"),
                ("encoding", "sampleRate"),
            )
        if kind == "stop":
            return [EndRequest("twilio_stop", graceful=False)]  # the call is over
        if kind == "connected":
            return []
        raise ProtocolError("unknown_event", f"unknown Twilio event {kind[:64]!r}")

    def media_message(self, payload: str) -> Message:
        return dumps({"event": "media", "streamSid": self.stream_id, "media": {"payload": payload}})

    def mark_message(self, name: str) -> Message:
        return dumps({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})

    def clear_message(self) -> Message:
        return dumps({"event": "clear", "streamSid": self.stream_id})
