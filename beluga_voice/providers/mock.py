"""A scriptable in-process S2S provider for tests and offline experiments.

:class:`AdvancedMockS2SProvider` behaves like a real server-VAD provider: it listens to the
audio it receives with an energy detector, answers each finished user turn with scripted
audio (streamed in chunks at a chosen pace), reports the user's speech so that a barge-in
cuts its reply, and can be told to fail in every way a real provider fails: on the Nth
connection, mid-stream, by disconnecting, by stalling, or by answering slowly.

Everything a session receives is recorded on it (``received_audio``, ``received_text``,
``spoken_text``, ``tool_results``, ``interrupts``), and the provider's attributes of the same
names join the records of its recent sessions, so tests can assert that nothing was lost.
Both are bounded, so that a long-running ``serve -p mock`` does not keep every byte: the
provider keeps its last ``keep_sessions`` sessions, and a session the last
``record_limit_bytes`` of its audio (older audio is dropped and counted in
``dropped_audio_bytes``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict

from ..audio.turns import EnergyTurnDetector, TurnEvent, tone
from ..conversation import ConversationContext
from .base import StreamingS2SProvider, StreamingSession
from .config import S2SConfig
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
from .registry import register_provider
from .types import AudioOutput, ProviderCapabilities

__all__ = ["INBOX_LIMIT", "AdvancedMockS2SProvider", "MockSession", "MockSettings"]

INBOX_LIMIT = 4096
"""Commands a mock session queues before ``send_*`` waits (82 s of 20 ms audio chunks: the
session is pull driven, so this is how far a client may run ahead of its reader)."""


class MockSettings(BaseModel):
    """``provider_specific`` keys of the ``mock`` provider."""

    model_config = ConfigDict(extra="forbid")

    reply_seconds: float = 0.5
    reply_text: str = "This is the mock provider."
    chunk_ms: int = 20
    pace: float = 0.0
    silence_ms: int = 300


class AdvancedMockS2SProvider(StreamingS2SProvider):
    """See the module docstring.  All knobs are keyword arguments.

    ``pace`` is the playback speed of replies: 0 streams as fast as possible, 1.0 at real
    time.  ``turn_detection="server"`` ends a user turn after ``silence_ms`` of quiet
    following speech; ``"client"`` waits for :meth:`StreamingSession.end_turn`.
    ``tool_calls`` maps a turn number (1-based) to a ``(name, arguments_json)`` the mock
    asks for before replying; the reply follows the tool result.
    """

    settings_model = MockSettings
    requires_api_key = False

    def __init__(
        self,
        name: str = "mock",
        *,
        config: S2SConfig | None = None,
        audio_outputs: Sequence[AudioOutput | bytes] = (),
        transcripts: Sequence[str] = (),
        user_transcripts: Sequence[str] = (),
        delay: float = 0.0,
        error: S2SError | None = None,
        fail_on_call: int | None = None,
        fail_after_chunks: int | None = None,
        disconnect_after_chunks: int | None = None,
        stall_after_chunks: int | None = None,
        chunk_ms: int = 20,
        pace: float = 0.0,
        turn_detection: str = "server",
        silence_ms: int = 300,
        speech_rms: float = 500.0,
        min_speech_ms: float = 40.0,
        tool_calls: dict[int, tuple[str, str]] | None = None,
        capabilities: ProviderCapabilities | None = None,
        keep_sessions: int = 16,
        record_limit_bytes: int = 8 << 20,
    ) -> None:
        super().__init__(config or S2SConfig(provider="mock"))
        self.name = name
        self.audio_outputs = [
            o if isinstance(o, AudioOutput) else AudioOutput(data=o) for o in audio_outputs
        ] or [AudioOutput(data=tone())]
        self.transcripts = list(transcripts)
        self.user_transcripts = list(user_transcripts)
        self.delay = delay
        self.error = error
        self.fail_on_call = fail_on_call
        self.fail_after_chunks = fail_after_chunks
        self.disconnect_after_chunks = disconnect_after_chunks
        self.stall_after_chunks = stall_after_chunks
        self.chunk_ms = chunk_ms
        self.pace = pace
        self.turn_detection = turn_detection
        self.silence_ms = silence_ms
        self.speech_rms = speech_rms
        self.min_speech_ms = min_speech_ms
        self.tool_calls = dict(tool_calls or {})
        self.capabilities = capabilities or ProviderCapabilities(
            server_vad=turn_detection == "server",
            barge_in_truncation=True,
            tools=True,
            text_input=True,
            speak_text=True,
            transcripts=True,
            input_sample_rates=(16000, 24000),
            output_sample_rate=self.audio_outputs[0].format.sample_rate,
        )
        self.calls = 0
        self.turns = 0
        self.record_limit_bytes = record_limit_bytes
        self.sessions: deque[MockSession] = deque(maxlen=keep_sessions)
        """The most recent sessions, with their records (older ones are forgotten)."""

    @classmethod
    def from_config(
        cls, config: S2SConfig, settings: MockSettings | None
    ) -> AdvancedMockS2SProvider:
        s = settings or MockSettings()
        return cls(
            config=config,
            audio_outputs=[tone(s.reply_seconds)],
            transcripts=[s.reply_text],
            chunk_ms=s.chunk_ms,
            pace=s.pace,
            silence_ms=s.silence_ms,
        )

    # -- records of the recent sessions, joined in session order ---------------------------

    @property
    def received_audio(self) -> list[bytes]:
        return [chunk for s in self.sessions for chunk in s.received_audio]

    @property
    def received_text(self) -> list[str]:
        return [text for s in self.sessions for text in s.received_text]

    @property
    def spoken_text(self) -> list[str]:
        return [text for s in self.sessions for text in s.spoken_text]

    @property
    def tool_results(self) -> list[tuple[str, str]]:
        return [result for s in self.sessions for result in s.tool_results]

    @property
    def interrupts(self) -> list[float | None]:
        return [played for s in self.sessions for played in s.interrupts]

    @property
    def received_bytes(self) -> int:
        return sum(s.received_bytes for s in self.sessions)

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise self.error or S2SError(
                "connect", ErrorCode.NETWORK_ERROR, f"{self.name}: injected"
            )
        if self.delay:
            await anyio.sleep(self.delay)
        session = MockSession(self, ctx)
        self.sessions.append(session)
        return session


class MockSession(StreamingSession):
    """The mock's live session: a small state machine driven by what the client sends."""

    def __init__(self, provider: AdvancedMockS2SProvider, ctx: ConversationContext) -> None:
        super().__init__(provider.name, ctx)
        self.p = provider
        self.received_audio: deque[bytes] = deque()
        self.received_bytes = 0
        self.dropped_audio_bytes = 0
        self.received_text: list[str] = []
        self.spoken_text: list[str] = []
        self.tool_results: list[tuple[str, str]] = []
        self.interrupts: list[float | None] = []
        # Bounded like a real server's socket buffer: a client that runs ahead of the
        # session by more than this many commands waits (backpressure, never loss).
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[tuple[str, Any]](
            INBOX_LIMIT
        )
        self._vad = self._new_detector()
        self._reply: list[bytes] = []
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
        try:
            await self._inbox_send.send((kind, value))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise S2SError(
                kind, ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed"
            ) from None

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
        self._inbox_send.close()

    # -- the state machine ----------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        if self._reply:
            return await self._next_reply_step()
        try:
            kind, value = await self._inbox.receive()
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
                    kind, value = await self._inbox.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return [SessionClosed(reason="closed by client")]
                return self._handle(kind, value)
        chunk = self._reply.pop(0)
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
        self._reply = []
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
        self._reply = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        self._reply_id = f"resp_{p.turns}_{self._chunks_sent}"
        self._next_due = anyio.current_time() + p.delay
        out: list[SessionEvent] = [ResponseStarted(self._reply_id)]
        if text is not None:
            out.append(Transcript("assistant", text, final=False))
        return out


register_provider(
    "mock",
    AdvancedMockS2SProvider.from_config,
    settings=MockSettings,
    requires_api_key=False,
    description="Scriptable in-process provider for tests",
    credentials="none",
)
