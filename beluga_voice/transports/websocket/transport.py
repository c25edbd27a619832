"""One WebSocket connection as a pipeline transport (the server side of a session).

:class:`WebSocketTransport` wraps an open connection (of either engine) and a
:class:`~.protocol.Serializer`.  Its input half reads messages, turns them into frames and
pushes them; its output half paces bot audio to the peer and forwards transcripts, speaking
events and interruptions.  The server (see :mod:`.server`) watches :attr:`closing` to end
the pipeline when the peer asks to end or goes away.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Final, Literal

import anyio
from websockets.exceptions import ConnectionClosed

from ...frames import Frame, InputAudioFrame
from ..base import InputTransport, Transport
from ..output import OutputTransport
from .engines import Feedable, ServerSocket
from .limits import TokenBucket
from .protocol import CLOSE_POLICY, EndRequest, Message, ProtocolError, Serializer

__all__ = ["CLOSE_IDLE", "WebSocketInput", "WebSocketOutput", "WebSocketTransport"]

log = logging.getLogger("beluga_voice.transports.websocket")

CLOSE_IDLE: Final = 4408
"""Close code for a connection that sent nothing for ``idle_timeout`` seconds."""

CloseReason = Literal["end", "disconnected", "idle", "protocol", "not_reading"]


class WebSocketTransport(Transport):
    """Transport over one open connection.  Build a pipeline with :meth:`input`/:meth:`output`.

    ``idle_timeout`` closes the connection (code 4408) when the peer sends nothing for that
    long; ``max_protocol_errors`` closes it (1008) after that many bad messages, each of
    which has been answered with an ``error`` event.

    Limits (see :mod:`.limits`): audio faster than ``max_audio_speed`` times real time
    (after a burst of ``audio_burst_s`` seconds) is read more slowly; events beyond
    ``max_events_per_s`` are refused with an ``error`` (``rate_limited``), and a peer that
    has ``max_protocol_errors`` refused is closed with 1008.  A peer that stops reading is
    closed once a send has waited ``send_timeout`` seconds: until then what it costs is
    the connection's write buffer; ``max_buffer_s`` caps the bot audio waiting to play.
    """

    def __init__(
        self,
        ws: ServerSocket,
        serializer: Serializer,
        *,
        session_id: str,
        chunk_ms: float = 20.0,
        lead_ms: float | None = None,
        realtime: bool = True,
        idle_timeout: float | None = None,
        max_protocol_errors: int = 20,
        max_events_per_s: float = 20.0,
        max_audio_speed: float = 3.0,
        audio_burst_s: float = 10.0,
        send_timeout: float = 10.0,
        max_buffer_s: float = 10.0,
    ) -> None:
        self.ws = ws
        self.serializer = serializer
        self.session_id = session_id
        self.idle_timeout = idle_timeout
        self.max_protocol_errors = max_protocol_errors
        self.protocol_errors = 0
        self.closing = anyio.Event()
        """Set when the session should end; :attr:`close_reason` says why."""
        self.close_reason: CloseReason | None = None
        self.send_timeout = send_timeout
        self.send_started: float | None = None
        """When the send in progress began (None: none in progress)."""
        self.events = TokenBucket(max_events_per_s, 2 * max_events_per_s)
        self.audio = TokenBucket(max_audio_speed, audio_burst_s)
        """In seconds of audio: ``max_audio_speed`` seconds of it per second of time."""
        self._input = self._new_input()
        self._output = self._new_output(
            chunk_ms=chunk_ms, lead_ms=lead_ms, realtime=realtime, max_buffer_s=max_buffer_s
        )

    def _new_input(self) -> WebSocketInput:
        """The input half (a transport carrying media another way, WebRTC, makes its own)."""
        return WebSocketInput(self)

    def _new_output(self, **options: Any) -> WebSocketOutput:
        return WebSocketOutput(self, **options)

    def input(self) -> WebSocketInput:
        return self._input

    def output(self) -> WebSocketOutput:
        return self._output

    def _close_with(self, reason: CloseReason) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self.closing.set()

    async def send(self, message: Message | None) -> bool:
        """Send one message; False (quietly) when the peer is gone."""
        if message is None:
            return True
        # A send waits while the peer's buffers are full; the input half's send watch
        # drops a peer that keeps one waiting past send_timeout (no cancel scope per send).
        self.send_started = time.monotonic()
        try:
            await self.ws.send(message)
        except ConnectionClosed:
            self._close_with("disconnected")
            return False
        finally:
            self.send_started = None
        return True

    async def send_error(self, code: str, message: str, *, fatal: bool = False) -> None:
        await self.send(self.serializer.error(code, message, fatal=fatal))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(ConnectionClosed):  # already closed: nothing to do
            await self.ws.close(code, reason)


class WebSocketInput(InputTransport):
    """Reads the peer's messages and pushes the frames they carry."""

    peer_metadata: dict[str, Any] | None = None
    """Sent with the :class:`~..base.ClientConnectedFrame` of the peer."""

    def __init__(self, transport: WebSocketTransport) -> None:
        super().__init__(name=f"ws-in:{transport.session_id}")
        self.transport = transport

    async def read(self) -> None:
        t = self.transport
        remote: Any = getattr(t.ws, "remote_address", None)
        address = f"{remote[0]}:{remote[1]}" if isinstance(remote, tuple) else None
        await self.peer_joined(t.session_id, address, self.peer_metadata)
        self._last_message = time.monotonic()
        if t.idle_timeout is not None:
            self.create_task(self._idle_watch, name=f"{self.name}.idle")
        self._start_watches()
        with contextlib.suppress(ConnectionClosed):
            await self._read_messages()
        t._close_with("disconnected")
        await self.peer_left(t.session_id, t.close_reason or "disconnected")

    def _start_watches(self) -> None:
        """Start the tasks that run beside the message loop (a subclass adds its own)."""
        self.create_task(self._send_watch, name=f"{self.name}.send-watch")

    async def _read_messages(self) -> None:
        # A plain loop: the idle timeout is watched by another task rather than a cancel
        # scope per message, which would cost more than handling the message.
        handle = self._handle
        ws = self.transport.ws
        fed = ws if isinstance(ws, Feedable) else None
        if fed is not None:
            fed.feed = self.feed
        try:
            async for message in ws:
                self._last_message = time.monotonic()
                await handle(message)
        finally:
            if fed is not None:
                fed.feed = None

    def feed(self, message: str | bytes) -> bool:
        """Handle one message from the connection's I/O callback (see
        :class:`~.engines.Feedable`); False leaves it to the reading task.

        Only user audio goes this way, within its rate limit, and only when the next
        processor is idle and takes it at once; anything else (an event, a bad message,
        a wait for the rate limit or for a busy pipeline) is the reading task's, which
        the connection calls only while nothing it queued is waiting, so order holds.
        """
        if type(message) is not bytes:
            return False
        t = self.transport
        try:
            items = t.serializer.deserialize(message)
        except ProtocolError:
            return False  # the reading task reports it
        if len(items) != 1 or type(items[0]) is not InputAudioFrame:
            return False
        frame: InputAudioFrame = items[0]
        seconds = frame.duration
        now = time.monotonic()
        if not t.audio.try_take(seconds, now):
            return False  # the reading task waits the rate limit out
        if not self.push_audio_frame_nowait(frame):
            t.audio.give_back(seconds)
            return False
        self._last_message = now
        return True

    async def _idle_watch(self) -> None:
        t = self.transport
        timeout = t.idle_timeout
        assert timeout is not None
        while True:
            idle_for = time.monotonic() - self._last_message
            if idle_for >= timeout:
                break
            await anyio.sleep(timeout - idle_for)
        t._close_with("idle")
        await t.send_error("idle_timeout", f"no message for {timeout:g} s")
        await t.close(CLOSE_IDLE, "idle timeout")

    async def _send_watch(self) -> None:
        """Drop a peer that has kept a send waiting for ``send_timeout`` (it stopped
        reading): until then it costs the connection's write buffer, nothing more."""
        t = self.transport
        timeout = t.send_timeout
        while True:
            started = t.send_started
            waited = 0.0 if started is None else time.monotonic() - started
            if waited >= timeout:
                break
            await anyio.sleep(timeout - waited)
        log.warning("session %s: the client read nothing for %g s; closing", t.session_id, timeout)
        t._close_with("not_reading")
        t.ws.transport.abort()  # a close handshake would wait on the peer too

    async def _handle(self, message: Message) -> None:
        t = self.transport
        try:
            items = t.serializer.deserialize(message)
        except ProtocolError as exc:
            await self._protocol_error(exc)
            return
        for item in items:
            if isinstance(item, InputAudioFrame):
                seconds = item.duration
                delay = t.audio.take(seconds)
                if delay:  # faster than allowed: read the socket later (TCP pushes back)
                    await anyio.sleep(delay)
                await self.push_audio_frame(item)
            elif isinstance(item, EndRequest):
                t._close_with("end" if item.graceful else "disconnected")
            elif not t.events.try_take():
                await self._protocol_error(
                    ProtocolError("rate_limited", "too many events; slow down")
                )
            else:
                await self.push_frame(item)

    async def _protocol_error(self, exc: ProtocolError) -> None:
        t = self.transport
        t.protocol_errors += 1
        log.info("session %s: %s: %s", t.session_id, exc.code, exc.message)
        await t.send_error(exc.code, exc.message)
        close = exc.close_code
        if close is None and t.protocol_errors >= t.max_protocol_errors:
            close = CLOSE_POLICY
        if close is not None:
            t._close_with("protocol")
            await t.close(close, "too many protocol errors")


class WebSocketOutput(OutputTransport):
    """Paces bot audio to the peer and forwards the events it should hear about."""

    def __init__(
        self,
        transport: WebSocketTransport,
        *,
        chunk_ms: float,
        lead_ms: float | None,
        realtime: bool,
        max_buffer_s: float = 10.0,
    ) -> None:
        super().__init__(
            chunk_ms=chunk_ms,
            lead_ms=lead_ms,
            realtime=realtime,
            max_buffer_s=max_buffer_s,
            channels=transport.serializer.channels,
            name=f"ws-out:{transport.session_id}",
        )
        self.transport = transport

    async def write_audio(self, chunk: bytes) -> None:
        t = self.transport
        if await t.send(t.serializer.serialize_audio(chunk)):
            mark = t.serializer.audio_mark()
            if mark is not None:  # carriers only: no second send per chunk for the others
                await t.send(mark)

    def _played_seconds(self) -> float:
        # A peer that reports playback (a carrier's echoed marks) knows better than our
        # pacing: its jitter buffer and the network sit between the two.
        heard = self.transport.serializer.played_seconds()
        return super()._played_seconds() if heard is None else heard

    async def write_frame(self, frame: Frame) -> None:
        t = self.transport
        await t.send(t.serializer.serialize(frame))
