"""The local provider's session: the pull loop that turns user audio into spoken replies.

Split from :mod:`.local` (which builds the engines and registers the provider) because the
session is the part with the behaviour: command draining, endpointing in a worker thread,
one reply step per pull inside a cancellable scope, and barge-in truncation.  See the
:mod:`.local` module docstring for the design.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ..stt.utterance import UtteranceEvent, UtteranceRecognizer
from ..tts.sentences import SentenceAggregator, heard_text
from .base import StreamingSession
from .errors import ErrorCode, S2SError
from .events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from .types import ConversationContext

if TYPE_CHECKING:
    from .local import LocalS2SProvider

__all__ = ["LocalSession"]


class _Reply:
    """One response being produced: agent text in, sentences out, audio accounted."""

    def __init__(self, rid: str, pieces: AsyncIterator[str] | None, text: str = "") -> None:
        self.id = rid
        self.pieces = pieces
        self.sentences: list[str] = []
        self.aggregator = SentenceAggregator()
        if text:
            self.sentences = self.aggregator.push(text + " ")
            rest = self.aggregator.flush()
            self.sentences += [rest] if rest else []
        self.spoken: list[tuple[str, float]] = []
        """Sentences voiced so far, with their audio length in ms."""
        self.cancelled: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s for s, _ in self.spoken)


class LocalSession(StreamingSession):
    """A conversation with the local provider; see the module docstring."""

    def __init__(
        self, provider: LocalS2SProvider, ctx: ConversationContext, recognizer: UtteranceRecognizer
    ) -> None:
        super().__init__(provider.name, ctx)
        self.p = provider
        self.recognizer = recognizer
        self._send, self._inbox = anyio.create_memory_object_stream[tuple[str, Any]](math.inf)
        self._reply: _Reply | None = None
        self._last_spoken: list[tuple[str, float]] = []
        self._step_scope: anyio.CancelScope | None = None
        self._replies = 0
        self._emit(SessionReady(session_id=ctx.session_id))

    # -- client operations ----------------------------------------------------------------

    def _put(self, op: str, kind: str, value: Any) -> None:
        if self.closed or self._closing:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed")
        self._send.send_nowait((kind, value))

    async def send_audio(self, audio: bytes) -> None:
        if len(audio) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        self._put("send_audio", "audio", bytes(audio))

    async def send_text(self, text: str) -> None:
        self._put("send_text", "text", text)

    async def speak(self, text: str) -> None:
        self._put("speak", "speak", text)

    async def end_turn(self) -> None:
        self._put("end_turn", "end_turn", None)

    async def interrupt(self, played_ms: float | None = None) -> None:
        """Cancel the reply in progress at once; with ``played_ms``, also truncate the
        last assistant turn of the history to what was heard."""
        if self._reply is not None and self._reply.cancelled is None:
            self._reply.cancelled = "client interrupt"
            if self._step_scope is not None:
                self._step_scope.cancel()
        if played_ms is not None:
            self._truncate_history(played_ms)

    async def _close(self) -> None:
        if self._step_scope is not None:
            self._step_scope.cancel()
        self._send.close()
        with anyio.CancelScope(shield=True):
            await self._drop_reply()
            await anyio.to_thread.run_sync(self.recognizer.stream.close)

    # -- the pull loop --------------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        commands: list[tuple[str, Any]] = []
        if self._reply is None:
            try:
                commands.append(await self._inbox.receive())
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return [SessionClosed(reason="closed by client")]
        while True:
            try:
                commands.append(self._inbox.receive_nowait())
            except anyio.WouldBlock:
                break
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return [SessionClosed(reason="closed by client")]
        out: list[SessionEvent] = []
        for kind, value in _coalesce(commands):
            out += await self._command(kind, value)
        if self._reply is not None and self._reply.cancelled is not None:
            out += await self._cancel_reply()
        elif not out and self._reply is not None:
            out += await self._reply_step()
        return out

    async def _command(self, kind: str, value: Any) -> list[SessionEvent]:
        if kind == "audio":
            events = await anyio.to_thread.run_sync(self.recognizer.feed, value)
            return await self._on_utterance_events(events)
        if kind == "end_turn":
            events = await anyio.to_thread.run_sync(self.recognizer.end_utterance)
            return await self._on_utterance_events(events)
        out = await self._cancel_reply("superseded") if self._reply is not None else []
        if kind == "text":
            return out + self._start_reply(value)
        return out + self._start_reply(None, speak=value)

    async def _on_utterance_events(self, events: list[UtteranceEvent]) -> list[SessionEvent]:
        out: list[SessionEvent] = []
        for ev in events:
            if ev.kind == "started":
                out.append(SpeechStarted(ev.at_ms))
                if self._reply is not None:  # barge-in
                    out += await self._cancel_reply("turn_detected")
            elif ev.kind == "stopped":
                out.append(SpeechStopped(ev.at_ms))
            elif ev.result is not None and not ev.result.final:
                out.append(Transcript("user", ev.result.text, final=False))
            elif ev.result is not None and ev.result.text:
                history = list(self.context.history)  # before the owner records this turn
                out.append(Transcript("user", ev.result.text, final=True))
                if self.p.config.reasoning_mode == "built-in":
                    out += self._start_reply(ev.result.text, history=history)
        return out

    # -- replies --------------------------------------------------------------------------

    def _start_reply(
        self, text: str | None, *, speak: str = "", history: list[Any] | None = None
    ) -> list[SessionEvent]:
        self._replies += 1
        rid = f"local_resp_{self._replies}"
        pieces = None
        if text is not None:
            view = replace(self.context, history=history or list(self.context.history))
            pieces = aiter(self.p.agent.respond(text, view))
        self._reply = _Reply(rid, pieces, speak)
        return [ResponseStarted(rid)]

    async def _reply_step(self) -> list[SessionEvent]:
        reply = self._reply
        assert reply is not None
        out: list[SessionEvent] = []
        with anyio.CancelScope() as scope:
            self._step_scope = scope
            try:
                if reply.sentences:
                    out = await self._voice(reply, reply.sentences.pop(0))
                elif reply.pieces is not None:
                    try:
                        piece = await anext(reply.pieces)
                    except StopAsyncIteration:
                        reply.pieces = None
                        rest = reply.aggregator.flush()
                        reply.sentences += [rest] if rest else []
                    else:
                        reply.sentences += reply.aggregator.push(piece)
                else:
                    out = self._finish_reply(reply)
            except S2SError as exc:
                out = [SessionError(exc, fatal=False), *self._finish_reply(reply, "failed")]
            except Exception as exc:  # a user's agent must not kill the session
                err = S2SError("agent", ErrorCode.INTERNAL_ERROR, repr(exc), cause=exc)
                out = [SessionError(err, fatal=False), *self._finish_reply(reply, "failed")]
            finally:
                self._step_scope = None
        if scope.cancelled_caught or reply.cancelled is not None:
            return await self._cancel_reply()
        return out

    async def _voice(self, reply: _Reply, sentence: str) -> list[SessionEvent]:
        tts = self.p.tts
        audio = await tts.synthesize_async(sentence)
        rate = tts.sample_rate
        step = rate * self.p.settings.chunk_ms // 1000 * 2
        reply.spoken.append((sentence, 1000.0 * len(audio) / (2 * rate)))
        out: list[SessionEvent] = [Transcript("assistant", sentence, final=False)]
        out += [
            AudioChunk(audio[i : i + step], rate, response_id=reply.id)
            for i in range(0, len(audio), step)
        ]
        return out

    def _finish_reply(
        self, reply: _Reply, status: Literal["completed", "failed"] = "completed"
    ) -> list[SessionEvent]:
        self._reply = None
        self._last_spoken = reply.spoken
        out: list[SessionEvent] = [
            AudioChunk(b"", self.p.tts.sample_rate, is_final=True, response_id=reply.id)
        ]
        if reply.text:
            out.append(Transcript("assistant", reply.text, final=True))
        return [*out, ResponseDone(reply.id, status)]

    async def _cancel_reply(self, reason: str | None = None) -> list[SessionEvent]:
        reply = self._reply
        if reply is None:
            return []
        reason = reply.cancelled or reason or "cancelled"
        await self._drop_reply()
        self._last_spoken = reply.spoken
        out: list[SessionEvent] = [Interrupted(reply.id)]
        if reply.text:
            out.append(Transcript("assistant", reply.text, final=True))
        return [*out, ResponseDone(reply.id, "cancelled", reason)]

    async def _drop_reply(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None and reply.pieces is not None:
            aclose = getattr(reply.pieces, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                    await aclose()

    def _truncate_history(self, played_ms: float) -> None:
        """Cut the last assistant turn to the words that fit in ``played_ms`` of audio."""
        spoken = self._last_spoken
        turn = next((t for t in reversed(self.context.history) if t.role == "assistant"), None)
        if not spoken or turn is None:
            return
        text = heard_text(spoken, played_ms)
        if text != turn.text:
            turn.text = text
            turn.metadata["truncated_at_ms"] = played_ms


def _coalesce(commands: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Join consecutive audio commands, so one worker-thread call serves a burst."""
    out: list[tuple[str, Any]] = []
    for kind, value in commands:
        if kind == "audio" and out and out[-1][0] == "audio":
            out[-1] = ("audio", out[-1][1] + value)
        else:
            out.append((kind, value))
    return out
