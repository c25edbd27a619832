"""The bot's lines an S2S provider voices for external reasoning: sentence by sentence,
one at a time.

An agent (or any processor) that reasons outside the provider streams its reply as text;
the provider is only the voice (``session.speak``).  Waiting for the whole reply would add
the agent's whole writing time to the silence the user hears, so :class:`Voicing` cuts the
stream into sentences (:class:`~beluga_voice.tts.sentences.SentenceAggregator`, as the TTS
processor does) and hands the first one to the provider as soon as it is complete, while
the agent is still writing the rest.

One line at a time: a provider answers each ``speak`` as a reply of its own, and a new
request can cut the reply in progress (a Gemini client turn interrupts the model), so a
line is sent only while the provider is not replying (to a line or on its own), and the
next one when it reports that reply done.  The queue is
bounded (:data:`MAX_LINES`): beyond it, new text joins the last queued line instead of
being dropped.  A barge-in drops what is pending.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Final

from ..frames import (
    Direction,
    Frame,
    ResponseEndFrame,
    ResponseStartFrame,
    SpeakFrame,
    TextFrame,
    TranscriptionFrame,
)
from ..tts.sentences import SentenceAggregator

__all__ = ["MAX_LINES", "Voicing"]

MAX_LINES: Final = 64
"""Lines queued for the provider; past this, text is appended to the last one."""


class Voicing:
    """See the module docstring.  ``speak`` sends one line to the provider."""

    def __init__(self, speak: Callable[[str], Awaitable[None]], max_chars: int = 240) -> None:
        self._speak = speak
        self.aggregator = SentenceAggregator(max_chars)
        self.lines: deque[str] = deque()
        self.speaking = False
        """The provider is replying (to a line, or on its own): lines wait."""
        self.spoken = 0
        self._agent_reply = False
        """A reply streamed by an agent in front of the S2S processor is coming in."""

    @property
    def idle(self) -> bool:
        """Nothing sent and unfinished, nothing queued, no partial sentence held."""
        return not (self.speaking or self.lines or self.aggregator.pending.strip())

    async def take(self, frame: Frame, direction: Direction) -> bool:
        """Take ``frame`` if it is part of the bot's lines (the S2S processor's module
        docstring says which frames are): a ``SpeakFrame`` from either side, text and
        reply framing from after the S2S processor (upstream), or from an agent in front
        of it (downstream, inside a reply).  The agent's own assistant transcript is
        taken too, and dropped: the provider reports what it actually said."""
        if isinstance(frame, SpeakFrame):
            await self.line(frame.text)
            return True
        if isinstance(frame, ResponseStartFrame | ResponseEndFrame):
            await self.end_of_reply()  # a reply begins, or is complete
            if direction is Direction.DOWNSTREAM:
                self._agent_reply = isinstance(frame, ResponseStartFrame)
            return True
        reply = direction is Direction.UPSTREAM or self._agent_reply
        if isinstance(frame, TextFrame) and reply:
            await self.text(frame.text)
            return True
        return isinstance(frame, TranscriptionFrame) and frame.role == "assistant" and reply

    async def stream(self, pieces: AsyncIterable[str]) -> None:
        """A whole reply as it streams (an agent's ``respond``)."""
        async for piece in pieces:
            await self.text(piece)
        await self.end_of_reply()

    async def text(self, piece: str) -> None:
        """A piece of the streamed reply; complete sentences go out as they form."""
        for sentence in self.aggregator.push(piece):
            await self._line(sentence)

    async def line(self, text: str) -> None:
        """A whole line to say verbatim, after the text already pending."""
        await self.end_of_reply()
        if text.strip():
            await self._line(text.strip())

    async def end_of_reply(self) -> None:
        """The reply's text is complete: its unfinished last sentence goes out too."""
        rest = self.aggregator.flush()
        if rest:
            await self._line(rest)

    def reply_started(self) -> None:
        """The provider began a reply: lines wait for its end."""
        self.speaking = True

    async def reply_done(self) -> None:
        """The provider finished (or dropped) a reply: send the next line, if any."""
        self.speaking = False
        await self._pump()

    def clear(self) -> None:
        """A barge-in or the end of the session: forget everything not yet voiced."""
        self.aggregator.clear()
        self.lines.clear()
        self.speaking = False

    async def _line(self, text: str) -> None:
        if len(self.lines) >= MAX_LINES:
            self.lines[-1] += " " + text
        else:
            self.lines.append(text)
        await self._pump()

    async def _pump(self) -> None:
        if self.speaking or not self.lines:
            return
        self.speaking = True  # before the await: a reply_done meanwhile must not send too
        self.spoken += 1
        await self._speak(self.lines.popleft())
