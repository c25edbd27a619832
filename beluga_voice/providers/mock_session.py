"""The mock provider's live session: a small state machine driven by what the client sends.

See :mod:`.mock` for the provider and what it records.  Kept apart so that each module
reads on its own: the provider (knobs, records across sessions) and the session (the
turn-taking state machine, its bounded inbox and its per-session records).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio

from ..audio.turns import EnergyTurnDetector, TurnEvent
from ..conversation import ConversationContext
from .base import StreamingSession
from .errors import ErrorCode, S2SError
from .events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    Transcript,
)

if TYPE_CHECKING:
    from .mock import AdvancedMockS2SProvider

__all__ = ["INBOX_LIMIT", "INBOX_LIMIT_BYTES", "MockSession"]

INBOX_LIMIT = 4096
"""Commands a mock session queues before ``send_*`` waits (82 s of 20 ms audio chunks: the
session is pull driven, so this is how far a client may run ahead of its reader)."""
INBOX_LIMIT_BYTES = 4 << 20
"""Audio a mock session queues before ``send_audio`` waits, whatever the chunk size (about
two minutes at 16 kHz): the count limit alone would let large chunks take gigabytes."""


class MockSession(StreamingSession):
    """The mock's live session: a small state machine driven by what the client sends."""

    def __init__(self, provider: AdvancedMockS2SProvider, ctx: ConversationContext) -> None:
        super().__init__(provider.name, ctx)
        self.p = provider
        self.received_audio: deque[bytes] = deque()
        self.received_bytes = 0
        self.dropped_audio_bytes = 0
        items = provider.record_limit_items
        self.received_text: deque[str] = deque(maxlen=items)
        self.spoken_text: deque[str] = deque(maxlen=items)
        self.tool_results: deque[tuple[str, str]] = deque(maxlen=items)
        self.interrupts: deque[float | None] = deque(maxlen=items)
        # Bounded like a real server's socket buffer: a client that runs ahead of the
        # session by more than this many commands waits (backpressure, never loss).
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[tuple[str, Any]](
            INBOX_LIMIT
        )
        self._inbox_bytes = 0
        self._inbox_room = anyio.Event()
        self._vad = self._new_detector()
        self._reply: deque[bytes] = deque()
        self._reply_rate = 24000
        self._reply_id: str | None = None
        self._next_due = 0.0
        self._chunks_sent = 0
        self._waiting_tool: str | None = None
        self._emit(SessionReady(session_id=ctx.session_id))

    def _new_detector(self) -> EnergyTurnDetector:
        p = self.p
        return EnergyTurnDetector(
            16000,
            threshold_rms=p.speech_rms,
            min_speech_ms=p.min_speech_ms,
            silence_ms=p.silence_ms,
        )

    # -- client operations: queue for the state machine ------------------------------------

    async def send_audio(self, audio: bytes) -> None:
        if self.closed:
            raise S2SError("send_audio", ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed")
        if len(audio) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        audio = bytes(audio)
        self._record_audio(audio)
        await self._queue("audio", audio)

    def _record_audio(self, audio: bytes) -> None:
        self.received_audio.append(audio)
        self.received_bytes += len(audio)
        while self.received_bytes > self.p.record_limit_bytes and len(self.received_audio) > 1:
            old = self.received_audio.popleft()
            self.received_bytes -= len(old)
            self.dropped_audio_bytes += len(old)

    async def _queue(self, kind: str, value: Any) -> None:
        size = len(value) if kind == "audio" else 0
        try:
            # Backpressure by bytes as well as by count; one chunk always fits.
            while size and self._inbox_bytes and self._inbox_bytes + size > INBOX_LIMIT_BYTES:
                if self.closed:
                    raise anyio.ClosedResourceError
                self._inbox_room = anyio.Event()
                await self._inbox_room.wait()
            self._inbox_bytes += size
            await self._inbox_send.send((kind, value))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise S2SError(
                kind, ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed"
            ) from None

    async def _take(self) -> tuple[str, Any]:
        """The next queued command (EndOfStream / ClosedResourceError once closed)."""
        kind, value = await self._inbox.receive()
        if kind == "audio":
            self._inbox_bytes -= len(value)
            self._inbox_room.set()
        return kind, value

    async def send_text(self, text: str) -> None:
        self.received_text.append(text)
        await self._queue("turn", text)

    async def speak(self, text: str) -> None:
        self.spoken_text.append(text)
        await self._queue("speak", text)

    async def send_tool_result(self, call_id: str, output: str) -> None:
        self.tool_results.append((call_id, output))
        await self._queue("tool_result", call_id)

    async def end_turn(self) -> None:
        await self._queue("turn", None)

    async def interrupt(self, played_ms: float | None = None) -> None:
        self.interrupts.append(played_ms)
        await self._queue("interrupt", played_ms)

    async def _close(self) -> None:
        # Nothing will be read any more: let go of what is queued and of the rest of a
        # reply, so a session kept for its records holds only the records.
        self._inbox_send.close()
        self._inbox.close()
        with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            while True:
                self._inbox.receive_nowait()
        self._inbox_bytes = 0
        self._inbox_room.set()
        self._reply.clear()

    # -- the state machine ----------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        if self._reply:
            return await self._next_reply_step()
        try:
            kind, value = await self._take()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return [SessionClosed(reason="closed by client")]
        return self._handle(kind, value)

    async def _next_reply_step(self) -> list[SessionEvent]:
        p = self.p
        sent = self._chunks_sent
        if p.stall_after_chunks is not None and sent >= p.stall_after_chunks:
            await anyio.sleep_forever()
        if p.fail_after_chunks is not None and sent >= p.fail_after_chunks:
            raise p.error or S2SError("receive", ErrorCode.STREAM_ERROR, f"{p.name}: injected")
        if p.disconnect_after_chunks is not None and sent >= p.disconnect_after_chunks:
            err = S2SError("receive", ErrorCode.NETWORK_ERROR, f"{p.name}: connection dropped")
            return [SessionClosed(reason="disconnected", error=err)]
        wait = self._next_due - anyio.current_time()
        if wait > 0:
            with anyio.move_on_after(wait):
                try:
                    kind, value = await self._take()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return [SessionClosed(reason="closed by client")]
                return self._handle(kind, value)
        chunk = self._reply.popleft()
        self._chunks_sent += 1
        self._next_due += p.pace * len(chunk) / (2 * self._reply_rate)
        out: list[SessionEvent] = [
            AudioChunk(
                chunk, self._reply_rate, is_final=not self._reply, response_id=self._reply_id
            )
        ]
        if not self._reply:
            index = (p.turns - 1) % max(1, len(p.transcripts)) if p.transcripts else None
            if index is not None:
                out.append(Transcript("assistant", p.transcripts[index], final=True))
            out.append(ResponseDone(self._reply_id, "completed"))
            self._reply_id = None
        return out

    def _handle(self, kind: str, value: Any) -> list[SessionEvent]:
        if kind == "audio":
            return self._hear(value)
        if kind == "interrupt":
            return self._cancel_reply("client interrupt") if self._reply_id else []
        if kind == "tool_result":
            if self._waiting_tool == value:
                self._waiting_tool = None
                return self._start_reply()
            return []
        if kind == "speak":
            return self._start_reply(text=value)
        # "turn": end of a user turn (client turn detection, or a text message)
        return self._user_turn_done(text=value)

    def _hear(self, audio: bytes) -> list[SessionEvent]:
        out: list[SessionEvent] = []
        for event in self._vad.feed(audio):
            if event is TurnEvent.SPEECH_STARTED:
                out.append(SpeechStarted(self._vad.speech_start_ms))
                if self._reply_id is not None:
                    out += self._cancel_reply("turn_detected")
            else:
                out.append(SpeechStopped(self._vad.position_ms))
                if self.p.turn_detection == "server":
                    out += self._user_turn_done()
        return out

    def _cancel_reply(self, reason: str) -> list[SessionEvent]:
        rid = self._reply_id
        self._reply.clear()
        self._reply_id = None
        return [Interrupted(rid), ResponseDone(rid, "cancelled", reason)]

    def _user_turn_done(self, text: str | None = None) -> list[SessionEvent]:
        p = self.p
        p.turns += 1
        out: list[SessionEvent] = []
        if text is None and p.user_transcripts:
            said = p.user_transcripts[(p.turns - 1) % len(p.user_transcripts)]
            out.append(Transcript("user", said, final=True))
        if p.config.reasoning_mode == "external":
            return out  # an external agent answers, through speak()
        if p.turns in p.tool_calls:
            name, args = p.tool_calls[p.turns]
            self._waiting_tool = f"call_{p.turns}"
            out.append(ToolCall(self._waiting_tool, name, args))
            return out
        return out + self._start_reply()

    def _start_reply(self, text: str | None = None) -> list[SessionEvent]:
        p = self.p
        output = p.audio_outputs[(max(p.turns, 1) - 1) % len(p.audio_outputs)]
        self._reply_rate = output.format.sample_rate
        step = self._reply_rate * p.chunk_ms // 1000 * 2
        data = output.data
        self._reply = deque(data[i : i + step] for i in range(0, len(data), step)) or deque([b""])
        self._reply_id = f"resp_{p.turns}_{self._chunks_sent}"
        self._next_due = anyio.current_time() + p.delay
        out: list[SessionEvent] = [ResponseStarted(self._reply_id)]
        if text is not None:
            out.append(Transcript("assistant", text, final=False))
        return out
