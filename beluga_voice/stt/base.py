"""The streaming speech-to-text interface.

An :class:`STTEngine` is a factory of :class:`STTStream` objects, one per conversation:
recognisers keep per-utterance state (feature normalisation, a search lattice), so two
conversations must never share a stream.  A stream is fed PCM16 mono audio at the
engine's ``sample_rate`` and answers with interim results while the user speaks; the
caller (turn detection) decides when the utterance is over and calls :meth:`finish` for
the final transcript.

Embedded streams are deliberately *synchronous*: recognition is CPU work, and the one correct way
to run CPU work beside an event loop is a worker thread.  The async callers
(:class:`~beluga_voice.processors.stt.STTProcessor`, the local provider) run each call in
a worker thread through one :class:`~beluga_voice.audio.engine_owner.EngineOwner` per
stream, so a stream is only ever used by one thread at a time, ``close`` included.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

__all__ = ["AsyncSTTEngine", "AsyncSTTStream", "STTEngine", "STTResult", "STTStream"]


@dataclass(frozen=True, slots=True)
class STTResult:
    """A transcript.  ``final=False`` marks an interim guess that later audio may revise."""

    text: str
    final: bool
    audio_ms: float = 0.0
    """How much audio the utterance held when this result was made."""


class STTStream(ABC):
    """One recogniser instance.  Not thread-safe: use it from one thread at a time."""

    sample_rate: int

    @abstractmethod
    def feed(self, pcm: bytes) -> STTResult | None:
        """Add audio to the current utterance; return an interim result when the
        hypothesis changed, else ``None``."""

    @abstractmethod
    def finish(self) -> STTResult:
        """End the current utterance and return its final transcript (maybe empty).

        The stream is then ready for the next utterance."""

    def reset(self) -> None:  # noqa: B027
        """Drop the current utterance without a result (the user was interrupted)."""

    def close(self) -> None:  # noqa: B027
        """Release the recogniser."""


class STTEngine(ABC):
    """A speech recogniser: makes independent streams sharing read-only model data."""

    name: str = ""
    sample_rate: int = 16000

    @abstractmethod
    def open_stream(self) -> STTStream:
        """A new stream for one conversation (may be slow: call it in a worker thread)."""


class AsyncSTTStream(ABC):
    """One connection to a recognition *service*: network I/O, so asynchronous.

    Cloud recognisers (Deepgram, OpenAI) do their work on a server; what is left here is
    waiting on a socket, which belongs on the event loop, not in a worker thread.  The
    caller (turn detection) still decides where utterances end: :meth:`send` adds audio
    to the current utterance, :meth:`finalize` ends it (its final :class:`STTResult`
    follows in :meth:`results`, maybe with empty text), :meth:`reset` drops it with no
    result.  :meth:`results` yields interim and final results in order and raises an
    :class:`~beluga_voice.errors.S2SError` when the stream fails for good (a
    connection that dropped and could not be restored with the utterance replayed).

    A stream lives inside its engine's :meth:`AsyncSTTEngine.connect` context, which owns
    its tasks and closes it on every way out.
    """

    sample_rate: int

    @abstractmethod
    async def send(self, pcm: bytes) -> None:
        """Add PCM16 mono audio at :attr:`sample_rate` to the current utterance."""

    @abstractmethod
    async def finalize(self) -> None:
        """End the current utterance; its final result will follow in :meth:`results`."""

    @abstractmethod
    async def reset(self) -> None:
        """Drop the current utterance: nothing more is reported for its audio."""

    @abstractmethod
    def results(self) -> AsyncIterator[STTResult]:
        """Interim and final results, in order, until the stream closes or fails."""


class AsyncSTTEngine(ABC):
    """A recognition service: opens :class:`AsyncSTTStream` connections."""

    name: str = ""
    sample_rate: int = 16000

    @abstractmethod
    def connect(self) -> AbstractAsyncContextManager[AsyncSTTStream]:
        """A new stream for one conversation, open for the duration of the context."""
