"""A fake Cartesia TTS WebSocket (``/tts/websocket``), contexts and all.

Written from Cartesia's API reference (docs/services/cartesia.md): the handshake needs a
key (``Authorization: Bearer``, ``X-API-Key`` or ``?api_key=``) and a ``Cartesia-Version``
(header or ``?cartesia_version=``); each generation request speaks its transcript at once
as ``chunk`` messages (base64 PCM of at most ``message_ms``), each followed by
``timestamps`` for the words it starts (seconds from the context's start); ``flush`` answers ``flush_done``; ``continue:
false`` ends the context with ``done``; a request whose fixed fields differ from the
context's first gets an ``error``; ``{"context_id", "cancel": true}`` silences a context.

It can fail: a wrong key is refused with HTTP 401; ``drop_after`` aborts the connection
after that many chunks.  ``received`` and ``sent`` record the messages (the tests
validate them with the official SDK's types).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import anyio.lowlevel
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from .fake_tts_common import FakeTTSService, speech

__all__ = ["FakeCartesia"]

_VARYING = {"transcript", "continue", "flush", "duration"}


class FakeCartesia(FakeTTSService):
    def __init__(
        self,
        *,
        api_key: str = "fake-cartesia-key",
        ms_per_char: float = 20.0,
        message_ms: float = 100.0,
        drop_after: int | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, ms_per_char=ms_per_char, message_ms=message_ms, drop_after=drop_after
        )
        self.cancelled: list[str] = []

    def check(self, request: Request) -> tuple[int, str] | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path != "/tts/websocket":
            return 404, json.dumps({"error": "not found"})
        keys = {
            request.headers.get("Authorization", "").removeprefix("Bearer "),
            request.headers.get("X-API-Key", ""),
            query.get("api_key", [""])[0],
        }
        if self.api_key not in keys:
            return 401, json.dumps({"error": "Invalid API key"})
        if not (request.headers.get("Cartesia-Version") or query.get("cartesia_version")):
            return 400, json.dumps({"error": "Cartesia-Version is required"})
        return None

    async def handle(self, ws: ServerConnection) -> None:
        """A reader takes messages as they come (so a cancel takes effect between two
        chunks, as on the service) and a speaker generates the requests in order."""
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](64)
        cancelled: set[str] = set()

        async def read() -> None:
            async with send:
                async for raw in ws:
                    msg = json.loads(raw)
                    self.received.append(msg)
                    ctx = msg.get("context_id")
                    if msg.get("cancel") is True and isinstance(ctx, str):
                        self.cancelled.append(ctx)
                        cancelled.add(ctx)
                    else:
                        await send.send(msg)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            try:
                await self._generate(ws, receive, cancelled)
            finally:
                tg.cancel_scope.cancel()

    async def _generate(
        self,
        ws: ServerConnection,
        requests: anyio.abc.ObjectReceiveStream[dict[str, Any]],
        cancelled: set[str],
    ) -> None:
        contexts: dict[str, dict[str, Any]] = {}
        clocks: dict[str, float] = {}
        flushes: dict[str, int] = {}
        async for msg in requests:
            ctx = msg.get("context_id")
            if not isinstance(ctx, str):
                await self._error(ws, None, "context_id is required")
                continue
            if ctx in cancelled:
                continue
            fixed = {k: v for k, v in msg.items() if k not in _VARYING}
            if contexts.setdefault(ctx, fixed) != fixed:
                await self._error(ws, ctx, "inputs on a context must keep their fields")
                continue
            fmt = msg.get("output_format") or {}
            rate = int(fmt.get("sample_rate", 24000))
            start = clocks.get(ctx, 0.0)
            clocks[ctx] = await self._speak(ws, ctx, msg, rate, start, cancelled)
            if ctx in cancelled:
                continue
            if msg.get("flush"):
                flushes[ctx] = flushes.get(ctx, 0) + 1
                await self._send(
                    ws,
                    {
                        "type": "flush_done",
                        "context_id": ctx,
                        "done": False,
                        "flush_done": True,
                        "flush_id": flushes[ctx],
                        "status_code": 206,
                    },
                )
            if not msg.get("continue"):
                await self._send(
                    ws, {"type": "done", "context_id": ctx, "done": True, "status_code": 200}
                )

    async def _speak(
        self,
        ws: ServerConnection,
        ctx: str,
        msg: dict[str, Any],
        rate: int,
        start: float,
        cancelled: set[str],
    ) -> float:
        """Speak the transcript from ``start`` seconds; returns where the context's clock ends."""
        text = str(msg.get("transcript", ""))
        if not text.strip():
            return start
        pcm = speech(text, rate, self.ms_per_char)
        step = int(rate * self.message_ms / 1000) * 2
        words: list[tuple[str, float, float]] = []  # (word, start s, end s) on the context clock
        pos = 0
        for word in text.split():
            pos = text.index(word, pos)
            begin, pos = pos, pos + len(word)
            words.append(
                (
                    word,
                    start + begin * self.ms_per_char / 1000,
                    start + pos * self.ms_per_char / 1000,
                )
            )
        for i in range(0, len(pcm), step):
            await anyio.lowlevel.checkpoint()  # let the reader see a cancel between two chunks
            if ctx in cancelled:
                return start
            chunks = sum(1 for m in self.sent if m.get("type") == "chunk")
            if self.drop_after is not None and chunks >= self.drop_after:
                ws.transport.abort()
                raise ConnectionClosed(None, None)
            data = base64.b64encode(pcm[i : i + step]).decode()
            await self._send(
                ws,
                {
                    "type": "chunk",
                    "context_id": ctx,
                    "data": data,
                    "done": False,
                    "status_code": 206,
                    "step_time": 1.0,
                },
            )
            # The words this chunk starts, timed, as the service sends them along.
            t0, t1 = start + i / 2 / rate, start + (i + step) / 2 / rate
            these = [w for w in words if t0 <= w[1] < t1]
            if msg.get("add_timestamps") and these:
                await self._send(
                    ws,
                    {
                        "type": "timestamps",
                        "context_id": ctx,
                        "done": False,
                        "status_code": 206,
                        "word_timestamps": {
                            "words": [w for w, _, _ in these],
                            "start": [round(b, 4) for _, b, _ in these],
                            "end": [round(e, 4) for _, _, e in these],
                        },
                    },
                )
        return start + len(text) * self.ms_per_char / 1000

    async def _error(self, ws: ServerConnection, ctx: str | None, message: str) -> None:
        msg: dict[str, Any] = {"type": "error", "done": True, "status_code": 400}
        msg.update(title="Invalid request", message=message)
        if ctx is not None:
            msg["context_id"] = ctx
        await self._send(ws, msg)

    async def _send(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        self.sent.append(msg)
        await ws.send(json.dumps(msg))
