"""OpenAI realtime transcription: a ``transcription`` session over the Realtime WebSocket.

Written from OpenAI's realtime transcription guide and the GA event reference (see
docs/services/openai-stt.md), checked against the ``openai`` SDK's event types: connect
to ``/v1/realtime?intent=transcription``, configure with ``session.update`` (session
``type: "transcription"``, PCM16 at 24 kHz, the transcription model, and
``turn_detection: null``: turn ends are the caller's), stream
``input_audio_buffer.append``, end an utterance with ``input_audio_buffer.commit``.  The
server answers ``input_audio_buffer.committed`` (the utterance's item), then
``conversation.item.input_audio_transcription.delta`` events (interim text) and
``...completed`` (the final transcript).  Completions of different items may arrive out
of order; finals are reported in commit order.

:class:`OpenAITranscriptionCore` is the sans-I/O protocol; :class:`OpenAIRealtimeSTT`
the engine on the shared :class:`~beluga_voice.stt.wire.WebSocketSTTStream`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ErrorCode, S2SError
from ..secrets import register_secret
from .base import AsyncSTTEngine, STTResult
from .wire import WebSocketSTTStream
from .wire_core import Outgoing, WireCore, WireOptions, parse_message

__all__ = ["OpenAIRealtimeSTT", "OpenAITranscriptionCore"]

DEFAULT_URL = "wss://api.openai.com/v1"
RATE = 24000
"""The only PCM rate the Realtime API takes."""


_ERRORS: dict[str, ErrorCode] = {
    "invalid_api_key": ErrorCode.AUTHENTICATION_ERROR,
    "authentication_error": ErrorCode.AUTHENTICATION_ERROR,
    "permission_denied": ErrorCode.AUTHORIZATION_ERROR,
    "insufficient_quota": ErrorCode.QUOTA_EXCEEDED,
    "model_not_found": ErrorCode.INVALID_MODEL,
    "rate_limit_exceeded": ErrorCode.RATE_LIMIT,
    "server_error": ErrorCode.INTERNAL_ERROR,
    "session_expired": ErrorCode.STREAM_CLOSED,
}
"""OpenAI's error ``code`` / ``type`` values (the API's error reference) and ours; any other
is an ``invalid_request`` (a refused client event)."""


class OpenAITranscriptionCore(WireCore):
    """The protocol and the utterances awaiting their transcripts."""

    service = "openai"
    sample_rate = RATE

    def __init__(self, api_key: str, base_url: str, transcription: dict[str, Any]) -> None:
        self._key = api_key
        self._base_url = base_url.rstrip("/")
        self.transcription = transcription
        self._open_bytes = 0
        self._items: deque[list[Any]] = deque()
        """Utterances awaiting their transcript, in commit order: ``[item_id, ms]``, the id
        None until ``committed`` names it, ``""`` for an utterance with no audio."""
        self._done: dict[str, str] = {}
        self._deltas: dict[str, str] = {}

    def url(self) -> str:
        return f"{self._base_url}/realtime?intent=transcription"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def __repr__(self) -> str:
        return f"OpenAITranscriptionCore(url={self.url()!r})"

    def opening(self) -> list[Outgoing]:
        session = {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": RATE},
                    "transcription": self.transcription,
                    "turn_detection": None,
                }
            },
        }
        return [json.dumps({"type": "session.update", "session": session})]

    # -- out --------------------------------------------------------------------------------------

    def audio(self, pcm: bytes) -> list[Outgoing]:
        self._open_bytes += len(pcm)
        chunk = base64.b64encode(pcm).decode("ascii")
        return [json.dumps({"type": "input_audio_buffer.append", "audio": chunk})]

    def finalize(self) -> tuple[list[Outgoing], STTResult | None]:
        if not self._open_bytes:
            if not self._items:
                return [], STTResult("", final=True)
            # The service refuses an empty commit; the empty utterance is answered in its
            # place, after those before it.
            self._items.append(["", 0.0])
            return [], None
        self._items.append([None, 1000.0 * self._open_bytes / (2 * RATE)])
        self._open_bytes = 0
        return [json.dumps({"type": "input_audio_buffer.commit"})], None

    def reset(self) -> list[Outgoing]:
        self._open_bytes = 0
        return [json.dumps({"type": "input_audio_buffer.clear"})]

    def keepalive(self) -> list[Outgoing]:
        return []

    def reconnected(self) -> None:
        self._open_bytes = 0
        self._items.clear()
        self._done.clear()
        self._deltas.clear()

    def expire(self) -> STTResult:
        if self._items:
            item, ms = self._items[0]
            if item == "" or (item and self._deltas.get(item)):
                self._items.popleft()
                text = self._deltas.pop(item, "").strip()
                return STTResult(text, final=True, audio_ms=ms)
        raise S2SError(
            "finalize", ErrorCode.STREAM_TIMEOUT, "openai: no transcript for the utterance in time"
        )

    # -- in ---------------------------------------------------------------------------------------

    def receive(self, text: str) -> list[STTResult]:
        event = parse_message(text, "openai")
        if event is None:
            return []
        kind = event.get("type")
        item = event.get("item_id")
        if kind == "input_audio_buffer.committed" and isinstance(item, str) and item:
            slot = next((s for s in self._items if s[0] is None), None)
            if slot is not None:
                slot[0] = item
        elif kind == "conversation.item.input_audio_transcription.delta":
            delta = event.get("delta")
            if isinstance(item, str) and item and isinstance(delta, str) and delta:
                self._deltas[item] = self._deltas.get(item, "") + delta
                if self._items and self._items[0][0] == item:
                    return [STTResult(self._deltas[item].strip(), final=False)]
        elif kind == "conversation.item.input_audio_transcription.completed":
            transcript = event.get("transcript")
            if isinstance(item, str) and any(s[0] == item for s in self._items):
                self._done[item] = transcript.strip() if isinstance(transcript, str) else ""
                return self._ready()
        elif kind == "conversation.item.input_audio_transcription.failed":
            raise self._error(event.get("error"), "transcription failed")
        elif kind == "error":
            raise self._error(event.get("error"), "error")
        return []

    def _ready(self) -> list[STTResult]:
        """The finals now due, in commit order."""
        out: list[STTResult] = []
        while self._items and (self._items[0][0] == "" or self._items[0][0] in self._done):
            item, ms = self._items.popleft()
            self._deltas.pop(item, None)
            out.append(STTResult(self._done.pop(item, ""), final=True, audio_ms=ms))
        return out

    @staticmethod
    def _error(error: object, what: str) -> S2SError:
        fields = error if isinstance(error, dict) else {}
        code, kind = fields.get("code"), fields.get("type")
        message = str(fields.get("message") or what)[:300]
        ours = _ERRORS.get(str(code)) or _ERRORS.get(str(kind)) or ErrorCode.INVALID_REQUEST
        return S2SError(
            "receive", ours, f"openai: {message}", details={"code": str(code), "type": kind}
        )


class OpenAIRealtimeSTT(AsyncSTTEngine):
    """Streaming transcription with ``gpt-4o-transcribe`` / ``gpt-4o-mini-transcribe``.

    The key comes from ``api_key`` or ``OPENAI_API_KEY``; ``base_url`` is the Realtime
    base (``wss://api.openai.com/v1``, or a compatible server's).  ``language`` (ISO-639-1)
    and ``prompt`` guide the model.  The shell options are those of
    :class:`~beluga_voice.stt.wire_core.WireOptions`.
    """

    name = "openai"
    sample_rate = RATE

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-4o-transcribe",
        language: str | None = None,
        prompt: str | None = None,
        base_url: str = DEFAULT_URL,
        connect_timeout: float = 10.0,
        finalize_timeout: float = 5.0,
        reconnects: int = 2,
        replay_s: float = 30.0,
    ) -> None:
        key = api_key or os.environ.get("OPENAI_API_KEY", "")
        if not key:
            raise S2SError("configure", ErrorCode.INVALID_CONFIG, "openai needs OPENAI_API_KEY")
        register_secret(key)
        self._key = key
        self.base_url = base_url
        self.transcription: dict[str, Any] = {"model": model}
        if language:
            self.transcription["language"] = language
        if prompt:
            self.transcription["prompt"] = prompt
        self.wire = WireOptions(connect_timeout, finalize_timeout, None, reconnects, replay_s)

    def __repr__(self) -> str:
        return (
            f"OpenAIRealtimeSTT(model={self.transcription['model']!r}, base_url={self.base_url!r})"
        )

    def new_core(self) -> OpenAITranscriptionCore:
        return OpenAITranscriptionCore(self._key, self.base_url, dict(self.transcription))

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocketSTTStream]:
        stream = WebSocketSTTStream(self.new_core(), self.wire)
        async with stream.running():
            yield stream
