"""The ElevenLabs WebSocket input-streaming protocol, sans I/O.

Endpoint ``wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/stream-input`` (see
docs/services/elevenlabs.md for the sources).  The client sends JSON text messages: first
``{"text": " ", "voice_settings": ..., "generation_config": ...}``, then ``{"text": ...}``
pieces (each ending with a space, whole words only, as the service asks), ``"flush": true``
to have what is buffered spoken now, and ``{"text": ""}`` to end.  The server answers
``{"audio": base64, "alignment": {"chars", "charStartTimesMs", "charDurationsMs"}}``
(times relative to that chunk) and finally ``{"isFinal": true}``; errors come as a JSON
``{"message"/"error"}`` object or a close frame.

:class:`ElevenLabsCore` turns the caller's text into those messages and the server's
messages into PCM and alignment on a :class:`~beluga_voice.tts.alignment.Timeline`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from ...errors import ErrorCode, S2SError
from ..alignment import Timeline
from ..wirecore import PCM_RATES, PCMDecoder, Received, check_voice, json_object

__all__ = ["OUTPUT_RATES", "ElevenLabsCore", "ElevenLabsSettings"]

OUTPUT_RATES = PCM_RATES
"""The ``pcm_<rate>`` output formats the service offers."""


@dataclass(frozen=True, slots=True)
class ElevenLabsSettings:
    """What the handshake and the first message carry."""

    voice_id: str = "JBFqnCBsd6RMkjVDRZzb"
    model_id: str = "eleven_flash_v2_5"
    sample_rate: int = 24000
    stability: float | None = None
    similarity_boost: float | None = None
    speed: float | None = None
    chunk_length_schedule: tuple[int, ...] | None = None
    """Characters buffered before each generation (the service's default when None);
    sentence ends are flushed anyway."""
    inactivity_timeout: int = 60
    """Seconds the service keeps a quiet connection open (it allows up to 180): a reply
    whose agent thinks longer than this between two words would be closed."""
    base_url: str = "wss://api.elevenlabs.io"

    def __post_init__(self) -> None:
        check_voice("elevenlabs", self.sample_rate, self.voice_id)

    def url(self) -> str:
        query = urlencode(
            {
                "model_id": self.model_id,
                "output_format": f"pcm_{self.sample_rate}",
                "sync_alignment": "true",
                "inactivity_timeout": str(self.inactivity_timeout),
            }
        )
        voice = quote(self.voice_id, safe="")
        return f"{self.base_url.rstrip('/')}/v1/text-to-speech/{voice}/stream-input?{query}"


class ElevenLabsCore:
    """One reply's protocol state: text buffered to a word boundary, and the odd byte of a
    chunk that split a sample."""

    def __init__(self, settings: ElevenLabsSettings) -> None:
        self.settings = settings
        self._pending = ""
        self._pcm_decoder = PCMDecoder("elevenlabs")
        self.ended = False
        self.final = False

    def start(self) -> list[str]:
        s = self.settings
        first: dict[str, Any] = {"text": " "}
        voice = {
            k: v
            for k, v in (
                ("stability", s.stability),
                ("similarity_boost", s.similarity_boost),
                ("speed", s.speed),
            )
            if v is not None
        }
        if voice:
            first["voice_settings"] = voice
        if s.chunk_length_schedule:
            first["generation_config"] = {"chunk_length_schedule": list(s.chunk_length_schedule)}
        return [json.dumps(first)]

    def text(self, text: str) -> list[str]:
        """Whole words of ``text`` (with what was held back before), each message ending
        with a space; the unfinished last word waits for the next piece."""
        self._pending += text.replace("\n", " ")  # every message ends with a space
        cut = self._pending.rfind(" ") + 1
        if cut <= 0:
            return []
        words, self._pending = self._pending[:cut], self._pending[cut:]
        return [json.dumps({"text": words})] if words.strip() else []

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, ""
        return [json.dumps({"text": (rest.rstrip() or "") + " ", "flush": True})]

    def end(self) -> list[str]:
        """Speak what is held back, then close the input (``{"text": ""}``)."""
        self.ended = True
        rest, self._pending = self._pending, ""
        out = [json.dumps({"text": rest.rstrip() + " ", "flush": True})] if rest.strip() else []
        return [*out, json.dumps({"text": ""})]

    def cancel(self) -> list[str]:
        """This endpoint has one context per connection: cancelling is closing it."""
        return []

    def receive(self, data: str | bytes, timeline: Timeline) -> Received:
        msg = json_object(data, "elevenlabs")
        audio = msg.get("audio")
        if isinstance(audio, str) and audio:
            return Received(audio=[self._pcm(audio, msg.get("alignment"), timeline)])
        if msg.get("isFinal") is True:
            self.final = True
            return Received(done=True)
        if "error" in msg or "message" in msg:
            said = msg.get("message") or msg.get("error")
            raise S2SError(
                "elevenlabs",
                _error_code(msg),
                f"elevenlabs: {str(said)[:300]}",
                details={k: msg[k] for k in ("error", "code") if k in msg},
            )
        return Received()  # audio null (an alignment-only or empty message)

    def _pcm(self, b64: str, alignment: Any, timeline: Timeline) -> bytes:
        raw = self._pcm_decoder.decode(b64)
        offset = timeline.add_audio(len(raw), self.settings.sample_rate)
        if isinstance(alignment, dict):
            chars = alignment.get("chars") or []
            starts = alignment.get("charStartTimesMs") or []
            durations = alignment.get("charDurationsMs") or []
            if isinstance(chars, list) and isinstance(starts, list):
                for i, (ch, start) in enumerate(zip(chars, starts, strict=False)):
                    dur = durations[i] if isinstance(durations, list) and i < len(durations) else 0
                    if isinstance(ch, str) and isinstance(start, int | float):
                        end = start + (dur if isinstance(dur, int | float) else 0)
                        timeline.add(ch, offset + start, offset + end)
        return raw


def _error_code(msg: dict[str, Any]) -> ErrorCode:
    """The service names its errors (``invalid_api_key``, ``quota_exceeded``...)."""
    said = f"{msg.get('error', '')} {msg.get('message', '')}".lower()
    if "api key" in said or "api_key" in said or "unauthor" in said:
        return ErrorCode.AUTHENTICATION_ERROR
    if "quota" in said:
        return ErrorCode.QUOTA_EXCEEDED
    if ("rate" in said and "limit" in said) or "too many" in said:
        return ErrorCode.RATE_LIMIT
    if "voice" in said and "not found" in said:
        return ErrorCode.NOT_FOUND
    if "timeout" in said or "inactiv" in said:
        return ErrorCode.STREAM_TIMEOUT
    return ErrorCode.STREAM_ERROR
