"""The I/O shell: a :class:`StreamingSession` over a ``websockets`` connection.

The shell only moves bytes and keeps time; every protocol decision is the core's.  It
adds what only the I/O layer can do:

- **failure detection**: a socket that drops, or a reply that stalls for
  ``response_timeout``, ends the session with a retryable error.  It does not reconnect:
  the protocol has no way back to the lost server state, so healing is the retry
  layer's (one back-off, one attempt count, one replay journal: docs/resilience.md);
- **rotation**: services end a session after about an hour, so once a connection is
  ``max_session_seconds`` old, at the next idle moment (or at the latest
  ``session_rotation_grace`` seconds later) a new connection is opened, configured and
  seeded *before* the old one is closed, so the user notices nothing (a rotation that
  fails is a failure like a drop).

Like every session it is pull driven: reading happens in whichever task iterates it,
so it owns no background task.  Sends are serialized by a lock so that the core's
outbox reaches the wire in order even when several tasks send.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ...conversation import ConversationContext
from ...frames import AudioEncoding
from ..base import StreamingSession
from ..errors import ErrorCode, S2SError, code_from_ws_close
from ..events import SessionClosed, SessionError, SessionEvent, SessionReconnected
from .connection import open_websocket
from .core import Outbound, RealtimeProtocol

if TYPE_CHECKING:
    from .provider import RealtimeProvider

__all__ = ["RealtimeSession"]

log = logging.getLogger(__name__)


class RealtimeSession(StreamingSession):
    """A live conversation with an OpenAI-Realtime-compatible service."""

    def __init__(self, provider: RealtimeProvider, ctx: ConversationContext) -> None:
        super().__init__(provider.name, ctx)
        self._provider = provider
        self.settings = provider.settings
        self.core = RealtimeProtocol(
            provider.dialect,
            provider.settings,
            ctx.history,
            auto_respond=provider.config.reasoning_mode != "external",
        )
        self._ws: ClientConnection | None = None
        self._send_lock = anyio.Lock()
        self._connected_at = time.monotonic()
        self._last_message = time.monotonic()
        self._rotating = False
        self.rotations = 0

    def __repr__(self) -> str:
        return f"<RealtimeSession {self.provider_name} {self.context.session_id}>"

    # -- connection management ------------------------------------------------------------------

    async def _connect(self) -> ClientConnection:
        """A configured connection: handshake, ``session.update``, seed, ``session.updated``."""
        p = self._provider
        key = p.config.secret() or ""
        timeout = self.settings.open_timeout
        headers = p.dialect.headers(self.settings, key)
        ws = await open_websocket(p.url, headers, timeout=timeout, provider=p.name)
        try:
            self.core.ready = False
            self.core.open()
            await self._send_all(ws, self.core.take_outbound())
            with anyio.fail_after(timeout):
                while not self.core.ready:
                    events = self.core.receive(await ws.recv())
                    if self.core.fatal is not None:  # the setup was refused: say so now
                        error, self.core.fatal = self.core.fatal, None
                        raise error
                    for event in events:
                        self._emit(event)
        except TimeoutError:
            await _discard(ws)
            raise S2SError(
                "connect", ErrorCode.TIMEOUT, f"{p.name}: no session.updated in {timeout:g} s"
            ) from None
        except ConnectionClosed as exc:
            raise _closed_error("connect", p.name, exc) from None
        except BaseException:
            await _discard(ws)
            raise
        self._connected_at = self._last_message = time.monotonic()
        return ws

    async def start(self) -> None:
        self._ws = await self._connect()

    async def _lost(self, error: S2SError) -> list[SessionEvent]:
        """The connection is gone: end the session with ``error`` (the owner of
        reconnects, if any, opens the next one and replays what was not answered)."""
        old, self._ws = self._ws, None
        if old is not None:
            await _discard(old)
        log.info("%s: connection lost (%s)", self.provider_name, error.code.value)
        return [SessionError(error, fatal=True), SessionClosed(str(error), error=error)]

    async def _rotate(self, cause: S2SError | None = None) -> SessionReconnected:
        """Move to a fresh connection before the service's session limit ends this one.

        The conversation carries on; the returned event (``attempt=0``) lets observers
        count rotations, and carries the server's error when one ended the connection.
        """
        self._rotating = True  # hold sends: they belong to the new connection
        try:
            new = await self._connect()
        finally:
            self._rotating = False
        async with self._send_lock:
            old, self._ws = self._ws, new
        self.rotations += 1
        if old is not None:
            await _discard(old)
        await self._flush()
        return SessionReconnected(self.provider_name, 0, cause, self.core.replayed_bytes)

    def _rotation_due(self, now: float) -> float:
        """Seconds until rotation should be considered (<= 0: now)."""
        return self._connected_at + self.settings.max_session_seconds - now

    # -- sending ----------------------------------------------------------------------------

    async def _send_all(self, ws: ClientConnection, messages: list[Outbound]) -> None:
        """Write ``messages``; a write stuck for ``send_timeout`` kills the connection
        (the reader then reports the connection lost)."""
        with anyio.move_on_after(self.settings.send_timeout) as scope:
            for message in messages:
                await ws.send(message if isinstance(message, bytes) else json.dumps(message))
        if scope.cancelled_caught:
            log.warning(
                "%s: a send stalled %g s; dropping the connection",
                self.provider_name,
                self.settings.send_timeout,
            )
            if ws.transport is not None:
                ws.transport.abort()

    async def _flush(self) -> None:
        async with self._send_lock:
            messages = self.core.take_outbound()
            if not messages or self._ws is None or self._rotating:
                self.core.requeue(messages)  # kept for the next connection
                return
            # On a drop the reading side notices and reports it.
            with contextlib.suppress(ConnectionClosed):
                await self._send_all(self._ws, messages)

    def _check_open(self, op: str) -> None:
        if self._finished or self._closing:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, f"{self.provider_name}: session closed")

    def pass_through(self, encoding: AudioEncoding) -> bool:
        return self.core.pass_through(encoding)

    async def send_audio(self, audio: bytes) -> None:
        self._check_open("send_audio")
        self.core.audio(audio)
        await self._flush()

    async def send_text(self, text: str) -> None:
        self._check_open("send_text")
        self.core.text(text)
        await self._flush()

    async def speak(self, text: str) -> None:
        self._check_open("speak")
        self.core.speak(text)
        await self._flush()

    async def send_tool_result(self, call_id: str, output: str) -> None:
        self._check_open("send_tool_result")
        self.core.tool_result(call_id, output)
        await self._flush()

    async def end_turn(self) -> None:
        self._check_open("end_turn")
        self.core.commit()
        await self._flush()

    async def interrupt(self, played_ms: float | None = None) -> None:
        self._check_open("interrupt")
        for event in self.core.interrupt(played_ms):
            self._emit(event)
        await self._flush()

    async def _close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await _discard(ws)

    # -- receiving --------------------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        while True:
            if self._ws is None:
                if self._closing:
                    return [SessionClosed("closed by client")]
                return await self._lost(
                    S2SError("receive", ErrorCode.NETWORK_ERROR, "not connected")
                )
            now = time.monotonic()
            due = self._rotation_due(now)
            if due <= 0 and (self.core.idle or due <= -self.settings.session_rotation_grace):
                try:
                    return [await self._rotate()]
                except S2SError as exc:
                    return await self._lost(exc)
            wait = due if due > 0 else 0.05
            stall_in: float | None = None
            if self.core.response_live:
                stall_in = self._last_message + self.settings.response_timeout - now
                wait = min(wait, max(stall_in, 0.0))
            ws = self._ws
            message: str | bytes | None = None
            try:
                with anyio.move_on_after(wait):
                    message = await ws.recv()
            except ConnectionClosed as exc:
                if self._closing or ws is not self._ws:
                    if self._closing:
                        return [SessionClosed("closed by client")]
                    continue
                return await self._lost(_closed_error("receive", self.provider_name, exc))
            if message is None:
                if stall_in is not None and time.monotonic() - self._last_message >= (
                    self.settings.response_timeout
                ):
                    err = S2SError(
                        "receive",
                        ErrorCode.STREAM_TIMEOUT,
                        f"{self.provider_name}: reply stalled for "
                        f"{self.settings.response_timeout:g} s",
                    )
                    return await self._lost(err)
                continue
            self._last_message = time.monotonic()
            events = self.core.receive(message)
            await self._flush()
            if self.core.fatal is not None:
                error, self.core.fatal = self.core.fatal, None
                await self._close()
                return [*events, SessionClosed(str(error), error=error)]
            if self.core.expired:
                self.core.expired = False
                cause, self.core.expired_error = self.core.expired_error, None
                try:
                    events.append(await self._rotate(cause))
                except S2SError as exc:
                    return [*events, *await self._lost(exc)]
            if events:
                return events


async def _discard(ws: ClientConnection, grace: float = 0.25) -> None:
    """Close ``ws`` politely if the peer answers quickly, else drop it.

    A graceful close waits for the server's close frame, which can sit behind unread
    messages that nobody will read any more (a rotated or abandoned connection), so the
    wait is bounded and the TCP connection is aborted after it.
    """
    with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
        await ws.close()
    if ws.transport is not None and not ws.transport.is_closing():
        ws.transport.abort()


def _closed_error(op: str, provider: str, exc: ConnectionClosed) -> S2SError:
    code = exc.rcvd.code if exc.rcvd is not None else None
    reason = exc.rcvd.reason if exc.rcvd is not None else ""
    text = f"{provider}: connection closed ({code if code is not None else 'no close frame'})"
    if reason:
        text += f": {reason}"
    return S2SError(op, code_from_ws_close(code), text, details={"close_code": code})
