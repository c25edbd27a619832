"""OpenAI TTS over HTTP streaming: ``POST {base_url}/audio/speech`` per sentence.

The speech endpoint takes a whole input and streams the audio body back
(``response_format: "pcm"`` is raw 24 kHz PCM16 LE mono; see docs/services/openai-tts.md).
It cannot take text incrementally, so a reply sends one request per sentence, in order, on
one HTTP connection: the first sentence is spoken while the agent is still writing the
rest.  There is no alignment: the reply's timeline holds each sentence with its audio span,
and barge-in estimates the words heard from the share of the sentence played.

Any OpenAI-compatible speech server works through ``base_url``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
from pydantic import SecretStr

from ..errors import ErrorCode, S2SError, code_from_http_status
from ..secrets import redact
from .credentials import resolve_key
from .streaming import StreamingTTS, TTSReply

__all__ = ["OpenAITTS", "speech_request"]

SAMPLE_RATE = 24000
"""What ``pcm`` means on this endpoint."""
MAX_QUEUED_SENTENCES = 32
"""Sentences a reply holds before the producer waits (backpressure on the agent)."""


def speech_request(
    text: str, *, model: str, voice: str, instructions: str | None, speed: float | None
) -> dict[str, Any]:
    """The JSON body of one speech request."""
    body: dict[str, Any] = {"model": model, "input": text, "voice": voice, "response_format": "pcm"}
    if instructions:
        body["instructions"] = instructions
    if speed is not None:
        body["speed"] = speed
    return body


def error_from_response(status: int, raw: bytes) -> S2SError:
    """The service's error body (``{"error": {"message", "type", "code"}}``) as our error."""
    said = ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        said = str(json.loads(raw)["error"]["message"])[:300]
    text = f"openai-tts: HTTP {status}" + (f": {redact(said)}" if said else "")
    return S2SError("synthesize", code_from_http_status(status), text, details={"status": status})


class OpenAIReply(TTSReply):
    def __init__(self, engine: OpenAITTS, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.engine = engine
        self.client = client
        self._text = ""
        self._send, self._receive = anyio.create_memory_object_stream[str](MAX_QUEUED_SENTENCES)
        self.cancelled = False
        self._scope: anyio.CancelScope | None = None

    async def send(self, text: str) -> None:
        self._text += text

    async def flush(self) -> None:
        sentence, self._text = self._text.strip(), ""
        if sentence and not self.cancelled:
            await self._send.send(sentence)

    async def end(self) -> None:
        await self.flush()
        self._send.close()

    async def cancel(self) -> None:
        self.cancelled = True
        self._send.close()
        if self._scope is not None:
            self._scope.cancel()  # drops the request in flight (httpx closes it)

    async def audio(self) -> AsyncIterator[bytes]:
        async for sentence in self._receive:
            if self.cancelled:
                return
            start = self.timeline.audio_ms
            try:
                with anyio.CancelScope() as scope:
                    self._scope = scope
                    async for pcm in self._speak(sentence):
                        yield pcm
            finally:
                # Also when cut: the heard share of a sentence whose audio did not all
                # arrive is estimated over what arrived.
                self._scope = None
                if self.timeline.audio_ms > start:
                    self.timeline.add(sentence + " ", start, self.timeline.audio_ms)
            if self.cancelled:
                return
        self.timeline.complete = not self.cancelled  # every sentence was spoken

    async def _speak(self, sentence: str) -> AsyncIterator[bytes]:
        e = self.engine
        body = speech_request(
            sentence, model=e.model, voice=e.voice, instructions=e.instructions, speed=e.speed
        )
        carry = b""
        try:
            async with self.client.stream("POST", "/audio/speech", json=body) as response:
                if response.status_code != 200:
                    raw = await response.aread()
                    raise error_from_response(response.status_code, raw[:4000])
                async for data in response.aiter_bytes():
                    data, carry = carry + data, b""
                    if len(data) % 2:
                        data, carry = data[:-1], data[-1:]
                    if data:
                        self.timeline.add_audio(len(data), SAMPLE_RATE)
                        yield data
        except httpx.TimeoutException:
            raise S2SError(
                "synthesize", ErrorCode.TIMEOUT, f"openai-tts: no answer within {e.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise S2SError(
                "synthesize", ErrorCode.NETWORK_ERROR, f"openai-tts: {redact(str(exc))}"
            ) from None


class OpenAITTS(StreamingTTS):
    """``api_key`` defaults to ``OPENAI_API_KEY``, ``base_url`` to OpenAI's; ``timeout``
    bounds the connection, each read of the body, and each write."""

    name = "openai-tts"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        voice: str = "alloy",
        *,
        api_key: str | SecretStr | None = None,
        model: str = "gpt-4o-mini-tts",
        instructions: str | None = None,
        speed: float | None = None,
        base_url: str = "https://api.openai.com/v1",
        timeout: float = 10.0,
    ) -> None:
        self.voice, self.model = voice, model
        self.instructions, self.speed = instructions, speed
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.api_key = resolve_key("openai-tts", api_key, "OPENAI_API_KEY")

    @contextlib.asynccontextmanager
    async def open_reply(self) -> AsyncIterator[TTSReply]:
        async with httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_key.get_secret_value()}"},
            timeout=httpx.Timeout(self.timeout),
        ) as client:
            reply = OpenAIReply(self, client)
            try:
                yield reply
            finally:
                reply._send.close()
                reply._receive.close()

    def __repr__(self) -> str:
        return f"OpenAITTS(voice={self.voice!r}, model={self.model!r}, base_url={self.base_url!r})"
