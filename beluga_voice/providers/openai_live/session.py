"""The I/O shell of ``openai_live``: a :class:`StreamingSession` over a ``websockets``
connection.  Every protocol decision is the core's (:mod:`.protocol`); the shell moves
messages and keeps time:

- **start**: connect with ``Authorization: Bearer`` (no query parameters), send
  ``session.start``, and wait up to ``open_timeout`` for ``session.started``;
- **reply ends by the clock**: while a reply is live, ``idle_reply_timeout`` without any
  output audio ends it (the core finds ends in the audio otherwise);
- **close**: ``session.close``, then up to ``close_timeout`` for ``session.closed``, which
  carries the final usage.  Whoever reads first gets the message: the task iterating the
  session, or the closer itself when nobody iterates; one lock keeps a single reader.

A dropped connection is a fatal, retryable error: the retry wrapper every configured
provider has opens a new session seeded with the history (GPT-Live has no resumption).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ...conversation import ConversationContext
from ..base import StreamingSession
from ..errors import ErrorCode, S2SError
from ..events import SessionClosed, SessionEvent
from ..openai_realtime.session import _closed_error, _discard
from ..websocket import open_websocket, redacting_logger
from .protocol import LiveProtocol, State

if TYPE_CHECKING:
    from .provider import OpenAILiveProvider

__all__ = ["OpenAILiveSession"]

log = logging.getLogger(__name__)
wire_logger = redacting_logger("beluga_voice.providers.openai_live.wire")

_KEEP_READING = 30.0
"""Longest single wait on an idle socket before the loop looks at its state again."""


class OpenAILiveSession(StreamingSession):
    """A live conversation with OpenAI GPT-Live over its primary WebSocket."""

    def __init__(self, provider: OpenAILiveProvider, ctx: ConversationContext) -> None:
        super().__init__(provider.name, ctx)
        self._provider = provider
        self.settings = provider.settings
        self.core = LiveProtocol(
            provider.settings,
            ctx.history,
            delegation=provider.settings.resolved_delegation(provider.config.reasoning_mode),
        )
        self._ws: ClientConnection | None = None
        self._send_lock = anyio.Lock()
        self._recv_lock = anyio.Lock()
        self._ended = anyio.Event()

    def __repr__(self) -> str:
        return f"<OpenAILiveSession {self.context.session_id} {self.core.state.value}>"

    # -- opening ------------------------------------------------------------------------------

    async def start(self) -> None:
        p = self._provider
        timeout = self.settings.open_timeout
        headers = {"Authorization": f"Bearer {p.config.secret() or ''}"}
        ws = await open_websocket(
            self.settings.url, headers, timeout=timeout, provider=p.name, logger=wire_logger
        )
        try:
            self.core.start()
            await self._send_all(ws, self.core.take_outbound())
            with anyio.fail_after(timeout):
                while self.core.state is State.STARTING:
                    for event in self.core.receive(await ws.recv()):
                        if self.core.fatal is not None:
                            raise self.core.fatal
                        self._emit(event)
            if self.core.state is not State.ACTIVE:
                raise S2SError(
                    "connect", ErrorCode.STREAM_CLOSED, f"{p.name}: session ended at startup"
                )
        except TimeoutError:
            await _discard(ws)
            raise S2SError(
                "connect", ErrorCode.TIMEOUT, f"{p.name}: no session.started in {timeout:g} s"
            ) from None
        except ConnectionClosed as exc:
            raise _closed_error("connect", p.name, exc) from None
        except BaseException:
            await _discard(ws)
            raise
        self._ws = ws

    # -- sending ------------------------------------------------------------------------------

    async def _send_all(self, ws: ClientConnection, events: list[dict[str, object]]) -> None:
        for event in events:
            await ws.send(json.dumps(event))

    async def _flush(self) -> None:
        async with self._send_lock:
            events = self.core.take_outbound()
            if events and self._ws is not None:
                # A drop is noticed, and reported, by the reading side.
                with contextlib.suppress(ConnectionClosed):
                    await self._send_all(self._ws, events)

    def _check_open(self, op: str) -> None:
        if self._finished or self._closing:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, f"{self.provider_name}: session closed")

    async def send_audio(self, audio: bytes) -> None:
        self._check_open("send_audio")
        self.core.audio(audio)
        await self._flush()

    async def speak(self, text: str) -> None:
        """Ask the model to say ``text`` (as commentary: in its own words, not verbatim)."""
        self._check_open("speak")
        self.core.context(text, kind="commentary")
        await self._flush()

    async def send_tool_result(self, call_id: str, output: str) -> None:
        self._check_open("send_tool_result")
        self.core.answer(call_id, output)
        await self._flush()

    async def set_input_muted(self, muted: bool) -> None:
        self._check_open("set_input_muted")
        self.core.mute(muted)
        await self._flush()

    async def interrupt(self, played_ms: float | None = None) -> None:
        self._check_open("interrupt")
        for event in self.core.interrupt(played_ms):
            self._emit(event)
        await self._flush()

    # -- receiving ----------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection, wait: float) -> str | bytes | None:
        """One message, or None after ``wait`` seconds (or when the session already ended)."""
        with anyio.move_on_after(wait):
            async with self._recv_lock:
                if self._ended.is_set():
                    return None
                return await ws.recv()
        return None

    def _handle(self, message: str | bytes) -> list[SessionEvent]:
        events = self.core.receive(message)
        if self.core.state is State.CLOSED:
            self._ended.set()
        return events

    async def _receive(self) -> Iterable[SessionEvent]:
        while True:
            ws = self._ws
            if ws is None or self._ended.is_set():
                return [SessionClosed(self.core.close_reason or "closed by client")]
            live = self.core.reply_live
            wait = self.settings.idle_reply_timeout if live else _KEEP_READING
            try:
                message = await self._read(ws, wait)
            except ConnectionClosed as exc:
                if self._closing or self._ended.is_set():
                    return [SessionClosed(self.core.close_reason or "closed by client")]
                raise _closed_error("receive", self.provider_name, exc) from None
            if message is None:
                events = self.core.output_stopped() if live else []
            else:
                events = self._handle(message)
            await self._flush()
            if self.core.fatal is not None:
                error, self.core.fatal = self.core.fatal, None
                raise error
            if events:
                return events

    # -- closing ------------------------------------------------------------------------------

    async def _close(self) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            if self.core.close():
                await self._flush()
                with anyio.move_on_after(self.settings.close_timeout):
                    while not self._ended.is_set():
                        message = await self._read(ws, self.settings.close_timeout)
                        if message is not None:
                            for event in self._handle(message):
                                if not isinstance(event, SessionClosed):
                                    self._emit(event)
                if not self._ended.is_set():
                    log.warning(
                        "%s: no session.closed within %g s; final usage unknown",
                        self.provider_name,
                        self.settings.close_timeout,
                    )
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._ended.set()
            await _discard(ws)
