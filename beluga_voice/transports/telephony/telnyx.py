"""Telnyx Media Streaming: a call's media over WebSocket, bidirectional in RTP mode.

Message shapes from Telnyx's "Media Streaming" guide
(https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming) and its
AsyncAPI reference "Stream call media over WebSocket"
(https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket):

* Telnyx sends ``connected``, then ``start`` (top-level ``stream_id``;
  ``start.call_control_id``, ``custom_parameters``, ``media_format`` with ``encoding``
  ``PCMU``/``PCMA`` and ``sample_rate``), ``media`` (``media.payload``: base64 RTP
  payload, ``media.track``), ``dtmf`` (``dtmf.digit``), ``mark`` (``mark.name``, also for
  marks a ``clear`` dropped), ``error`` (``payload.code``/``title``/``detail``) and ``stop``.
* We send ``media`` (``media.payload``), ``mark`` (``mark.name``) and ``clear``.  Playback
  needs the stream started with ``stream_bidirectional_mode: "rtp"`` and a G.711
  ``stream_bidirectional_codec`` (see docs/transports.md).
"""

from __future__ import annotations

from typing import Any

from ..websocket.protocol import EndRequest, Message, ProtocolError
from .base import CarrierSerializer, Parsed, dumps, section

__all__ = ["TelnyxSerializer"]


class TelnyxSerializer(CarrierSerializer):
    """Serializer for Telnyx Media Streaming (bidirectional RTP mode, PCMU or PCMA)."""

    carrier = "telnyx"

    def carrier_event(self, kind: str, event: dict[str, Any]) -> Parsed:
        if kind == "mark":
            return self.mark_echoed(event.get("mark"))
        if kind == "start":
            start = section(event, "start")
            return self.started(
                event.get("stream_id"),
                start.get("call_control_id"),
                start.get("custom_parameters"),
                start.get("media_format"),
                ("encoding", "sample_rate"),
            )
        if kind == "stop":
            return [EndRequest("telnyx_stop", graceful=False)]  # the call is over
        if kind == "error":
            body = event.get("payload")
            body = body if isinstance(body, dict) else {}
            detail = " ".join(str(body[k]) for k in ("code", "title", "detail") if k in body)
            return self.carrier_error(detail or "stream error")
        if kind == "connected":
            return []
        raise ProtocolError("unknown_event", f"unknown Telnyx event {kind[:64]!r}")

    def media_message(self, payload: str) -> Message:
        return dumps({"event": "media", "media": {"payload": payload}})

    def mark_message(self, name: str) -> Message:
        return dumps({"event": "mark", "mark": {"name": name}})

    def clear_message(self) -> Message:
        return dumps({"event": "clear"})
