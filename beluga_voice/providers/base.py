"""The provider abstractions every S2S provider implements: the :class:`S2SProvider`
protocol, the base classes of real providers (:class:`StreamingS2SProvider`) and of
wrappers (:class:`ProviderWrapper`), and the concurrent-session limit.

The session a provider opens, :class:`StreamingSession` (with :class:`Resumption`), is in
``streaming_session.py`` and importable from here as ever.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio

from ..conversation import ConversationContext, new_conversation_context
from .errors import ErrorCode, S2SError
from .events import AudioChunk, ResponseDone, SessionError, Transcript
from .streaming_session import Resumption, StreamingSession, hold_slot
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
        hold_slot(session, release)
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
