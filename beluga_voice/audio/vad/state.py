"""The VAD state machine, as plain code: frames of (confidence, volume) in, events out.

It is separate from the processor so that it can be tested, and driven from a file or a
benchmark, without a pipeline.  Time is stream time (seconds of audio fed), never the wall
clock, so results are the same faster than real time as in real time.

States::

    QUIET --speech--> STARTING --speech for start_secs--> SPEAKING   (emit STARTED)
      ^                  |  non-speech > start_gap_secs      | non-speech
      +------------------+                                  v
      +---- non-speech for stop_secs (emit STOPPED) ---- STOPPING --speech--> SPEAKING

A frame counts as speech when the analyser's confidence is at least ``confidence`` and
its volume at least ``min_volume``.  Barge-in: while the bot speaks, once the user has
been speaking for ``interrupt_min_secs`` (counted from the speech onset) one INTERRUPT
event is emitted for that utterance; a cough shorter than that never interrupts.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "VADEvent",
    "VADEventKind",
    "VADParams",
    "VADState",
    "VoiceActivityTracker",
    "energy_volume",
    "volume",
]


class VADState(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


class VADEventKind(enum.Enum):
    STARTED = "started"
    STOPPED = "stopped"
    INTERRUPT = "interrupt"


@dataclass(frozen=True, slots=True)
class VADEvent:
    """A change decided at stream time ``at``.

    ``speech_time`` is when the speech really started (STARTED, INTERRUPT) or ended
    (STOPPED): the detector only knows ``start_secs`` / ``stop_secs`` later.
    """

    kind: VADEventKind
    at: float
    speech_time: float


class VADParams(BaseModel):
    """Tuning of the state machine.

    ``start_secs``: speech needed before the user counts as speaking (filters clicks);
    ``start_gap_secs``: longest
    non-speech run tolerated inside that onset window (the closure of a ``k`` or ``t`` in
    the first word must not restart the count and date the onset late); ``stop_secs``:
    silence needed before they count as stopped (bridges pauses between
    words); ``confidence``: minimum analyser confidence for a speech frame;
    ``min_volume``: minimum frame volume, 0..1 on a -60..0 dBFS scale (see
    :func:`volume`), which rejects faint but speech-like sound such as a far TV;
    ``interrupt_min_secs``: how long the user must speak over the bot to interrupt it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_secs: float = Field(default=0.2, ge=0.0, le=5.0)
    start_gap_secs: float = Field(default=0.1, ge=0.0, le=5.0)
    stop_secs: float = Field(default=0.8, ge=0.0, le=10.0)
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    min_volume: float = Field(default=0.2, ge=0.0, le=1.0)
    interrupt_min_secs: float = Field(default=0.5, ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _interrupt_after_start(self) -> VADParams:
        if self.interrupt_min_secs < self.start_secs:
            raise ValueError("interrupt_min_secs must be at least start_secs")
        return self


def volume(rms_fraction: float) -> float:
    """A frame's RMS level (fraction of full scale) as 0..1: -60 dBFS is 0, 0 dBFS is 1."""
    if rms_fraction <= 1e-3:
        return 0.0
    return min(1.0, (20.0 * math.log10(rms_fraction) + 60.0) / 60.0)


def energy_volume(mean_square: float) -> float:
    """:func:`volume` from a frame's mean square in PCM16 units (no square root taken).

    ``volume(sqrt(e) / 32768)`` in one log: 10*log10(e / 32768**2); the 1e-3 threshold
    becomes e <= 1073.741824 (= (1e-3 * 32768)**2).
    """
    if mean_square <= 1073.741824:
        return 0.0
    return min(1.0, (10.0 * math.log10(mean_square / 1073741824.0) + 60.0) / 60.0)


class VoiceActivityTracker:
    """The state machine of the module docstring.  Feed it one analyser frame at a time."""

    __slots__ = (
        "_interrupted",
        "_quiet_for",
        "_speech_for",
        "_speech_start",
        "_stop_time",
        "bot_speaking",
        "params",
        "state",
        "time",
    )

    def __init__(self, params: VADParams | None = None) -> None:
        self.params = params or VADParams()
        self.state = VADState.QUIET
        self.time = 0.0
        """Stream time in seconds: audio fed so far."""
        self.bot_speaking = False
        """Set while the bot's voice plays (from Bot*SpeakingFrame); enables barge-in."""
        self._speech_start = 0.0
        self._speech_for = 0.0
        self._quiet_for = 0.0
        self._stop_time = 0.0
        self._interrupted = False

    @property
    def speaking(self) -> bool:
        """True in SPEAKING and STOPPING: the user has started and not yet stopped."""
        return self.state in (VADState.SPEAKING, VADState.STOPPING)

    def update(self, confidence: float, volume: float, duration: float) -> list[VADEvent]:
        """Advance by one frame of ``duration`` seconds; return the events it caused."""
        events: list[VADEvent] = []
        self.advance(confidence, volume, duration, events)
        return events

    def advance(
        self, confidence: float, volume: float, duration: float, events: list[VADEvent]
    ) -> None:
        """:meth:`update` appending to ``events``: no list per frame in a stream's loop."""
        p = self.params
        start = self.time
        self.time = end = start + duration
        speech = confidence >= p.confidence and volume >= p.min_volume
        state = self.state
        if state is VADState.QUIET:
            if speech:
                self._speech_start = start
                self._speech_for = duration
                self._quiet_for = 0.0
                self._interrupted = False
                self.state = VADState.STARTING
                self._maybe_start(end, events)
        elif state is VADState.STARTING:
            if speech:
                self._speech_for += duration
                self._quiet_for = 0.0
                self._maybe_start(end, events)
            else:
                self._quiet_for += duration
                if self._quiet_for > p.start_gap_secs + 1e-9:
                    self.state = VADState.QUIET
        elif state is VADState.SPEAKING:
            if speech:
                self._speech_for += duration
            else:
                self._stop_time = start
                self._quiet_for = duration
                self.state = VADState.STOPPING
                self._maybe_stop(end, events)
        elif speech:  # STOPPING, speech again
            self._speech_for += duration
            self.state = VADState.SPEAKING
        else:
            self._quiet_for += duration
            self._maybe_stop(end, events)
        if speech and self.speaking:
            self._maybe_interrupt(end, events)

    def _maybe_start(self, now: float, events: list[VADEvent]) -> None:
        if self._speech_for >= self.params.start_secs - 1e-9:
            self.state = VADState.SPEAKING
            events.append(VADEvent(VADEventKind.STARTED, now, self._speech_start))

    def _maybe_stop(self, now: float, events: list[VADEvent]) -> None:
        if self._quiet_for >= self.params.stop_secs - 1e-9:
            self.state = VADState.QUIET
            events.append(VADEvent(VADEventKind.STOPPED, now, self._stop_time))

    def _maybe_interrupt(self, now: float, events: list[VADEvent]) -> None:
        if (
            self.bot_speaking
            and not self._interrupted
            and now - self._speech_start >= self.params.interrupt_min_secs - 1e-9
        ):
            self._interrupted = True
            events.append(VADEvent(VADEventKind.INTERRUPT, now, self._speech_start))

    def reset(self) -> None:
        """Back to QUIET at time zero (a new stream); bot_speaking is kept."""
        self.state = VADState.QUIET
        self.time = 0.0
        self._speech_for = self._quiet_for = 0.0
        self._interrupted = False
