"""``RecordingProvider``: record a live provider session to replay it later.

Wrap any streaming provider; every session it opens is recorded, every input the
pipeline sends and every event the provider yields, with timing, audio in the sidecar
and secrets redacted (see :mod:`.format`)::

    provider = RecordingProvider(new_provider("openai_realtime"), "calls/booking.jsonl")
    async with VoiceSession(s2s_provider=provider, ...) as session:
        ...
    # later, offline and deterministic:
    replay = new_provider("replay", S2SConfig(provider_specific={"recording": "calls/booking.jsonl"}))

Like the other wrappers, the wrapped provider does not know: the recorder forwards
every call unchanged and only watches.  The first session is written to ``path``; a
second one to ``<stem>-2.jsonl`` and so on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from ...conversation import ConversationContext
from ..base import StreamingS2SProvider, StreamingSession
from ..events import SessionClosed, SessionEvent
from .format import RecordingWriter, encode_event

__all__ = ["RecordingProvider", "RecordingSession"]


class RecordingProvider(StreamingS2SProvider):
    """See the module docstring.  ``paths`` lists the recordings written so far."""

    def __init__(self, inner: StreamingS2SProvider, path: Path | str) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.path = Path(path)
        self.paths: list[Path] = []

    def _next_path(self) -> Path:
        n = len(self.paths) + 1
        return self.path if n == 1 else self.path.with_name(f"{self.path.stem}-{n}.jsonl")

    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        inner = await self.inner.start_streaming(ctx)
        path = self._next_path()
        self.paths.append(path)
        config = self.inner.config.model_dump(mode="json", exclude={"api_key"})
        writer = RecordingWriter(path, self.inner.name, self.inner.capabilities, config)
        return RecordingSession(inner, writer)


class RecordingSession(StreamingSession):
    """Forwards to ``inner`` and writes each input and each event as it passes."""

    def __init__(self, inner: StreamingSession, writer: RecordingWriter) -> None:
        super().__init__(inner.provider_name, inner.context)
        self.inner = inner
        self.writer = writer
        self._t0 = time.monotonic()
        self._audio_in = 0
        self._ops_in = 0

    def _record_in(self, op: str, args: dict[str, object], audio: bytes = b"") -> None:
        gate = (self._audio_in, self._ops_in)
        self.writer.write("in", op, time.monotonic() - self._t0, gate, dict(args), audio)
        if audio:
            self._audio_in += len(audio)
        else:
            self._ops_in += 1

    async def send_audio(self, audio: bytes) -> None:
        await self.inner.send_audio(audio)
        self._record_in("send_audio", {}, bytes(audio))

    async def send_text(self, text: str) -> None:
        await self.inner.send_text(text)
        self._record_in("send_text", {"text": text})

    async def speak(self, text: str) -> None:
        await self.inner.speak(text)
        self._record_in("speak", {"text": text})

    async def send_tool_result(self, call_id: str, output: str) -> None:
        await self.inner.send_tool_result(call_id, output)
        self._record_in("send_tool_result", {"call_id": call_id, "output": output})

    async def end_turn(self) -> None:
        await self.inner.end_turn()
        self._record_in("end_turn", {})

    async def interrupt(self, played_ms: float | None = None) -> None:
        await self.inner.interrupt(played_ms)
        self._record_in("interrupt", {"played_ms": played_ms})

    async def _close(self) -> None:
        try:
            await self.inner.close()
        finally:
            self.writer.close()

    async def _receive(self) -> Iterable[SessionEvent]:
        try:
            event = await anext(self.inner)
        except StopAsyncIteration:
            return [SessionClosed(reason="closed by client")]
        data, audio = encode_event(event)
        op = data.pop("event")
        if not self.writer.closed:
            gate = (self._audio_in, self._ops_in)
            self.writer.write("out", op, time.monotonic() - self._t0, gate, data, audio)
        return [event]
