"""The streaming text-to-speech interface: text in as the agent writes it, audio out at once.

Cloud voices (ElevenLabs, Cartesia, OpenAI) are network services, not CPU work: they take
text incrementally and answer with audio while more text is still coming, so the
synchronous, sentence-at-a-time :class:`~beluga_voice.tts.base.TTSEngine` does not fit them.
A :class:`StreamingTTS` opens one :class:`TTSReply` per bot reply (``async with
engine.open_reply() as reply``); the caller feeds it text with :meth:`TTSReply.send`,
marks sentence ends with :meth:`~TTSReply.flush`, says the text is complete with
:meth:`~TTSReply.end`, and reads PCM16 from :meth:`~TTSReply.audio` concurrently.  On
barge-in it calls :meth:`~TTSReply.cancel`, which tells the service to stop and makes
``audio()`` end at once.

Each reply keeps a :class:`~beluga_voice.tts.alignment.Timeline` of what text its audio
speaks when: exact where the service sends alignment or timestamps, per sentence
otherwise, so that a reply cut after ``played_ms`` can say what the listener heard.

Failures are :class:`~beluga_voice.errors.S2SError` with the usual codes (raised from the
call that met them, ``audio()`` included), which is what lets the ``Retry`` / ``Fallback``
wrapping processors retry a reply or fall back to another voice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from .alignment import Timeline

__all__ = ["StreamingTTS", "TTSReply"]


class TTSReply(ABC):
    """One reply being spoken.  ``send``/``flush``/``end`` come from one task and
    ``audio()`` is read by another; ``cancel`` may come from either."""

    def __init__(self) -> None:
        self.timeline = Timeline()

    @abstractmethod
    async def send(self, text: str) -> None:
        """More text of the reply, exactly as written (spaces included)."""

    @abstractmethod
    async def flush(self) -> None:
        """A sentence ended: have the service speak what it holds now."""

    @abstractmethod
    async def end(self) -> None:
        """The reply's text is complete; ``audio()`` ends after the last of its audio."""

    @abstractmethod
    async def cancel(self) -> None:
        """Barge-in: tell the service to stop, and end ``audio()`` without the rest."""

    @abstractmethod
    def audio(self) -> AsyncIterator[bytes]:
        """PCM16 mono at the engine's ``sample_rate``, as it comes, until the reply is
        spoken (after :meth:`end`) or cancelled."""


class StreamingTTS(ABC):
    """A voice that speaks text while it is still being written.  Subclasses set ``name``
    and ``sample_rate`` and implement :meth:`open_reply`."""

    name: str = ""
    sample_rate: int = 24000

    @abstractmethod
    def open_reply(self) -> AbstractAsyncContextManager[TTSReply]:
        """Open a reply (connecting if the service needs it, within a deadline); leaving
        the context releases everything it opened, cancellation included."""
