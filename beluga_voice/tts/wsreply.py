"""The WebSocket shell every streaming TTS core runs in: one connection per reply.

The shell owns the socket; the core (:class:`~beluga_voice.tts.wirecore.WireCore`) owns the
protocol.  Sending and receiving go on concurrently (websockets allows one sender and one
receiver at a time; sends are serialised by a lock).  Every network wait has a deadline:
the handshake (``connect_timeout``), each send (``send_timeout``), the first audio after a
flush and every message after :meth:`end` (``receive_timeout``); while the agent is still
writing, the connection's ping keepalive (20 s) finds a dead peer.

A connection per reply keeps barge-in simple and certain (cancelling closes it, so no
late audio of a cancelled reply can ever arrive) at the price of one handshake per reply.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ..errors import ErrorCode, S2SError, code_from_ws_close
from ..secrets import redact
from ..wire import open_websocket, redacting_logger
from .credentials import resolve_key
from .streaming import StreamingTTS, TTSReply
from .wirecore import WireCore

__all__ = ["WebSocketReply", "WebSocketTTS"]

wire_logger = redacting_logger("beluga_voice.tts.wire")


async def close_draining(ws: ClientConnection, reason: str) -> None:
    """Close, reading away what the service still sends meanwhile: audio of a cancelled
    reply fills the receive queue, and a connection that stops reading never sees the
    service's close answer (each side would wait for the other until the timeout)."""

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed, RuntimeError):
            while True:
                await ws.recv()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await ws.close(1000, reason)
        tg.cancel_scope.cancel()


class WebSocketReply(TTSReply):
    """One reply on its own connection: the core's messages out, its audio in."""

    def __init__(
        self,
        ws: ClientConnection,
        core: WireCore,
        *,
        service: str,
        send_timeout: float = 5.0,
        receive_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.ws = ws
        self.core = core
        self.service = service
        self.send_timeout = send_timeout
        self.receive_timeout = receive_timeout
        self.cancelled = False
        self.done = False
        self._lock = anyio.Lock()
        self._awaiting = False
        """A flush or the end was sent and its audio is due within ``receive_timeout``."""

    async def start(self) -> None:
        await self._send(self.core.start())

    async def send(self, text: str) -> None:
        await self._send(self.core.text(text))

    async def flush(self) -> None:
        await self._send(self.core.flush())
        self._awaiting = True

    async def end(self) -> None:
        await self._send(self.core.end())
        self._awaiting = True

    async def cancel(self) -> None:
        if self.cancelled or self.done:
            return
        self.cancelled = True
        with anyio.move_on_after(1.0, shield=True):
            with contextlib.suppress(S2SError):
                await self._send(self.core.cancel(), even_cancelled=True)
            await close_draining(self.ws, "cancelled")

    async def _send(self, messages: list[str], *, even_cancelled: bool = False) -> None:
        if (self.cancelled and not even_cancelled) or not messages:
            return
        try:
            async with self._lock:
                with anyio.fail_after(self.send_timeout):
                    for message in messages:
                        await self.ws.send(message)
        except TimeoutError:
            raise S2SError(
                "send", ErrorCode.TIMEOUT, f"{self.service}: send blocked {self.send_timeout:g} s"
            ) from None
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def audio(self) -> AsyncIterator[bytes]:
        while not self.done and not self.cancelled:
            try:
                with anyio.fail_after(self.receive_timeout if self._awaiting else None):
                    data = await self.ws.recv()
            except TimeoutError:
                raise S2SError(
                    "receive",
                    ErrorCode.STREAM_TIMEOUT,
                    f"{self.service}: no audio within {self.receive_timeout:g} s",
                ) from None
            except ConnectionClosed as exc:
                if self.cancelled:
                    return
                raise self._closed(exc) from None
            got = self.core.receive(data, self.timeline)
            if got.audio and not self.core.ended:
                self._awaiting = False  # a flush answered; the next one re-arms
            for pcm in got.audio:
                if pcm and not self.cancelled:
                    yield pcm
            if got.done:
                self.done = self.timeline.complete = True

    def _closed(self, exc: ConnectionClosed) -> S2SError:
        frame = exc.rcvd
        code = frame.code if frame is not None else None
        reason = redact(frame.reason) if frame is not None else ""
        text = f"{self.service}: connection closed" + (f" ({code}: {reason})" if code else "")
        return S2SError("receive", code_from_ws_close(code), text, details={"close_code": code})


class WebSocketTTS(StreamingTTS):
    """A streaming voice on a WebSocket service: subclasses give the URL, the handshake
    headers and a fresh core per reply."""

    connect_timeout: float = 10.0
    send_timeout: float = 5.0
    receive_timeout: float = 10.0

    def _set_up(
        self,
        api_key: str | SecretStr | None,
        env: str,
        sample_rate: int,
        connect_timeout: float,
        receive_timeout: float,
    ) -> None:
        """What every service's constructor does after checking its settings."""
        self.api_key = resolve_key(self.name, api_key, env)
        self.sample_rate = sample_rate
        self.connect_timeout = connect_timeout
        self.receive_timeout = receive_timeout

    settings: Any
    """The service's settings: ``url()``, ``voice_id``, ``model_id``, ``sample_rate``."""

    def _url(self) -> str:
        return str(self.settings.url())

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _core(self) -> WireCore:
        raise NotImplementedError

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"{type(self).__name__}(voice_id={s.voice_id!r}, model_id={s.model_id!r}, "
            f"sample_rate={s.sample_rate})"
        )

    @contextlib.asynccontextmanager
    async def open_reply(self) -> AsyncIterator[TTSReply]:
        ws = await open_websocket(
            self._url(),
            self._headers(),
            timeout=self.connect_timeout,
            provider=self.name,
            logger=wire_logger,
        )
        try:
            reply = WebSocketReply(
                ws,
                self._core(),
                service=self.name,
                send_timeout=self.send_timeout,
                receive_timeout=self.receive_timeout,
            )
            await reply.start()
            yield reply
        finally:
            with anyio.move_on_after(2.0, shield=True):
                await close_draining(ws, "done")
            if ws.state is not State.CLOSED:
                ws.transport.abort()  # the peer did not answer the close in time
