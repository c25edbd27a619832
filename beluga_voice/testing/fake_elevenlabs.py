"""A fake ElevenLabs text-to-speech WebSocket (``/v1/text-to-speech/{voice}/stream-input``).

Written from ElevenLabs' API reference (docs/services/elevenlabs.md), not from our client:
the first message must be ``{"text": " "}`` (with optional ``voice_settings`` and
``generation_config``), text is buffered until ``flush``, until the first step of the
chunk length schedule is reached (cut at a space), or until ``{"text": ""}`` ends the
input; then audio comes as ``{"audio", "alignment"}`` messages of at most
``message_ms`` each (character times relative to each message), then ``{"isFinal": true}``.

It can fail: a wrong ``xi-api-key`` is refused with HTTP 401 and ElevenLabs' error body;
``drop_after`` aborts the connection (no close frame) after that many audio messages.
``speed`` paces generation (times real time), so that a long reply is still streaming
when a barge-in cuts it.
Every client message is recorded in ``received`` (the tests validate them with the
official SDK's types) and every message sent in ``sent``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from .fake_tts_common import FakeTTSService, speech

__all__ = ["FakeElevenLabs"]

_PATH = re.compile(r"^/v1/text-to-speech/([^/]+)/stream-input$")


class FakeElevenLabs(FakeTTSService):
    def __init__(
        self,
        *,
        api_key: str = "fake-elevenlabs-key",
        ms_per_char: float = 20.0,
        message_ms: float = 100.0,
        drop_after: int | None = None,
        speed: float | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, ms_per_char=ms_per_char, message_ms=message_ms, drop_after=drop_after
        )
        self.speed = speed
        """Generate at this many times real time (None: at once), as a service does."""
        self.spoken: list[str] = []
        """The text of each generation, in order."""
        self.closed_early = 0
        """Connections the client closed before the input ended (barge-in)."""

    def check(self, request: Request) -> tuple[int, str] | None:
        url = urlsplit(request.path)
        if not _PATH.match(url.path):
            return 404, json.dumps({"detail": {"status": "not_found", "message": "no route"}})
        if request.headers.get("xi-api-key") != self.api_key:
            body = {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
            return 401, json.dumps(body)
        fmt = parse_qs(url.query).get("output_format", ["mp3_44100_128"])[0]
        if not fmt.startswith("pcm_"):
            return 400, json.dumps({"detail": {"message": "this fake speaks pcm only"}})
        return None

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        rate = int(query["output_format"][0].removeprefix("pcm_"))
        buffer = ""
        first = True
        schedule = 120
        try:
            async for raw in ws:
                msg = json.loads(raw)
                self.received.append(msg)
                text = msg.get("text")
                if not isinstance(text, str):
                    await ws.close(1008, "text is required")
                    return
                if first:
                    first = False
                    if text != " ":
                        await ws.close(1008, "the first message must be a single space")
                        return
                    config = msg.get("generation_config") or {}
                    schedule = (config.get("chunk_length_schedule") or [120])[0]
                    continue
                if text == "":
                    await self._generate(ws, buffer, rate)
                    await self._send(ws, {"isFinal": True})
                    await ws.close(1000)
                    return
                buffer += text
                if msg.get("flush"):
                    await self._generate(ws, buffer, rate)
                    buffer = ""
                elif len(buffer) >= schedule and " " in buffer.strip():
                    cut = buffer.rstrip().rfind(" ") + 1
                    await self._generate(ws, buffer[:cut], rate)
                    buffer = buffer[cut:]
            self.closed_early += 1
        except ConnectionClosed:
            self.closed_early += 1

    async def _send(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        self.sent.append(msg)
        await ws.send(json.dumps(msg))

    async def _generate(self, ws: ServerConnection, text: str, rate: int) -> None:
        """Speak ``text``: audio messages, each with the alignment of the characters it
        starts (the service always aligns; ``sync_alignment`` ties it to each chunk)."""
        if not text.strip():
            return
        self.spoken.append(text)
        pcm = speech(text, rate, self.ms_per_char)
        step = int(rate * self.message_ms / 1000) * 2
        per_char = self.ms_per_char
        for start in range(0, len(pcm), step):
            audio_count = sum(1 for m in self.sent if m.get("audio"))
            if self.drop_after is not None and audio_count >= self.drop_after:
                ws.transport.abort()
                raise ConnectionClosed(None, None)
            if self.speed:
                await anyio.sleep(self.message_ms / 1000 / self.speed)
            t0 = 1000.0 * start / (2 * rate)
            t1 = 1000.0 * min(len(pcm), start + step) / (2 * rate)
            idx = [i for i in range(len(text)) if t0 <= i * per_char < t1]
            alignment = {
                "chars": [text[i] for i in idx],
                "charStartTimesMs": [round(i * per_char - t0) for i in idx],
                "charDurationsMs": [round(per_char) for _ in idx],
            }
            msg: dict[str, Any] = {
                "audio": base64.b64encode(pcm[start : start + step]).decode(),
                "alignment": alignment,
                "normalizedAlignment": alignment,
            }
            await self._send(ws, msg)
