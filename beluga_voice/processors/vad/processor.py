"""The VAD pipeline processor.

Frames it emits, and which way they go:

* ``UserStartedSpeakingFrame`` / ``UserStoppedSpeakingFrame`` (as the subclasses
  :class:`VADStartedSpeakingFrame` / :class:`VADStoppedSpeakingFrame`, which carry stream
  times): pushed **downstream**
  (turn detection, STT, S2S and agents act on them) and **upstream** (the input
  transport and anything before the VAD can react, e.g. to duck or to log).  They are
  system frames, so they overtake queued audio.
* ``InterruptionFrame``: pushed **downstream** only, towards the bot's output, where every
  processor it crosses drops queued bot audio; it is emitted once per utterance when the
  user speaks over the bot for ``interrupt_min_secs``.

The processor learns that the bot is speaking from ``BotStartedSpeakingFrame`` /
``BotStoppedSpeakingFrame``, whichever direction they travel (output transports usually
send them upstream).  Input audio always passes on unchanged and before any event it
caused; the analysis never delays it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...audio.vad.analyzers import Analyzer
from ...audio.vad.state import VADEvent, VADEventKind, VADParams, VADState
from ...audio.vad.stream import VADStream
from ...frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    Direction,
    EndFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from ...pipeline import FrameProcessor

__all__ = ["VADProcessor", "VADStartedSpeakingFrame", "VADStoppedSpeakingFrame"]

_DOWN = Direction.DOWNSTREAM
_UP = Direction.UPSTREAM


@dataclass(slots=True)
class VADStartedSpeakingFrame(UserStartedSpeakingFrame):
    """A UserStartedSpeakingFrame that says when, in seconds of input audio.

    ``speech_time`` is when the speech began; ``stream_time`` when the VAD decided.
    System frames overtake queued audio, so a processor further on may get this frame
    before the audio it refers to; the times let it line the two up again.
    """

    speech_time: float = 0.0
    stream_time: float = 0.0


@dataclass(slots=True)
class VADStoppedSpeakingFrame(UserStoppedSpeakingFrame):
    """A UserStoppedSpeakingFrame with the speech end and decision times (see above)."""

    speech_time: float = 0.0
    stream_time: float = 0.0


class VADProcessor(FrameProcessor):
    """Voice activity detection on ``InputAudioFrame`` going downstream.

    ``analyzer`` defaults to :class:`~beluga_voice.audio.vad.EnergyAnalyzer`; ``params`` tunes the
    state machine (:class:`~beluga_voice.audio.vad.VADParams`).  ``events`` keeps the last detector
    events with their exact speech times, for metrics and tests.
    """

    def __init__(
        self,
        analyzer: Analyzer | None = None,
        params: VADParams | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.vad = VADStream(analyzer, params)
        self.events: list[VADEvent] = []

    @property
    def state(self) -> VADState:
        return self.vad.tracker.state

    @property
    def bot_speaking(self) -> bool:
        return self.vad.tracker.bot_speaking

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame) and direction is _DOWN:
            await self.push_frame(frame, direction)
            for event in self.vad.feed(frame.audio, frame.sample_rate, frame.channels):
                await self._emit(event)
            return
        if isinstance(frame, BotStartedSpeakingFrame):
            self.vad.tracker.bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.vad.tracker.bot_speaking = False
        elif isinstance(frame, (EndFrame, CancelFrame)):
            self.vad.reset()
        await self.push_frame(frame, direction)

    async def _emit(self, event: VADEvent) -> None:
        self.events.append(event)
        if len(self.events) > 64:
            del self.events[:32]
        times = (event.speech_time, event.at)
        if event.kind is VADEventKind.STARTED:
            await self.push_frame(VADStartedSpeakingFrame(*times), _DOWN)
            await self.push_frame(VADStartedSpeakingFrame(*times), _UP)
        elif event.kind is VADEventKind.STOPPED:
            await self.push_frame(VADStoppedSpeakingFrame(*times), _DOWN)
            await self.push_frame(VADStoppedSpeakingFrame(*times), _UP)
        else:
            await self.push_frame(InterruptionFrame(), _DOWN)
