"""ResilientSession: the shared machinery of the resilience wrappers, a session that can
swap the live provider session underneath its caller and replays the unanswered user audio
(kept in the journal of :mod:`.journal`) to the new one.

Retry (:mod:`.retry`) and fallback (:mod:`.fallback`) both have to replace a broken or
slow inner session without the caller noticing, and without losing a word the user said.
They differ only in *which* session replaces it; everything else lives here.

Which user audio counts as answered, and how a reply cut by a failure is told or
replayed, is the session's turn tracking, its base class in :mod:`.resilient_turns`
(read its docstring first: it says what a swap replays).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import anyio

from ..audio.resample import StreamResampler
from ..conversation import ConversationContext
from .base import StreamingSession
from .errors import ErrorCode, S2SError
from .events import (
    SessionClosed,
    SessionError,
    SessionEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
)
from .journal import AudioJournal
from .resilient_turns import TurnTracking

__all__ = ["CALLER_ERRORS", "AudioJournal", "ResilientSession"]

log = logging.getLogger("beluga_voice.resilience")

CALLER_ERRORS = frozenset(
    {ErrorCode.INVALID_AUDIO_FORMAT, ErrorCode.INVALID_INPUT, ErrorCode.UNSUPPORTED_OPERATION}
)
"""Errors caused by what the caller sent: another session (a retry, a fallback) would fail
the same way, so the resilience layers pass them on instead of retrying."""
_CLOSE_GRACE = 1.0
"""Seconds allowed for closing a replaced inner session before it is abandoned."""
_MAX_ASKS = 8
"""Unanswered text turns kept for a replay (``send_text`` / ``speak``); older ones drop."""


class ResilientSession(TurnTracking):
    """A session that forwards to an inner session and can replace it mid-conversation.

    Subclasses decide what replaces a failed inner session in :meth:`_recover` and may
    time reads out (:meth:`_read_deadline`).  The caller sees one uninterrupted session:
    events of replaced sessions are filtered (a second ``SessionReady``, the dead
    session's own error and close), and the journal's pending audio is replayed to the
    new session before any new audio reaches it.
    """

    def __init__(
        self,
        name: str,
        context: ConversationContext,
        *,
        input_sample_rate: int,
        replay_seconds: float = 30.0,
        replay_started_turns: bool = False,
        replay_cut_reply_under: float = 1.0,
    ) -> None:
        super().__init__(name, context)
        self.replay_cut_reply_under = replay_cut_reply_under
        self._reply_heard_ms = 0.0
        """Reply audio given to the caller so far for the reply in progress."""
        self.input_sample_rate = input_sample_rate
        self._bytes_per_ms = input_sample_rate * 2 / 1000.0
        self.journal = AudioJournal(max(2, int(replay_seconds * input_sample_rate * 2)))
        self.replay_started_turns = replay_started_turns
        self._inner: StreamingSession | None = None
        self._inner_rate = input_sample_rate
        self._resample: StreamResampler | None = None
        self._inner_base = 0
        self._ready_sent = False
        self._send_lock = anyio.Lock()
        self._read_scope: anyio.CancelScope | None = None
        self._broken: S2SError | None = None
        # Turn state, in absolute journal offsets.
        self._turn_end: int | None = None
        self._turn_end_at: float | None = None
        self._client_turn = False
        self._user_speaking = False
        self._echo_speech_started = False
        self._reply_id: str | None = None
        self._reply_open = False
        self._reply_playing = False
        self._reply_offset: int | None = None
        self._last_event_at = 0.0
        self._asks: list[tuple[str, str]] = []
        """Text turns (``send_text`` / ``speak``) not answered yet, sent again to a
        replacement after the audio, like the audio in the journal."""

    # -- the inner session ------------------------------------------------------------------

    @property
    def inner(self) -> StreamingSession | None:
        """The provider session currently serving the conversation."""
        return self._inner

    def _set_inner_rate(self, rates: Iterable[int]) -> None:
        rates = tuple(rates)
        if not rates or self.input_sample_rate in rates:
            self._inner_rate, self._resample = self.input_sample_rate, None
        else:
            self._inner_rate = rates[0]
            self._resample = StreamResampler(self.input_sample_rate, rates[0])

    async def _to_inner(self, inner: StreamingSession, audio: bytes) -> None:
        if self._resample is not None:
            audio = self._resample.process(audio)
            if not audio:
                return
        await inner.send_audio(audio)

    async def _install(
        self,
        new: StreamingSession,
        rates: Iterable[int],
        *,
        reason: str,
        holds: int | None = None,
    ) -> tuple[list[SessionEvent], int]:
        """Swap ``new`` in, replay the unanswered audio; return events closing the old reply.

        ``holds`` is the journal offset up to which ``new`` already has the user's audio
        (a session resumed from a handle): the replay starts there, so nothing is sent
        twice.  Raises :class:`S2SError` when the replay itself fails (the caller's policy
        then tries again).  The returned count is the number of bytes replayed.
        """
        try:
            return await self._swap(new, rates, reason, holds)
        except BaseException:  # failed or cancelled half way: the new session is ours to close
            if self._inner is not new:
                await self._discard(new)
            raise

    async def _swap(
        self, new: StreamingSession, rates: Iterable[int], reason: str, holds: int | None
    ) -> tuple[list[SessionEvent], int]:
        old, self._inner = self._inner, None
        if old is not None:
            await self._discard(old)
        events = self._end_cut_reply(reason)
        self._broken = None
        replayed = 0
        async with self._send_lock:
            self._set_inner_rate(rates)
            start = self.journal.acked if holds is None else max(self.journal.acked, holds)
            start = min(start - start % 2, self.journal.total)
            self._inner_base = start
            for chunk in self.journal.pending(start):
                await self._to_inner(new, chunk)
                replayed += len(chunk)
            if self._client_turn and self._turn_end is not None:
                await new.end_turn()
            for op, text in self._asks:
                await getattr(new, op)(text)
            self._inner = new
        # The replayed speech makes the new provider report a speech start the caller
        # already heard about; a second one would look like a barge-in.
        self._echo_speech_started = self._user_speaking
        if self._turn_end is not None:
            self._turn_end_at = anyio.current_time()  # the new provider's clock starts now
        self._last_event_at = anyio.current_time()
        if replayed:
            log.info("%s: replayed %d bytes of unanswered user audio", self.provider_name, replayed)
        return events, replayed

    async def _discard(self, session: StreamingSession) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_GRACE):
            try:
                await session.close()
            except Exception as exc:  # a dead session may fail to close; it is gone anyway
                log.debug("%s: closing a replaced session failed: %r", self.provider_name, exc)

    def _mark_broken(self, exc: S2SError) -> None:
        """A send failed: wake the reader so that recovery starts now."""
        if self._broken is None:
            self._broken = exc
        if self._read_scope is not None:
            self._read_scope.cancel()

    # -- policy hooks -------------------------------------------------------------------------

    async def _recover(self, error: S2SError, reason: str) -> list[SessionEvent]:
        """Replace the inner session after ``error``; raise S2SError to give up."""
        raise error

    def _read_deadline(self) -> float:
        """Absolute ``anyio.current_time()`` by which the next inner event must arrive."""
        return math.inf

    async def _on_deadline(self) -> list[SessionEvent]:
        """The read deadline passed; return events (possibly none) to yield."""
        return []

    def _on_healthy(self, event: SessionEvent) -> None:
        """Hook: an event arrived from a working inner session."""

    # -- caller operations ---------------------------------------------------------------------

    async def send_audio(self, audio: bytes) -> None:
        if self._closing:
            raise S2SError("send_audio", ErrorCode.STREAM_CLOSED, f"{self.provider_name}: closed")
        if len(audio) % 2:
            raise S2SError("send_audio", ErrorCode.INVALID_AUDIO_FORMAT, "odd byte count for PCM16")
        async with self._send_lock:
            self.journal.append(audio)
            inner = self._inner
            if inner is None or self._broken is not None:
                return  # journaled: the replacement session gets it
            try:
                await self._to_inner(inner, audio)
            except S2SError as exc:
                if exc.code in CALLER_ERRORS:
                    raise
                self._mark_broken(exc)

    async def _forward(self, op: str, *args: object) -> None:
        inner = self._inner
        if inner is None or self._broken is not None:
            return
        try:
            await getattr(inner, op)(*args)
        except S2SError as exc:
            if exc.code in CALLER_ERRORS:
                raise
            self._mark_broken(exc)

    async def send_text(self, text: str) -> None:
        self._ask("send_text", text)
        await self._forward("send_text", text)

    async def speak(self, text: str) -> None:
        self._ask("speak", text)
        await self._forward("speak", text)

    def _ask(self, op: str, text: str) -> None:
        self._asks.append((op, text))
        del self._asks[:-_MAX_ASKS]

    async def send_tool_result(self, call_id: str, output: str) -> None:
        await self._forward("send_tool_result", call_id, output)

    async def set_input_muted(self, muted: bool) -> None:
        await self._forward("set_input_muted", muted)

    async def end_turn(self) -> None:
        self._client_turn = True
        self._mark_turn_end(self.journal.total)
        await self._forward("end_turn")

    async def interrupt(self, played_ms: float | None = None) -> None:
        await self._forward("interrupt", played_ms)

    async def _close(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await self._discard(inner)

    # -- reading -------------------------------------------------------------------------------

    async def _receive(self) -> Iterable[SessionEvent]:
        inner = self._inner
        if inner is None:
            if self._closing:
                return [SessionClosed(reason="closed by client")]
            error = self._broken or S2SError("receive", ErrorCode.STREAM_CLOSED, "no session")
            return await self._recover(error, "error")
        if self._broken is not None:
            return await self._recover(self._broken, "error")
        deadline = self._read_deadline()
        scope = anyio.CancelScope(deadline=deadline)
        self._read_scope = scope
        event: SessionEvent | None = None
        try:
            with scope:
                event = await inner.__anext__()
        except StopAsyncIteration:
            event = SessionClosed(reason="session ended")
        finally:
            self._read_scope = None
        if event is None:  # the scope was cancelled: a send broke, or the deadline passed
            if self._broken is not None:
                return await self._recover(self._broken, "error")
            return await self._on_deadline()
        return await self._on_event(event)

    async def _on_event(self, event: SessionEvent) -> list[SessionEvent]:
        self._last_event_at = anyio.current_time()
        if isinstance(event, SessionClosed):
            if self._closing:
                return [event]
            error = event.error or S2SError(
                "receive", ErrorCode.STREAM_CLOSED, f"{self.provider_name}: {event.reason}"
            )
            return await self._recover(error, "error")
        if isinstance(event, SessionError):
            if event.fatal:
                return await self._recover(event.error, "error")
            return [event]
        if isinstance(event, SessionReady):
            if self._ready_sent:
                return []
            self._ready_sent = True
            return [event]
        if isinstance(event, SpeechStarted) and self._echo_speech_started:
            self._echo_speech_started = False
            return []
        if isinstance(event, SpeechStopped):
            self._echo_speech_started = False
        self._track(event)
        self._on_healthy(event)
        return [event]
