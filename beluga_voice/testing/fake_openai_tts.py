"""A fake OpenAI speech endpoint (``POST /v1/audio/speech``) on loopback.

Written from OpenAI's API reference (docs/services/openai-tts.md): a JSON body with
``model``, ``input`` and ``voice`` (``response_format`` defaults to ``mp3``: this fake
speaks ``pcm`` only, 24 kHz PCM16), ``Authorization: Bearer``; the audio streams back with
chunked transfer encoding in pieces of ``message_ms``.  It can fail: a wrong key gets 401
with OpenAI's error body, ``fail_status`` answers every request with that status, and
``drop_after`` closes the connection after that many pieces without ending the body.
``requests`` records the JSON bodies (the tests validate them with the official SDK's
types).  The HTTP plumbing (:class:`~.fake_chat.LoopbackHTTP`) is the fake chat server's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc

from .fake_chat import LoopbackHTTP, _send_simple, api_error
from .fake_tts_common import speech

__all__ = ["FakeOpenAITTS"]

RATE = 24000


@dataclass
class FakeOpenAITTS(LoopbackHTTP):
    api_key: str = "fake-openai-key"
    ms_per_char: float = 20.0
    message_ms: float = 100.0
    fail_status: int | None = None
    drop_after: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _pieces: int = 0
    _tg: anyio.abc.TaskGroup | None = None
    _listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None

    async def _serve_one(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = await self._read_post(stream, "/v1/audio/speech")
            if request is None:
                return
            headers, body = request
            if headers.get("authorization") != f"Bearer {self.api_key}":
                await _send_simple(stream, 401, api_error("Incorrect API key provided"))
                return
            if self.fail_status is not None:
                await _send_simple(stream, self.fail_status, api_error("injected failure"))
                return
            try:
                request = json.loads(body)
                text, _, _ = request["input"], request["model"], request["voice"]
            except (ValueError, KeyError, TypeError):
                await _send_simple(stream, 400, api_error("input, model and voice are required"))
                return
            if request.get("response_format", "mp3") != "pcm":
                await _send_simple(stream, 400, api_error("this fake speaks pcm only"))
                return
            self.requests.append(request)
            await self._stream_audio(stream, str(text))

    async def _stream_audio(self, stream: anyio.abc.SocketStream, text: str) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: audio/pcm\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        pcm = speech(text, RATE, self.ms_per_char)
        step = int(RATE * self.message_ms / 1000) * 2
        try:
            for i in range(0, len(pcm), step):
                if self.drop_after is not None and self._pieces >= self.drop_after:
                    return  # the connection closes without the last chunk: a cut body
                self._pieces += 1
                piece = pcm[i : i + step]
                await stream.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await stream.send(b"0\r\n\r\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # the client went away (barge-in)
