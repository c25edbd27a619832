"""The text-to-speech interface: text in, PCM16 audio chunks out, sentence by sentence.

An engine implements one synchronous call, :meth:`TTSEngine.synthesize` (one sentence to
PCM16 mono at ``sample_rate``), because synthesis is CPU work and belongs in a worker
thread.  :meth:`TTSEngine.stream` is the async face: it splits a text into sentences,
synthesises each in a worker thread and yields fixed-size chunks, so the first sentence
plays while the next is synthesised, and a cancelled stream stops between sentences.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import anyio

from .sentences import split_sentences

__all__ = ["TTSEngine"]


class TTSEngine(ABC):
    """A voice.  Subclasses set ``name`` and ``sample_rate`` and implement ``synthesize``."""

    name: str = ""
    sample_rate: int = 24000

    @abstractmethod
    def synthesize(self, text: str) -> bytes:
        """Speak one sentence: PCM16 mono at :attr:`sample_rate`.  Blocking."""

    async def synthesize_async(self, text: str) -> bytes:
        """:meth:`synthesize` in a worker thread (cancellation waits for the sentence)."""
        return await anyio.to_thread.run_sync(self.synthesize, text)

    async def stream(self, text: str, chunk_ms: int = 20) -> AsyncIterator[bytes]:
        """Speak ``text`` as chunks of exactly ``chunk_ms`` milliseconds (the last may be
        shorter): sentences are joined without a gap, as a player expects."""
        if chunk_ms <= 0:
            raise ValueError("chunk_ms must be positive")
        step = self.sample_rate * chunk_ms // 1000 * 2
        carry = b""
        for sentence in split_sentences(text):
            audio = carry + await self.synthesize_async(sentence)
            full = len(audio) - len(audio) % step
            for i in range(0, full, step):
                yield audio[i : i + step]
            carry = audio[full:]
        if carry:
            yield carry
