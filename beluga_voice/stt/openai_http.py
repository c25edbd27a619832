"""OpenAI's HTTP transcription endpoint for whole utterances (``POST /v1/audio/transcriptions``).

For servers that speak only the HTTP API (OpenAI, and the many compatible ones: a local
whisper server, Groq, vLLM), an utterance is sent once it ended: a WAV file in a
multipart upload with the ``model`` (``gpt-4o-transcribe``, ``whisper-1``...), and the
JSON answer's ``text`` is the final transcript.  There are no interim results: the
service hears the utterance only when it is over.

The request has a deadline (``timeout``); its failures are S2SErrors by HTTP status (a
5xx or a timeout is retryable, a 401 is not), the body's message redacted.  Utterances
finalized while one is being transcribed wait in a bounded queue (``max_pending``; when
full, the caller waits); an
utterance longer than ``max_utterance_s`` is refused (``invalid_input``) rather than cut.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

from ..audio.wav import write_wav_pcm16
from ..errors import ErrorCode, S2SError, code_from_http_status
from ..secrets import redact, register_secret
from .base import AsyncSTTEngine, AsyncSTTStream, STTResult

__all__ = ["OpenAIHTTPSTT"]

DEFAULT_URL = "https://api.openai.com/v1"
_OP = "transcribe"


class _UtteranceStream(AsyncSTTStream):
    """Collects each utterance and transcribes it in :meth:`results` (the caller's task)."""

    def __init__(self, engine: OpenAIHTTPSTT, client: httpx.AsyncClient) -> None:
        self.engine = engine
        self.sample_rate = engine.sample_rate
        self._client = client
        self._open: list[bytes] = []
        self._open_bytes = 0
        self._limit = int(engine.max_utterance_s * engine.sample_rate) * 2
        self._send, self._recv = anyio.create_memory_object_stream[bytes | S2SError](
            engine.max_pending
        )

    async def send(self, pcm: bytes) -> None:
        self._open.append(pcm)
        self._open_bytes += len(pcm)

    async def finalize(self) -> None:
        pcm, size = b"".join(self._open), self._open_bytes
        self._open, self._open_bytes = [], 0
        item: bytes | S2SError = pcm
        if size > self._limit:
            item = S2SError(
                _OP,
                ErrorCode.INVALID_INPUT,
                f"openai-http: an utterance of {size / 2 / self.sample_rate:.0f} s is longer "
                f"than max_utterance_s={self.engine.max_utterance_s:g}",
            )
        # A full queue holds the caller back (the processor's own bounded queue then
        # reports that the recogniser fell behind).
        await self._send.send(item)

    async def reset(self) -> None:
        self._open, self._open_bytes = [], 0

    async def results(self) -> AsyncIterator[STTResult]:
        async for item in self._recv:
            if isinstance(item, S2SError):
                raise item
            if not item:
                yield STTResult("", final=True)
                continue
            text = await self.engine.transcribe(self._client, item)
            ms = 1000.0 * len(item) / (2 * self.sample_rate)
            yield STTResult(text, final=True, audio_ms=ms)


class OpenAIHTTPSTT(AsyncSTTEngine):
    """Whole-utterance transcription over HTTP.  The key comes from ``api_key`` or
    ``OPENAI_API_KEY`` (a local server may need none: ``api_key=""``); ``base_url`` is the
    API base (``https://api.openai.com/v1`` or a compatible server's)."""

    name = "openai-http"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-4o-transcribe",
        language: str | None = None,
        prompt: str | None = None,
        base_url: str = DEFAULT_URL,
        sample_rate: int = 16000,
        timeout: float = 30.0,
        max_pending: int = 4,
        max_utterance_s: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = os.environ.get("OPENAI_API_KEY", "") if api_key is None else api_key
        if not key and base_url == DEFAULT_URL:
            raise S2SError("configure", ErrorCode.INVALID_CONFIG, "openai needs OPENAI_API_KEY")
        register_secret(key)
        self._key = key
        self.model = model
        self.language = language
        self.prompt = prompt
        self.base_url = base_url.rstrip("/")
        self.sample_rate = sample_rate
        self.timeout = timeout
        self.max_pending = max_pending
        self.max_utterance_s = max_utterance_s
        self._transport = transport

    def __repr__(self) -> str:
        return f"OpenAIHTTPSTT(model={self.model!r}, base_url={self.base_url!r})"

    def form(self) -> dict[str, str]:
        """The multipart fields besides the file."""
        fields = {"model": self.model, "response_format": "json"}
        if self.language:
            fields["language"] = self.language
        if self.prompt:
            fields["prompt"] = self.prompt
        return fields

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[_UtteranceStream]:
        headers = {"authorization": f"Bearer {self._key}"} if self._key else {}
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), transport=self._transport, headers=headers
        ) as client:
            yield _UtteranceStream(self, client)

    async def transcribe(self, client: httpx.AsyncClient, pcm: bytes) -> str:
        """One request: the utterance as a WAV file; its transcript, or an S2SError."""
        wav = write_wav_pcm16(None, pcm, self.sample_rate)
        try:
            response = await client.post(
                f"{self.base_url}/audio/transcriptions",
                data=self.form(),
                files={"file": ("utterance.wav", wav, "audio/wav")},
            )
        except httpx.TimeoutException:
            raise S2SError(
                _OP, ErrorCode.TIMEOUT, f"openai-http: no answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise S2SError(
                _OP, ErrorCode.NETWORK_ERROR, f"openai-http: {redact(str(exc))}"
            ) from None
        if response.status_code != 200:
            raise S2SError(
                _OP,
                code_from_http_status(response.status_code),
                f"openai-http: HTTP {response.status_code}: {_said(response.content)}",
                details={"status": response.status_code},
            )
        try:
            body: Any = json.loads(response.content)
            text = body["text"]
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise S2SError(
                _OP, ErrorCode.MALFORMED_RESPONSE, "openai-http: no text in the answer"
            ) from None
        return text.strip()


def _said(content: bytes) -> str:
    """The service's own words from an error body (redacted, bounded)."""
    text = content[:2000].decode("utf-8", "replace")
    try:
        error = json.loads(text).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = text
    return redact(" ".join(str(message).split())[:300])
