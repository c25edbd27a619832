"""A plain energy turn detector: RMS threshold plus a silence timeout.

Real speech-to-speech services detect the caller's turns on their side.  The mock provider
and the fake servers in :mod:`beluga_voice.testing` need a detector of their own that
behaves like one; this one is deliberately plain, so that their behaviour is easy to
predict in tests.  :func:`tone` makes the sine "speech" and reply audio they use.
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["EnergyTurnDetector", "TurnEvent", "tone"]


def tone(seconds: float = 0.5, rate: int = 24000, hz: float = 440.0, level: float = 0.3) -> bytes:
    """A sine tone as PCM16 mono, handy as scripted reply audio or as fake "speech"."""
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2").tobytes()


class TurnEvent(enum.Enum):
    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"


class EnergyTurnDetector:
    """Server-style turn detection over PCM16 mono: RMS threshold plus a silence timeout.

    ``feed`` returns the events that the chunk caused, in order.  ``position_ms`` is the
    running length of audio fed, which real servers report as ``audio_start_ms`` /
    ``audio_end_ms``.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        threshold_rms: float = 500.0,
        min_speech_ms: float = 40.0,
        silence_ms: float = 300.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.threshold_rms = threshold_rms
        self.min_speech_ms = min_speech_ms
        self.silence_ms = silence_ms
        self.position_ms = 0.0
        self.speaking = False
        self._speech_ms = 0.0
        self._quiet_ms = 0.0
        self.speech_start_ms: float | None = None

    def feed(self, pcm: bytes) -> list[TurnEvent]:
        """Feed PCM16 mono of any length; it is judged in 20 ms windows."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        window = max(1, self.sample_rate // 50)
        events: list[TurnEvent] = []
        for start in range(0, samples.size, window):
            event = self._window(samples[start : start + window])
            if event is not None:
                events.append(event)
        return events

    def _window(self, samples: np.ndarray) -> TurnEvent | None:
        ms = 1000.0 * samples.size / self.sample_rate
        loud = float(np.sqrt(np.mean(samples * samples))) >= self.threshold_rms
        event: TurnEvent | None = None
        if loud:
            if self._speech_ms == 0.0:
                self.speech_start_ms = self.position_ms
            self._speech_ms += ms
            self._quiet_ms = 0.0
            if not self.speaking and self._speech_ms >= self.min_speech_ms:
                self.speaking = True
                event = TurnEvent.SPEECH_STARTED
        elif self.speaking:
            self._quiet_ms += ms
            if self._quiet_ms >= self.silence_ms:
                self.speaking = False
                self._speech_ms = 0.0
                event = TurnEvent.SPEECH_STOPPED
        else:
            self._speech_ms = 0.0
        self.position_ms += ms
        return event
