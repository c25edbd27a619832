"""The Cartesia TTS WebSocket protocol, sans I/O.

Endpoint ``wss://api.cartesia.ai/tts/websocket`` with the ``Cartesia-Version`` header (see
docs/services/cartesia.md for the sources).  Every client message is a generation request
on one ``context_id``: ``model_id``, ``voice {mode: "id", id}``, ``output_format {container:
"raw", encoding: "pcm_s16le", sample_rate}``, ``transcript`` and ``continue: true`` while
more text may follow; the context ends with an empty transcript and ``continue: false``.
``{"context_id", "cancel": true}`` stops a context.  The server answers typed messages:
``chunk`` (base64 ``data``), ``timestamps`` (``word_timestamps {words, start, end}`` in
seconds from the context's start), ``flush_done``, ``done`` and ``error``.

The fields of every input on a context must stay the same but for ``transcript`` and
``continue``, so the core builds them once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ...errors import ErrorCode, S2SError, code_from_http_status
from ..alignment import Timeline
from ..wirecore import PCM_RATES, PCMDecoder, Received, check_voice, json_object

__all__ = ["API_VERSION", "OUTPUT_RATES", "CartesiaCore", "CartesiaSettings"]

API_VERSION = "2026-08-14"
"""The ``Cartesia-Version`` this client speaks (the official SDK's default, 4.x)."""
OUTPUT_RATES = PCM_RATES


@dataclass(frozen=True, slots=True)
class CartesiaSettings:
    voice_id: str = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
    model_id: str = "sonic-3"
    sample_rate: int = 24000
    language: str | None = "en"
    add_timestamps: bool = True
    max_buffer_delay_ms: int | None = None
    """Let the service wait for more text before speaking (0-5000 ms); None: it speaks
    each input at once, and sentence ends are the client's flushes."""
    base_url: str = "wss://api.cartesia.ai"
    version: str = API_VERSION

    def __post_init__(self) -> None:
        check_voice("cartesia", self.sample_rate, self.voice_id)

    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/tts/websocket"


class CartesiaCore:
    """One reply = one context.  Text pieces go out as they come (the service keeps the
    prosody across a context's inputs); flushes are explicit."""

    def __init__(self, settings: CartesiaSettings, context_id: str | None = None) -> None:
        self.settings = settings
        self.context_id = context_id or f"beluga-{uuid.uuid4().hex[:16]}"
        self._base: dict[str, Any] = {
            "context_id": self.context_id,
            "model_id": settings.model_id,
            "voice": {"mode": "id", "id": settings.voice_id},
            "output_format": {
                "container": "raw",
                "encoding": "pcm_s16le",
                "sample_rate": settings.sample_rate,
            },
        }
        if settings.language:
            self._base["language"] = settings.language
        if settings.add_timestamps:
            self._base["add_timestamps"] = True
        if settings.max_buffer_delay_ms is not None:
            self._base["max_buffer_delay_ms"] = settings.max_buffer_delay_ms
        self._pcm_decoder = PCMDecoder("cartesia")
        self.ended = False
        self.started = False

    def _input(self, transcript: str, *, more: bool, flush: bool = False) -> str:
        msg = {**self._base, "transcript": transcript, "continue": more}
        if flush:
            msg["flush"] = True
        return json.dumps(msg)

    def start(self) -> list[str]:
        return []  # a context starts with its first input

    def text(self, text: str) -> list[str]:
        if not text:
            return []
        self.started = True
        return [self._input(text, more=True)]

    def flush(self) -> list[str]:
        return [self._input("", more=True, flush=True)] if self.started else []

    def end(self) -> list[str]:
        self.ended = True
        return [self._input("", more=False)]

    def cancel(self) -> list[str]:
        return [json.dumps({"context_id": self.context_id, "cancel": True})]

    def receive(self, data: str | bytes, timeline: Timeline) -> Received:
        msg = json_object(data, "cartesia")
        kind = msg.get("type")
        if kind == "error":
            status = msg.get("status_code")
            said = msg.get("message") or msg.get("title") or msg.get("error") or "error"
            raise S2SError(
                "cartesia",
                code_from_http_status(status)
                if isinstance(status, int)
                else ErrorCode.STREAM_ERROR,
                f"cartesia: {str(said)[:300]}",
                details={k: msg[k] for k in ("status_code", "error_code") if k in msg},
            )
        if msg.get("context_id") not in (None, self.context_id):
            return Received()  # another context's late message
        if kind == "chunk":
            return Received(
                audio=[self._pcm(msg.get("data"), timeline)], done=msg.get("done") is True
            )
        if kind == "timestamps":
            words = msg.get("word_timestamps") or {}
            if isinstance(words, dict):
                for word, start, end in zip(
                    words.get("words") or [],
                    words.get("start") or [],
                    words.get("end") or [],
                    strict=False,
                ):
                    if isinstance(word, str) and isinstance(start, int | float):
                        end_ms = 1000.0 * end if isinstance(end, int | float) else 1000.0 * start
                        timeline.add(word + " ", 1000.0 * start, end_ms)
            return Received(done=msg.get("done") is True)
        return Received(done=kind == "done" or (kind != "flush_done" and msg.get("done") is True))

    def _pcm(self, b64: Any, timeline: Timeline) -> bytes:
        raw = self._pcm_decoder.decode(b64)
        timeline.add_audio(len(raw), self.settings.sample_rate)
        return raw
