"""The local provider's session: the pull loop that turns user audio into spoken replies.

Split from :mod:`.local` (which builds the engines and registers the provider) because the
session is the part with the behaviour: command draining, endpointing in a worker thread,
one reply step per pull inside a cancellable scope, and barge-in truncation.  See the
:mod:`.local` module docstring for the design.

Two rules keep one session from hurting the others on a shared server:

* The recogniser is native code: every call on it, ``close`` included, goes through one
  :class:`~beluga_voice.audio.engine_owner.EngineOwner`, so a ``close()`` from another
  task waits for the feed in flight instead of freeing the decoder under it.
* The inbox is bounded (:data:`INBOX_LIMIT` commands, audio split in pieces of at most
  :data:`PIECE_MS`): a client sending faster than the recogniser keeps up waits in
  ``send_audio`` (backpressure; no audio is dropped), and a burst is joined linearly
  into feeds of at most :data:`FEED_MS` of audio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from ..audio.engine_owner import EngineClosedError, EngineOwner
from ..conversation import ConversationContext
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

if TYPE_CHECKING:
    from .local import LocalS2SProvider

__all__ = ["FEED_MS", "INBOX_LIMIT", "PIECE_MS", "LocalSession"]

INBOX_LIMIT: Final = 320
"""Commands a session queues before ``send_*`` waits: about 32 s of audio (1 MB at
16 kHz), since a client running ahead of the reader has its audio gathered into entries of
:data:`PIECE_MS`.  The session is pull driven (the inbox drains only while someone reads
its events), so the bound is also how much a client may send before it must read: enough
for an utterance, and for a resilience wrapper's replay of up to 30 s."""
PIECE_MS: Final = 100
"""Longest audio piece one inbox entry holds (longer ``send_audio`` calls are split)."""
FEED_MS: Final = 1000
"""Most audio joined into one recogniser call: bounds how long ``close`` waits for it."""


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
        """Called only through :attr:`engine` (it drives the native decoder)."""
        self.engine = EngineOwner(f"{provider.name} recogniser", close=recognizer.stream.close)
        self._send, self._inbox = anyio.create_memory_object_stream[tuple[str, Any]](INBOX_LIMIT)
        self._gathered = bytearray()
        """Audio held back while the inbox is not empty, to be queued in larger pieces."""
        rate = recognizer.rate
        self._piece = rate * PIECE_MS // 1000 * 2
        self._feed_max = rate * FEED_MS // 1000 * 2
        self._reply: _Reply | None = None
        self._last_spoken: list[tuple[str, float]] = []
        self._step_scope: anyio.CancelScope | None = None
        self._replies = 0
        self._emit(SessionReady(session_id=ctx.session_id))

    @property
    def queued(self) -> int:
        """Commands waiting in the inbox (never more than :data:`INBOX_LIMIT`)."""
        return self._inbox.statistics().current_buffer_used

    # -- client operations ----------------------------------------------------------------

    async def _put(self, op: str, kind: str, value: Any) -> None:
        """Queue a command; waits while the inbox is full (backpressure, never loss)."""
        if self.closed or self._closing:
            raise S2SError(op, ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed")
        try:
            await self._send.send((kind, value))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise S2SError(op, ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed") from None

    async def send_audio(self, audio: bytes) -> None:
        """Queue user audio; waits while :data:`INBOX_LIMIT` commands are queued.

        While the reader is behind (the inbox is not empty), small chunks are gathered
        into pieces of :data:`PIECE_MS` before they are queued, so the bound holds that
        much audio whatever size the client sends.
        """
        if len(audio) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        if self.closed or self._closing:
            raise S2SError("send_audio", ErrorCode.STREAM_CLOSED, f"{self.p.name}: session closed")
        self._gathered += audio
        if not self.queued or len(self._gathered) >= self._piece:
            await self._queue_gathered("send_audio")

    async def _queue_gathered(self, op: str) -> None:
        if not self._gathered:
            return
        audio, step = bytes(self._gathered), self._piece
        self._gathered.clear()
        for i in range(0, len(audio), step):
            await self._put(op, "audio", audio[i : i + step])

    async def send_text(self, text: str) -> None:
        await self._queue_gathered("send_text")  # audio sent before it goes first
        await self._put("send_text", "text", text)

    async def speak(self, text: str) -> None:
        await self._queue_gathered("speak")
        await self._put("speak", "speak", text)

    async def end_turn(self) -> None:
        await self._queue_gathered("end_turn")
        await self._put("end_turn", "end_turn", None)

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
        self._send.close()  # wakes a sender waiting on a full inbox, and the pull loop
        with anyio.CancelScope(shield=True):
            await self._drop_reply()
            await self.engine.aclose()  # after the feed in flight, if any
        self._inbox.close()

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
        if self._gathered:  # sent after everything queued (any other command flushes it)
            commands.append(("audio", bytes(self._gathered)))
            self._gathered.clear()
        out: list[SessionEvent] = []
        for kind, value in _coalesce(commands, self._feed_max):
            try:
                out += await self._command(kind, value)
            except EngineClosedError:  # close() won the race; the engine is released
                return [SessionClosed(reason="closed by client")]
        if self._reply is not None and self._reply.cancelled is not None:
            out += await self._cancel_reply()
        elif not out and self._reply is not None:
            out += await self._reply_step()
        return out

    async def _command(self, kind: str, value: Any) -> list[SessionEvent]:
        if kind == "audio":
            events = await self.engine.run(self.recognizer.feed, value)
            return await self._on_utterance_events(events)
        if kind == "end_turn":
            events = await self.engine.run(self.recognizer.end_utterance)
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


def _coalesce(commands: list[tuple[str, Any]], max_bytes: int) -> list[tuple[str, Any]]:
    """Join consecutive audio commands into pieces of at most ``max_bytes`` (one piece may
    exceed it if a command alone does), so one worker-thread call serves a burst.

    Linear: each run is joined once with ``b"".join`` (joining pairwise with ``+`` copied
    the growing buffer every time, quadratic, on the event loop)."""
    out: list[tuple[str, Any]] = []
    run: list[bytes] = []
    size = 0
    for kind, value in commands:
        if kind == "audio":
            if run and size + len(value) > max_bytes:
                out.append(("audio", b"".join(run)))
                run, size = [], 0
            run.append(value)
            size += len(value)
            continue
        if run:
            out.append(("audio", b"".join(run)))
            run, size = [], 0
        out.append((kind, value))
    if run:
        out.append(("audio", b"".join(run)))
    return out
