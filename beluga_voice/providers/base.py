"""The provider and session abstractions every S2S provider implements.

A :class:`StreamingSession` is *pull driven*: iterating it reads the provider's wire and
yields :mod:`events <beluga_voice.providers.events>`, while ``send_*`` calls write to the
wire from the caller's task.  A session therefore owns no background task, which keeps
structured concurrency intact: whoever iterates the session owns its lifetime, and a
session that nobody iterates simply applies backpressure to its socket.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

import anyio

from ..conversation import ConversationContext, new_conversation_context
from ..frames import AudioEncoding
from .errors import ErrorCode, S2SError
from .events import (
    AudioChunk,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionEvent,
    Transcript,
)
from .types import AudioFormat, AudioInput, AudioOutput, ProviderCapabilities

if TYPE_CHECKING:
    from .config import S2SConfig

__all__ = [
    "ProviderWrapper",
    "Resumption",
    "S2SProvider",
    "SessionLimiter",
    "StreamingS2SProvider",
    "StreamingSession",
]


@dataclass(frozen=True, slots=True)
class Resumption:
    """What a session that failed leaves for the one replacing it: the server's own way
    back to its state of the conversation (a Gemini Live resumption handle).

    ``audio_ms`` is how much of the user audio the failed session received (counted from
    its first byte) that state holds for sure: the replacement needs only what follows.
    Only the owner of reconnects (the retry layer) uses it, through
    :meth:`StreamingS2SProvider.resume_streaming`; a protocol with nothing to resume
    with offers none.
    """

    provider: str
    handle: str
    audio_ms: float


class StreamingSession(ABC):
    """One live conversation with a provider.

    Use it as an async context manager and iterate it for events::

        async with await provider.start_streaming(ctx) as session:
            await session.send_audio(pcm16)
            async for event in session:
                ...

    Subclasses implement :meth:`_receive` (wait for the next events from the wire) and
    the ``send_*`` operations they support; the base class handles queuing of locally
    produced events, the closing sequence and the release of the provider's session slot.
    """

    def __init__(self, provider_name: str, context: ConversationContext) -> None:
        self.provider_name = provider_name
        self.context = context
        self._pending: deque[SessionEvent] = deque()
        self._finished = False
        self._last: SessionClosed | None = None
        self._closing = False
        self._release: Callable[[], None] | None = None
        self.resumed: Resumption | None = None
        """The :class:`Resumption` this session continues from (None: a fresh start)."""
        self.opened_at = time.monotonic()

    # -- operations -----------------------------------------------------------------------

    @abstractmethod
    async def send_audio(self, audio: bytes) -> None:
        """Send user audio: PCM16 mono at one of the provider's input sample rates."""

    def pass_through(self, encoding: AudioEncoding) -> bool:
        """Take and give G.711 ``encoding`` bytes as they are, from now on (before any audio).

        True when the session's wire speaks that codec natively (OpenAI Realtime set up
        with ``audio/pcmu``): :meth:`send_audio` then takes the carrier's bytes and
        :class:`~beluga_voice.providers.events.AudioChunk` carries the provider's, with no
        decode, resample or encode between a phone call and the model.  False (the
        default): nothing changes, the S2S processor converts.
        """
        return False

    async def send_text(self, text: str) -> None:
        """Send a user message as text (providers with ``capabilities.text_input``)."""
        raise S2SError("send_text", ErrorCode.UNSUPPORTED_OPERATION, self.provider_name)

    async def speak(self, text: str) -> None:
        """Voice ``text`` verbatim as the assistant (external reasoning)."""
        raise S2SError("speak", ErrorCode.UNSUPPORTED_OPERATION, self.provider_name)

    async def send_tool_result(self, call_id: str, output: str) -> None:
        """Answer a :class:`~beluga_voice.providers.events.ToolCall`."""
        raise S2SError("send_tool_result", ErrorCode.UNSUPPORTED_OPERATION, self.provider_name)

    async def set_input_muted(self, muted: bool) -> None:  # noqa: B027
        """Mute (or unmute) the user's audio at the provider, for providers with a native
        mute (GPT-Live).  The S2S processor already sends silence while muted, so the
        default does nothing."""

    async def end_turn(self) -> None:  # noqa: B027
        """Tell the provider the user finished speaking (when turn detection is local)."""

    async def interrupt(self, played_ms: float | None = None) -> None:  # noqa: B027
        """Barge-in: stop the current reply.

        ``played_ms`` is how much of the reply's audio the user actually heard; providers
        that keep a transcript of their own speech truncate it there.
        """

    def resumption(self) -> Resumption | None:
        """What a replacement could resume from if this session failed now (see
        :class:`Resumption`); None when the protocol has no such thing (the default)."""
        return None

    async def close(self) -> None:
        """Close the session.  Idempotent; the iterator then ends with SessionClosed."""
        if self._closing:
            return
        self._closing = True
        try:
            await self._close()
        finally:
            self._finish(SessionClosed(reason="closed by client"))

    async def _close(self) -> None:  # noqa: B027
        """Subclass hook: release the wire."""

    # -- events ---------------------------------------------------------------------------

    @abstractmethod
    async def _receive(self) -> Iterable[SessionEvent]:
        """Wait for the next events from the provider.

        Return a ``SessionClosed`` when the wire ends; raise :class:`S2SError` on failure.
        """

    def _emit(self, event: SessionEvent) -> None:
        """Queue a locally produced event ahead of the next wire read."""
        self._pending.append(event)

    def _finish(self, closed: SessionClosed) -> None:
        """Mark the session over; ``closed`` is delivered after every event queued so far.

        Only the first end counts: a close from another task and the wire's own end (or a
        failure caused by that close) race, and the consumer must see one SessionClosed,
        as the very last event.
        """
        if not self._finished:
            self._finished = True
            self._last = closed
        if self._release is not None:
            release, self._release = self._release, None
            release()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionEvent:
        while not self._pending:
            if self._finished:
                last, self._last = self._last, None
                if last is None:
                    raise StopAsyncIteration
                return last
            try:
                events = await self._receive()
            except S2SError as exc:
                if self._closing:  # the wire failed because we are closing it: no news
                    self._finish(SessionClosed(reason="closed by client"))
                elif not self._finished:
                    self._pending.append(SessionError(exc, fatal=True))
                    self._finish(SessionClosed(reason=str(exc), error=exc))
                continue
            for event in events:
                if isinstance(event, SessionClosed):
                    self._finish(event)
                    break
                self._pending.append(event)
        return self._pending.popleft()

    async def receive_audio(self) -> AsyncIterator[AudioChunk]:
        """The older audio-only view: reply audio chunks, and a chunk carrying any error."""
        async for event in self:
            if isinstance(event, AudioChunk):
                yield event
            elif isinstance(event, SessionError) and event.fatal:
                yield AudioChunk(b"", is_final=True, error=event.error)
            elif isinstance(event, SessionClosed) and event.error is not None:
                return

    @property
    def closed(self) -> bool:
        return self._finished

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.close()


