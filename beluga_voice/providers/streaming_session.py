"""The live session every S2S provider opens: :class:`StreamingSession`, and the
:class:`Resumption` a failed one leaves for its replacement.

A :class:`StreamingSession` is *pull driven*: iterating it reads the provider's wire and
yields :mod:`events <beluga_voice.providers.events>`, while ``send_*`` calls write to the
wire from the caller's task.  A session therefore owns no background task, which keeps
structured concurrency intact: whoever iterates the session owns its lifetime, and a
session that nobody iterates simply applies backpressure to its socket.

Why apart from ``base.py``: a session is its own object with its own life (operations,
the event stream, the closing sequence), used by far more code (every provider's
session, the retry layer, the processors) than the provider classes that open it.
``base.py`` re-exports both names, their long-standing address.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import anyio

from ..conversation import ConversationContext
from ..frames import AudioEncoding
from .errors import ErrorCode, S2SError
from .events import AudioChunk, SessionClosed, SessionError, SessionEvent

__all__ = ["Resumption", "StreamingSession", "hold_slot"]


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


def hold_slot(session: StreamingSession, release: Callable[[], None]) -> None:
    """Give ``session`` the provider's session slot it was opened in: ``release`` frees it
    once, when the session finishes (closed by either side).  For the provider that took
    the slot (``StreamingS2SProvider``), right after opening the session."""
    session._release = release
