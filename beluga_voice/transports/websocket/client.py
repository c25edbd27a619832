"""A client of the default protocol: a plain API and a pipeline processor.

:class:`WebSocketClient` is the plain API (connect, send audio and events, iterate what
comes back)::

    async with WebSocketClient.connect(url, token="...") as client:
        await client.send_audio(pcm)
        await client.end()
        async for item in client:      # bytes (bot audio) or dict (events)
            ...

:class:`WebSocketClientProcessor` puts a remote session inside a local pipeline: user
audio going down is sent to the server, and what the server sends comes out as frames
(``OutputAudioFrame``, ``TranscriptionFrame``, ``InterruptionFrame`` ...), so that
``[LocalAudioInput, WebSocketClientProcessor(url), LocalAudioOutput]`` is a voice client.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ...frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Direction,
    EndFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
)
from ...pipeline import FrameProcessor
from ...secrets import register_secret

__all__ = ["WebSocketClient", "WebSocketClientProcessor", "event_to_frame"]


class WebSocketClient:
    """One connection to a server speaking the default protocol.

    :attr:`session` is the ``session.started`` event (with the audio formats), read on
    connect.  Iterating yields ``bytes`` for bot audio and ``dict`` for events, and stops
    when the server closes the connection.
    """

    def __init__(self, ws: ClientConnection, session: dict[str, Any]) -> None:
        self.ws = ws
        self.session = session

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        origin: str | None = None,
        max_size: int | None = 1 << 20,
    ) -> AsyncIterator[WebSocketClient]:
        headers = {}
        if token is not None:
            register_secret(token)
            headers["Authorization"] = f"Bearer {token}"
        async with ws_connect(
            url,
            additional_headers=headers,
            ssl=ssl_context,
            origin=origin,  # type: ignore[arg-type]
            max_size=max_size,
            compression=None,
        ) as ws:
            first = await ws.recv()
            session = json.loads(first) if isinstance(first, str) else {}
            if session.get("type") != "session.started":
                raise ConnectionError(f"expected session.started, got {str(first)[:200]!r}")
            yield cls(ws, session)

    @property
    def input_sample_rate(self) -> int:
        return int(self.session["audio"]["input"]["sample_rate"])

    @property
    def output_sample_rate(self) -> int:
        return int(self.session["audio"]["output"]["sample_rate"])

    async def send_audio(self, pcm: bytes) -> None:
        await self.ws.send(pcm)

    async def send_event(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def send_text(self, text: str) -> None:
        await self.send_event({"type": "text", "text": text})

    async def interrupt(self) -> None:
        await self.send_event({"type": "interrupt"})

    async def end(self) -> None:
        """Ask the server to finish the session gracefully (it plays out, then closes)."""
        await self.send_event({"type": "end"})

    async def __aiter__(self) -> AsyncIterator[bytes | dict[str, Any]]:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    yield message
                else:
                    event = json.loads(message)
                    if isinstance(event, dict):
                        yield event
        except ConnectionClosed:
            return


def event_to_frame(event: dict[str, Any]) -> Frame | None:
    """The frame a server event stands for on the client side (None: nothing to push)."""
    kind = event.get("type")
    if kind == "transcript":
        role: Literal["user", "assistant"] = (
            "assistant" if event.get("role") == "assistant" else "user"
        )
        return TranscriptionFrame(
            str(event.get("text", "")), final=bool(event.get("final", True)), role=role
        )
    if kind == "text":
        return TextFrame(str(event.get("text", "")))
    if kind == "interrupted":
        return InterruptionFrame()
    if kind == "bot.started_speaking":
        return BotStartedSpeakingFrame()
    if kind == "bot.stopped_speaking":
        return BotStoppedSpeakingFrame(
            played_ms=float(event.get("played_ms", 0.0)),
            interrupted=bool(event.get("interrupted", False)),
        )
    return None


class WebSocketClientProcessor(FrameProcessor):
    """A remote session as one processor of a local pipeline (see the module docstring).

    Downstream ``InputAudioFrame`` goes to the server (resample to
    :attr:`WebSocketClient.input_sample_rate` before this processor); what the server sends
    comes out downstream.  ``error`` events become error frames; the end of the server's
    session ends the local pipeline (an ``EndFrame`` downstream).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        end_timeout: float = 1.5,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.url = url
        self.end_timeout = end_timeout
        self._server_ended = anyio.Event()
        self._token = token
        self._ssl = ssl_context
        self.client: WebSocketClient | None = None
        self._cm: Any = None

    async def on_start(self, frame: StartFrame) -> None:
        self._cm = WebSocketClient.connect(self.url, token=self._token, ssl_context=self._ssl)
        self.client = await self._cm.__aenter__()
        self.create_task(self._receive, self.client, name=f"{self.name}.recv")

    async def on_stop(self) -> None:
        client = self.client
        if client is None:
            return
        try:
            if isinstance(self.current_frame, EndFrame) and not self._server_ended.is_set():
                with suppress(ConnectionClosed):
                    await client.end()
                    with anyio.move_on_after(self.end_timeout):
                        await self._server_ended.wait()
        finally:
            self.client = None
            with anyio.move_on_after(self.end_timeout, shield=True):
                await self._cm.__aexit__(None, None, None)

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWNSTREAM and isinstance(frame, InputAudioFrame):
            if self.client is not None:
                await self.client.send_audio(frame.audio)
            return
        if direction is Direction.DOWNSTREAM and isinstance(frame, TextFrame):
            if self.client is not None:
                await self.client.send_text(frame.text)
            return
        await self.push_frame(frame, direction)

    async def _receive(self, client: WebSocketClient) -> None:
        rate = client.output_sample_rate
        async for item in client:
            if isinstance(item, bytes):
                await self.push_frame(OutputAudioFrame(item, rate), Direction.DOWNSTREAM)
                continue
            if item.get("type") == "error":
                await self.push_error(
                    f"server: {item.get('message', '')}",
                    code=str(item.get("code", "server_error")),
                    fatal=bool(item.get("fatal", False)),
                )
                continue
            if item.get("type") == "session.ended":
                ending_locally = isinstance(self.current_frame, EndFrame)
                self._server_ended.set()
                if not ending_locally:  # the server ended the session: end ours too
                    await self.push_frame(EndFrame(), Direction.DOWNSTREAM)
                return
            frame = event_to_frame(item)
            if frame is not None:
                await self.push_frame(frame, Direction.DOWNSTREAM)
        if self.client is not None:  # the server went away without ending the session
            ws = client.ws
            await self.push_error(
                f"server closed the connection ({ws.close_code} {ws.close_reason or ''})".strip(),
                code="stream_closed",
                fatal=True,
            )
