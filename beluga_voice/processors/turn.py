"""Turn detection: deciding that the user has finished their turn.

The VAD says when the user *stops speaking*; that is not the same as finishing a turn
("I'd like to book a table for... (pause) ...four people").  :class:`TurnProcessor`
sits after the VAD and emits :class:`~beluga_voice.frames.UserTurnEndedFrame` once the
silence after ``UserStoppedSpeakingFrame`` reaches ``silence_secs``, optionally asking a
smarter :class:`TurnAnalyzer` (a semantic or audio end-of-turn model) whether the turn
is complete; if it says no, the processor waits for more speech, or at most
``max_silence_secs`` of silence, before ending the turn anyway.

Time is stream time, counted from the ``InputAudioFrame`` durations that pass through,
so the processor behaves the same faster than real time (files, tests) as live.  It
therefore needs a continuous input stream, silence included, which is what input
transports deliver.  Total silence before a turn ends is the VAD's ``stop_secs`` plus
``silence_secs``.

Speaking frames are system frames and overtake queued audio.  The VAD's frames carry
the stream time of their decision (:class:`~.vad.VADStoppedSpeakingFrame`), and the
silence is counted from that point of the audio, however early the frame arrived; a
plain ``UserStoppedSpeakingFrame`` from elsewhere counts from its arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..audio.pcm import convert_channels
from ..frames import (
    CancelFrame,
    Direction,
    EndFrame,
    Frame,
    InputAudioFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from ..pipeline import FrameProcessor

__all__ = ["SilenceTurnAnalyzer", "TurnAnalyzer", "TurnProcessor", "UserTurn"]

_DOWN = Direction.DOWNSTREAM


@dataclass(slots=True)
class UserTurn:
    """What a :class:`TurnAnalyzer` can look at: the turn's audio and transcript so far.

    ``audio`` is PCM16 mono at ``sample_rate`` from the start of the turn (capped at the
    processor's ``max_turn_audio_secs``, keeping the most recent audio); ``silence_secs``
    is how long the user has been silent now.
    """

    audio: bytes
    sample_rate: int
    transcript: str
    silence_secs: float


@runtime_checkable
class TurnAnalyzer(Protocol):
    """A smarter end-of-turn decision (e.g. a Smart Turn model, or an LLM on the text)."""

    async def is_turn_complete(self, turn: UserTurn) -> bool:
        """True if the user has finished; False to wait for more speech."""
        ...


class SilenceTurnAnalyzer:
    """The plain rule: any turn is complete once the silence threshold is reached."""

    async def is_turn_complete(self, turn: UserTurn) -> bool:
        return True


class TurnProcessor(FrameProcessor):
    """Emits ``UserTurnEndedFrame`` downstream after the user stops; see the module doc."""

    def __init__(
        self,
        *,
        silence_secs: float = 0.0,
        analyzer: TurnAnalyzer | None = None,
        max_silence_secs: float = 3.0,
        max_turn_audio_secs: float = 30.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not 0.0 <= silence_secs <= max_silence_secs:
            raise ValueError(
                f"need 0 <= silence_secs ({silence_secs}) <= max_silence_secs ({max_silence_secs})"
            )
        if max_turn_audio_secs <= 0:
            raise ValueError(f"max_turn_audio_secs must be positive, got {max_turn_audio_secs}")
        self.silence_secs = silence_secs
        self.max_silence_secs = max_silence_secs
        self.max_turn_audio_secs = max_turn_audio_secs
        self.analyzer: TurnAnalyzer = analyzer or SilenceTurnAnalyzer()
        self.time = 0.0
        """Stream time in seconds (input audio seen)."""
        self.turns_ended = 0
        self._in_turn = False
        self._speaking = False
        self._stopped_at = 0.0
        self._asked = False
        self._audio = bytearray()
        self._rate = 0
        self._text: list[str] = []

    @property
    def in_turn(self) -> bool:
        """The user has spoken and the turn has not ended yet."""
        return self._in_turn

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        await self.push_frame(frame, direction)
        if direction is not _DOWN:
            return
        if isinstance(frame, InputAudioFrame):
            self.time += frame.duration
            if self._in_turn:
                self._keep_audio(frame)
                if not self._speaking:
                    await self._check()
        elif isinstance(frame, UserStartedSpeakingFrame):
            if not self._in_turn:
                self._in_turn = True
                self._audio.clear()
                self._text.clear()
            self._speaking = True
            self._asked = False
        elif isinstance(frame, UserStoppedSpeakingFrame):
            if self._in_turn and self._speaking:
                self._speaking = False
                decided = getattr(frame, "stream_time", None)
                self._stopped_at = self.time if decided is None else float(decided)
                await self._check()
        elif isinstance(frame, TranscriptionFrame):
            if frame.role == "user" and frame.final and self._in_turn and frame.text.strip():
                self._text.append(frame.text.strip())
        elif isinstance(frame, (EndFrame, CancelFrame)):
            self._reset()

    def _keep_audio(self, frame: InputAudioFrame) -> None:
        pcm = (
            frame.audio if frame.channels == 1 else convert_channels(frame.audio, frame.channels, 1)
        )
        if frame.sample_rate != self._rate:  # a rate change: the old audio cannot be mixed in
            self._audio.clear()
            self._rate = frame.sample_rate
        self._audio += pcm
        cap = 2 * int(self.max_turn_audio_secs * self._rate)
        if len(self._audio) > cap:
            del self._audio[: len(self._audio) - cap]

    async def _check(self) -> None:
        silence = self.time - self._stopped_at  # negative while earlier audio is queued
        if silence + 1e-9 < self.silence_secs:
            return
        if silence + 1e-9 >= self.max_silence_secs:
            await self._end_turn()
            return
        if self._asked:
            return
        self._asked = True
        turn = UserTurn(bytes(self._audio), self._rate, " ".join(self._text), silence)
        if await self.analyzer.is_turn_complete(turn):
            await self._end_turn()

    async def _end_turn(self) -> None:
        self._reset()
        self.turns_ended += 1
        await self.push_frame(UserTurnEndedFrame(), _DOWN)

    def _reset(self) -> None:
        self._in_turn = False
        self._speaking = False
        self._asked = False
        self._audio.clear()
        self._text.clear()
