"""The I/O shell of a Gemini Live session: one ``websockets`` connection at a time.

All protocol decisions live in :class:`~.protocol.GeminiLiveProtocol`; this class only
moves text between it and the socket.  Two tasks use a session (the one iterating it and
the one sending audio), so every "ask the core, then write" step happens under one lock:
the order in which the core numbers messages is the order they reach the wire, which the
replay after a reconnect depends on.

The shell keeps what the protocol offers and nothing more (docs/resilience.md):

* **goAway rotation.**  When the server announces the end of a connection, the session
  moves to a new one with the newest resumption handle, inside the iterating task (the
  session stays pull driven), once: a rotation that fails is a failure like a drop.
  While it is under way ``send_audio`` does not block: the core holds the audio and
  releases it, after the replayed messages, once the new connection answered
  ``setupComplete``.
* **Resumption for the owner of reconnects.**  A connection that drops ends the session
  with a retryable error; :meth:`GeminiLiveSession.resumption` then gives the retry layer
  the newest handle and how much of the user's audio it covers, so that it resumes the
  server's state and replays from its journal only what the handle lacks.  The shell
  has no retry loop, back-off or attempt count of its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ...conversation import ConversationContext
from ..base import Resumption, StreamingSession
from ..errors import ErrorCode, S2SError
from ..events import SessionClosed, SessionEvent, SessionReconnected
from . import wire
from .connection import auth_headers, open_websocket
from .protocol import GeminiLiveProtocol, Phase
from .settings import endpoint_url

if TYPE_CHECKING:
    from .provider import GeminiLiveProvider

__all__ = ["GeminiLiveSession"]

log = logging.getLogger("beluga_voice.providers.gemini")

_INPUT_BYTES_PER_MS = 16000 * 2 / 1000


def _close_info(exc: ConnectionClosed) -> tuple[int | None, str]:
    if exc.rcvd is not None:
        return exc.rcvd.code, exc.rcvd.reason
    return None, ""


class GeminiLiveSession(StreamingSession):
    """A live Gemini session; see the module docstring for how it is driven."""

    def __init__(
        self,
        provider: GeminiLiveProvider,
        ctx: ConversationContext,
        *,
        resume: Resumption | None = None,
    ) -> None:
        super().__init__(provider.name, ctx)
        self._provider = provider
        self.settings = provider.settings
        self.core = GeminiLiveProtocol(
            provider.settings, external_reasoning=provider.config.reasoning_mode == "external"
        )
        if resume is not None:  # the first connection continues the server's state
            self.core.switch.handle = resume.handle
        self._resume = resume
        self._ws: ClientConnection | None = None
        self._lock = anyio.Lock()
        self._audio_in = 0
        """User audio bytes given to this session (what :meth:`resumption` counts in)."""
        self.reconnections = 0
        """How many times the session moved to a new connection (goAway rotations)."""

    def __repr__(self) -> str:
        return f"<GeminiLiveSession {self.context.session_id} phase={self.core.phase}>"

    # -- connecting -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the first connection and wait for ``setupComplete``."""
        try:
            await self._connect()
        except BaseException:
            await self._drop_socket()
            raise
        self.resumed = self._resume

    def resumption(self) -> Resumption | None:
        """The newest handle and the user audio it holds for sure (everything given to
        this session but what the core still keeps for a replay)."""
        handle = self.core.resume_handle
        if handle is None:
            return None
        covered = max(0, self._audio_in - self.core.replay_bytes)
        return Resumption(self.provider_name, handle, covered / _INPUT_BYTES_PER_MS)

    async def _connect(self) -> None:
        config = self._provider.config
        secret = await self._provider.tokens.token(config.timeout)
        ws = await open_websocket(
            endpoint_url(self.settings),
            auth_headers(secret, vertexai=self.settings.vertexai),
            timeout=config.timeout,
            vertexai=self.settings.vertexai,
            ssl_context=self._provider.ssl_context,
        )
        async with self._lock:
            self._ws = ws
            await self._write(ws, [self.core.start_connection()])
        try:
            with anyio.fail_after(min(config.timeout, self.settings.stall_timeout_s)):
                while self.core.phase == Phase.SETUP:
                    raw = await ws.recv()
                    for event in self.core.receive(raw):
                        self._emit(event)
        except TimeoutError:
            raise S2SError("connect", ErrorCode.TIMEOUT, "gemini: no setupComplete") from None
        except ConnectionClosed as exc:
            code, reason = _close_info(exc)
            error = self.core.connection_lost(code, reason).error
            raise S2SError(
                "connect",
                error.code if error else wire.code_from_gemini_close(code, reason),
                error.message if error else f"gemini: connection closed in setup ({code})",
                details=error.details if error else {"close_code": code},
            ) from None
        async with self._lock:
            await self._write(ws, self.core.take_ready())

    async def _rotate(self) -> None:
        """goAway: move to a new connection with the newest handle, once.  A failure is
        raised like a drop; the retry layer then resumes with the same handle."""
        await self._drop_socket()
        if self._closing:
            return
        await self._connect()
        self.reconnections += 1
        # attempt=0 and no error: a planned move, like the OpenAI client's rotation.
        self._emit(SessionReconnected(self.provider_name, 0, None, self.core.last_replay_bytes))
        log.info(
            "gemini: resumed on a new connection after goAway (%d so far); replayed %d "
            "bytes of audio, of which the server may already have had up to %d",
            self.reconnections,
            self.core.last_replay_bytes,
            self.core.repeat_bound,
        )

    async def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with anyio.move_on_after(2.0, shield=True):
                await ws.close()

    async def _write(self, ws: ClientConnection | None, messages: list[str]) -> None:
        """Write in order (caller holds the lock).  A message lost to a socket closing
        after goAway is still in the core's replay log (the rotation sends it again);
        any other lost write is a retryable failure."""
        if ws is None:
            return
        for text in messages:
            try:
                await ws.send(text)
            except ConnectionClosed as exc:
                if self.core.go_away and self.core.can_resume():
                    return  # the receiving side rotates and replays
                code, reason = _close_info(exc)
                raise S2SError(
                    "send", ErrorCode.STREAM_CLOSED, f"gemini: connection closed ({code} {reason})"
                ) from None

    # -- operations -----------------------------------------------------------------------

    def _check_open(self, op: str) -> None:
        if self.closed or self._closing:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, "gemini: session closed")

    async def send_audio(self, audio: bytes) -> None:
        """PCM16 mono at 16 kHz; buffered (never blocked) while reconnecting."""
        self._check_open("send_audio")
        async with self._lock:
            messages = self.core.send_audio(bytes(audio))
            self._audio_in += len(audio)
            await self._write(self._ws, messages)

    async def send_text(self, text: str) -> None:
        self._check_open("send_text")
        async with self._lock:
            await self._write(self._ws, self.core.send_text(text))

    async def speak(self, text: str) -> None:
        self._check_open("speak")
        async with self._lock:
            await self._write(self._ws, self.core.speak(text))

    async def send_tool_result(self, call_id: str, output: str) -> None:
        self._check_open("send_tool_result")
        async with self._lock:
            await self._write(self._ws, self.core.send_tool_result(call_id, output))

    async def end_turn(self) -> None:
        self._check_open("end_turn")
        async with self._lock:
            await self._write(self._ws, self.core.end_turn())

    async def interrupt(self, played_ms: float | None = None) -> None:
        if self.closed or self._closing:
            return
        async with self._lock:
            messages, events = self.core.interrupt(played_ms)
            for event in events:
                self._emit(event)
            await self._write(self._ws, messages)

    async def _close(self) -> None:
        self.core.phase = Phase.CLOSED
        await self._drop_socket()

    # -- events ---------------------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        if self._closing:
            return [SessionClosed(reason="closed by client")]
        if self.core.reconnect_wanted:
            await self._rotate()
            return []
        ws = self._ws
        if ws is None:
            raise S2SError("receive", ErrorCode.NETWORK_ERROR, "gemini: not connected")
        switch_in = self.core.switch_wait()
        try:
            # After goAway, wake up at the switch deadline even if the server is quiet.
            with anyio.move_on_after(math.inf if switch_in is None else switch_in) as wake:
                if self.core.awaiting_server:
                    with anyio.fail_after(self.settings.stall_timeout_s):
                        raw = await ws.recv()
                else:
                    raw = await ws.recv()
            if wake.cancelled_caught:
                return []
        except TimeoutError:
            raise S2SError(
                "receive",
                ErrorCode.STREAM_TIMEOUT,
                f"gemini: nothing from the server for {self.settings.stall_timeout_s:g} s",
            ) from None
        except ConnectionClosed as exc:
            if self._closing:
                return [SessionClosed(reason="closed by client")]
            code, reason = _close_info(exc)
            verdict = self.core.connection_lost(code, reason)
            if verdict.reconnect and self.core.go_away:  # announced: rotate with the handle
                for event in self.core.interrupted_by_reconnect():
                    self._emit(event)  # ahead of the SessionReconnected the rotation emits
                await self._rotate()
                return []
            if verdict.reconnect:  # a drop: the owner of reconnects resumes with our handle
                raise S2SError(
                    "receive",
                    wire.code_from_gemini_close(code, reason),
                    f"gemini: connection closed ({code})",
                ) from None
            if verdict.error is not None:
                raise verdict.error from None
            return [SessionClosed(reason=verdict.reason)]
        return self.core.receive(raw)