class SessionLimiter:
    """Caps concurrent sessions of one provider (``max_concurrent_sessions``).

    A further session waits up to ``timeout`` seconds for a slot, then fails with
    ``rate_limit``.  The semaphore is made lazily because it must belong to the event loop
    that uses it, not to the one (if any) that built the provider.
    """

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self.timeout = timeout
        self._sem: anyio.Semaphore | None = None

    @property
    def in_use(self) -> int:
        return 0 if self._sem is None else self.limit - self._sem.value

    async def acquire(self, provider: str) -> Callable[[], None]:
        if self._sem is None:
            self._sem = anyio.Semaphore(self.limit)
        sem = self._sem
        with anyio.move_on_after(self.timeout):
            await sem.acquire()
            return sem.release
        raise S2SError(
            "start_streaming",
            ErrorCode.RATE_LIMIT,
            f"{provider}: all {self.limit} session slots busy for {self.timeout:g} s",
        )


@runtime_checkable
class S2SProvider(Protocol):
    """What every S2S provider offers, wrappers included: the one provider protocol.

    Real providers subclass :class:`StreamingS2SProvider` (the shared machinery: the
    session limit, ``stream``, a one-shot ``process`` built on a session); wrappers
    (retry, fallback, instrumentation) subclass :class:`ProviderWrapper` and implement
    the protocol only.  Code that takes a provider types it as ``S2SProvider``.
    """

    name: str
    config: S2SConfig
    capabilities: ProviderCapabilities

    async def process(
        self, audio_input: AudioInput, ctx: ConversationContext | None = None
    ) -> AudioOutput:
        """Answer one complete utterance (one-shot use)."""
        ...

    async def start_streaming(self, ctx: ConversationContext | None = None) -> StreamingSession:
        """Open a live session."""
        ...

    def stream(
        self, ctx: ConversationContext | None = None
    ) -> AbstractAsyncContextManager[StreamingSession]:
        """``async with provider.stream(ctx) as session:`` -- open and always close."""
        ...


class _Streams:
    """``stream()`` for every provider class: open a session, always close it."""

    name: str = ""

    @asynccontextmanager
    async def stream(
        self, ctx: ConversationContext | None = None
    ) -> AsyncIterator[StreamingSession]:
        session = await self.start_streaming(ctx)  # type: ignore[attr-defined]
        async with session:
            yield session

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class ProviderWrapper(_Streams, ABC):
    """Base of the provider wrappers: they implement :class:`S2SProvider` around other
    providers and hold no session slot of their own (the wrapped providers do)."""

    capabilities: ProviderCapabilities = ProviderCapabilities()

    def __init__(self, config: S2SConfig) -> None:
        self.config = config

    @abstractmethod
    async def process(
        self, audio_input: AudioInput, ctx: ConversationContext | None = None
    ) -> AudioOutput:
        """Answer one complete utterance (one-shot use)."""

    @abstractmethod
    async def start_streaming(self, ctx: ConversationContext | None = None) -> StreamingSession:
        """Open a live session."""


