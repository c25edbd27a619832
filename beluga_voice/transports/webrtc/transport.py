"""One WebRTC peer connection as a pipeline transport (the server side of a session).

Media goes over RTP (Opus, both ways, handled by aiortc); the events of the WebSocket
protocol (``docs/websocket-protocol.md``: ``session.started``, transcripts, speaking state,
``interrupted``, errors, and from the client ``text``, ``interrupt``, ``end``) go as the
same JSON text over a data channel the client opens.  The WebSocket the offer came in on
stays open as the session's lifeline: when it closes, the call is over.

:class:`WebRTCTransport` is a :class:`~..websocket.WebSocketTransport` whose messages go
over the data channel, so the protocol handling (rate limits, protocol errors, idle
timeout, the server's session loop) is the WebSocket transport's, not a copy of it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Final

import anyio
from aiortc import RTCDataChannel
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame
from websockets.exceptions import ConnectionClosed

from ...frames import BotStoppedSpeakingFrame, Frame, InterruptionFrame
from ..websocket.engines import ServerSocket
from ..websocket.protocol import DefaultSerializer, Message, ProtocolError
from ..websocket.transport import WebSocketInput, WebSocketOutput, WebSocketTransport
from .tracks import OPUS_RATE, BotAudioTrack, InboundAudio, MediaStreamError

__all__ = ["WebRTCInput", "WebRTCOutput", "WebRTCTransport"]

log = logging.getLogger("beluga_voice.transports.webrtc")

EVENT_BACKLOG: Final = 64
"""Client events received and not yet handled, at most.  Overflow policy: the session is
closed as a protocol abuse (the event rate limit lets 40 through at once; a client that
has 64 waiting is flooding)."""
MAX_CHANNEL_BUFFER: Final = 1 << 20
"""Bytes the data channel may hold unsent before the client counts as not reading."""


class WebRTCTransport(WebSocketTransport):
    """Transport over one connected peer connection (built by :class:`.server.WebRTCServer`).

    ``ws`` is the signalling WebSocket (kept open for the call), ``channel`` the client's
    data channel, ``audio_in`` the client's microphone track and ``track`` the bot audio
    track already added to the peer connection.
    """

    def __init__(
        self,
        ws: ServerSocket,
        channel: RTCDataChannel,
        audio_in: MediaStreamTrack,
        track: BotAudioTrack,
        *,
        session_id: str,
        **options: Any,
    ) -> None:
        self.channel = channel
        self.audio_in = audio_in
        self.track = track
        self._events_in, self.events_out = anyio.create_memory_object_stream[Message](EVENT_BACKLOG)
        serializer = DefaultSerializer()
        # Bot audio at Opus's own rate: the S2S processor resamples each reply whole (and
        # flushes its filter at the end), so the track passes it through untouched.
        serializer.output_sample_rate = OPUS_RATE
        super().__init__(ws, serializer, session_id=session_id, **options)
        channel.on("message", self._on_message)
        channel.on("close", self._events_in.close)

    def _new_input(self) -> WebRTCInput:
        return WebRTCInput(self)

    def _new_output(self, **options: Any) -> WebRTCOutput:
        return WebRTCOutput(self, **options)

    def _on_message(self, message: Message) -> None:
        try:
            self._events_in.send_nowait(message)
        except anyio.WouldBlock:
            log.warning("session %s: client event backlog full; closing", self.session_id)
            self._close_with("protocol")
        except anyio.ClosedResourceError:
            pass

    async def send(self, message: Message | None) -> bool:
        if message is None:
            return True
        if self.channel.readyState != "open":
            self._close_with("disconnected")
            return False
        if self.channel.bufferedAmount > MAX_CHANNEL_BUFFER:
            log.warning("session %s: the client reads no events; closing", self.session_id)
            self._close_with("not_reading")
            return False
        self.channel.send(message)
        return True


class WebRTCInput(WebSocketInput):
    """Reads the microphone track, the data channel's events and watches the signalling
    WebSocket; the session ends when any of them ends."""

    transport: WebRTCTransport
    peer_metadata = {"transport": "webrtc"}

    def _start_watches(self) -> None:
        # No send watch: data channel sends never wait (a peer that does not read is
        # caught by the channel's buffered amount, see WebRTCTransport.send).
        self.create_task(self._watch_signalling, name=f"{self.name}.signalling")
        self.create_task(self._read_audio, name=f"{self.name}.audio")

    async def _read_messages(self) -> None:
        handle = self._handle
        async for message in self.transport.events_out:
            self._last_message = time.monotonic()
            if isinstance(message, bytes):  # audio has its own track; two would mix
                await self._protocol_error(
                    ProtocolError("invalid_event", "audio goes over RTP, not the data channel")
                )
                continue
            await handle(message)

    async def _read_audio(self) -> None:
        t = self.transport
        inbound = InboundAudio(self.sample_rate)
        try:
            while True:
                frame = await t.audio_in.recv()
                pcm = inbound.convert(frame) if isinstance(frame, AudioFrame) else b""
                if pcm:
                    self._last_message = time.monotonic()
                    await self.push_audio(pcm, inbound.rate)
        except MediaStreamError:  # the peer connection closed: the call is over
            t._close_with("disconnected")

    async def _watch_signalling(self) -> None:
        # Nothing more is expected on the signalling socket; reading it notices a hang-up
        # at once (ICE consent would take 30 s) and keeps its buffers drained.
        with contextlib.suppress(ConnectionClosed):
            async for _ in self.transport.ws:
                pass
        self.transport._close_with("disconnected")


class WebRTCOutput(WebSocketOutput):
    """Bot audio into the outgoing track, events over the data channel.  An interruption
    empties the track's queue at once: the output half's pacing keeps at most ``lead_ms``
    there, and the browser's jitter buffer (a few tens of ms) is all that still plays."""

    transport: WebRTCTransport

    async def write_audio(self, chunk: bytes) -> None:
        await self.transport.track.write(chunk, self.sample_rate)

    async def write_frame(self, frame: Frame) -> None:
        if isinstance(frame, InterruptionFrame):
            self.transport.track.clear()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.transport.track.end_of_reply()
        await super().write_frame(frame)
