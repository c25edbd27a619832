"""Twilio Media Streams: mu-law 8 kHz audio in base64 JSON (a bidirectional ``<Stream>``).

Twilio connects to our server when a call hits a ``<Connect><Stream url="wss://...">`` verb
and sends JSON text messages: ``connected``, ``start`` (with the ``streamSid`` we must echo
in everything we send), ``media`` (20 ms of G.711 mu-law at 8 kHz, base64), ``mark``,
``dtmf`` and ``stop``.  We answer with ``media`` messages of our own and, on barge-in, a
``clear`` that makes Twilio drop the audio it has buffered for the caller.

The pipeline runs at 8 kHz with this serializer (``input_sample_rate`` and
``output_sample_rate`` below); the S2S processor resamples to and from the provider.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ...audio import ulaw_decode, ulaw_encode
from ...frames import Frame, InputAudioFrame, InterruptionFrame
from .protocol import EndRequest, Message, ProtocolError, Serializer

__all__ = ["TwilioSerializer"]

_MAX_PAYLOAD_CHARS = 64_000  # about 5 s of 8 kHz mu-law in base64; Twilio sends 20 ms


class TwilioSerializer(Serializer):
    """Serializer for Twilio Media Streams.  ``stream_sid`` is learnt from ``start``."""

    input_sample_rate = 8000
    output_sample_rate = 8000

    def __init__(self) -> None:
        self.stream_sid: str | None = None
        self.call_sid: str | None = None
        self.custom_parameters: dict[str, Any] = {}

    def serialize_audio(self, chunk: bytes) -> Message | None:
        if self.stream_sid is None:
            return None  # nothing to address it to before Twilio said "start"
        payload = base64.b64encode(ulaw_encode(chunk)).decode("ascii")
        return json.dumps(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        )

    def serialize(self, frame: Frame) -> Message | None:
        if isinstance(frame, InterruptionFrame) and self.stream_sid is not None:
            return json.dumps({"event": "clear", "streamSid": self.stream_sid})
        return None

    def deserialize(self, message: Message) -> list[Frame | EndRequest]:
        if isinstance(message, bytes):
            raise ProtocolError("invalid_event", "Twilio Media Streams sends text messages only")
        try:
            event = json.loads(message)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError("invalid_json", f"text message is not JSON: {exc}") from None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise ProtocolError("invalid_event", "a Twilio message is an object with 'event'")
        kind = event["event"]
        if kind == "media":
            return self._media(event)
        if kind == "start":
            start = event.get("start")
            if not isinstance(start, dict):
                raise ProtocolError("invalid_event", "'start' needs a 'start' object")
            sid = event.get("streamSid", start.get("streamSid"))
            if not isinstance(sid, str) or not sid:
                raise ProtocolError("invalid_event", "'start' has no streamSid")
            self.stream_sid = sid
            call = start.get("callSid")
            self.call_sid = call if isinstance(call, str) else None
            params = start.get("customParameters")
            self.custom_parameters = params if isinstance(params, dict) else {}
            return []
        if kind == "stop":
            return [EndRequest("twilio_stop")]
        if kind in ("connected", "mark", "dtmf"):
            return []
        raise ProtocolError("unknown_event", f"unknown Twilio event {kind[:64]!r}")

    def _media(self, event: dict[str, Any]) -> list[Frame | EndRequest]:
        media = event.get("media")
        if not isinstance(media, dict):
            raise ProtocolError("invalid_event", "'media' needs a 'media' object")
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return []
        payload = media.get("payload")
        if not isinstance(payload, str) or len(payload) > _MAX_PAYLOAD_CHARS:
            raise ProtocolError("invalid_audio", "'media.payload' must be base64 (at most 64 kB)")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("invalid_audio", "'media.payload' is not valid base64") from None
        if not raw:
            return []
        return [InputAudioFrame(ulaw_decode(raw), 8000, 1)]