class StreamingS2SProvider(_Streams, ABC):
    """The base class of real providers, with live bidirectional sessions.

    Subclasses implement :meth:`_open_session`; :meth:`start_streaming` adds the
    concurrent-session limit, and :meth:`process` is built on a session.
    """

    capabilities: ProviderCapabilities = ProviderCapabilities()

    def __init__(self, config: S2SConfig) -> None:
        self.config = config
        self.limiter = SessionLimiter(config.max_concurrent_sessions, config.timeout)

    @abstractmethod
    async def _open_session(self, ctx: ConversationContext) -> StreamingSession:
        """Connect and configure a session; return it ready for audio."""

    async def _resume_session(
        self, ctx: ConversationContext, resume: Resumption
    ) -> StreamingSession:
        """Connect continuing from ``resume``; a protocol that cannot opens afresh."""
        return await self._open_session(ctx)

    async def start_streaming(self, ctx: ConversationContext | None = None) -> StreamingSession:
        """Open a live session (waits for a free slot, up to ``config.timeout``)."""
        return await self._start(ctx or new_conversation_context(), None)

    async def resume_streaming(
        self, ctx: ConversationContext, resume: Resumption
    ) -> StreamingSession:
        """Open a session that continues a failed one's server-side state (``resume``,
        from its :meth:`StreamingSession.resumption`).  The new session's ``resumed``
        says whether it did; if not it is a fresh start, as :meth:`start_streaming`."""
        return await self._start(ctx, resume)

    async def _start(self, ctx: ConversationContext, resume: Resumption | None) -> StreamingSession:
        release = await self.limiter.acquire(self.name)
        try:
            if resume is None or resume.provider != self.name:
                session = await self._open_session(ctx)
            else:
                session = await self._resume_session(ctx, resume)
        except BaseException:
            release()
            raise
        session._release = release
        return session

    async def process(
        self, audio_input: AudioInput, ctx: ConversationContext | None = None
    ) -> AudioOutput:
        """Stream one utterance in 20 ms chunks and gather the whole reply."""
        fmt = audio_input.format
        if fmt.encoding != "pcm" or fmt.bit_depth != 16 or fmt.channels != 1:
            raise S2SError("process", ErrorCode.INVALID_AUDIO_FORMAT, f"need PCM16 mono, got {fmt}")
        if fmt.sample_rate not in self.capabilities.input_sample_rates:
            raise S2SError(
                "process",
                ErrorCode.INVALID_AUDIO_FORMAT,
                f"{self.name} takes {self.capabilities.input_sample_rates} Hz, got {fmt.sample_rate}",
            )
        chunk = fmt.sample_rate // 50 * 2
        audio = bytearray()
        transcript: list[str] = []
        rate = self.capabilities.output_sample_rate
        first: float | None = None
        sent = math.inf

        async def send(session: StreamingSession, deadline: anyio.CancelScope) -> None:
            nonlocal sent
            for i in range(0, len(audio_input.data), chunk):
                await session.send_audio(audio_input.data[i : i + chunk])
            await session.end_turn()
            sent = time.monotonic()
            deadline.deadline = anyio.current_time() + self.config.timeout

        # Audio is sent while the reply is read: a session may apply backpressure (the
        # local provider's inbox is bounded), so sending it all first could wait forever.
        async with self.stream(ctx) as session:
            try:
                async with anyio.create_task_group() as tg:
                    with anyio.fail_after(math.inf) as deadline:  # armed once all is sent
                        tg.start_soon(send, session, deadline)
                        async for event in session:
                            if isinstance(event, AudioChunk):
                                if event.error is not None:
                                    raise event.error
                                if event.audio and first is None:
                                    first = time.monotonic()
                                audio += event.audio
                                rate = event.sample_rate
                            elif (
                                isinstance(event, Transcript)
                                and event.role == "assistant"
                                and event.final
                            ):
                                transcript.append(event.text)
                            elif isinstance(event, SessionError) and event.fatal:
                                raise event.error
                            elif isinstance(event, ResponseDone):
                                break
                    tg.cancel_scope.cancel()
            except ExceptionGroup as group:  # one failure (sending or reading): raise it as is
                raise group.exceptions[0] from None
        if math.isinf(sent):  # the reply ended before the audio did
            sent = first or time.monotonic()
        if not audio:
            raise S2SError("process", ErrorCode.EMPTY_RESPONSE, f"{self.name} returned no audio")
        return AudioOutput(
            data=bytes(audio),
            format=AudioFormat(sample_rate=rate),
            provider=self.name,
            latency=(first or sent) - sent,
            transcript=" ".join(transcript),
        )
