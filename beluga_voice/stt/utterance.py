"""Utterances from a continuous audio stream: voice activity detection plus recognition.

A recogniser must be told where an utterance starts and ends.  :class:`UtteranceRecognizer`
puts the project's VAD (:mod:`beluga_voice.processors.vad`) in front of an
:class:`~beluga_voice.stt.STTStream`: audio before speech is held in a short pre-roll (the
VAD decides a little after the real onset, and the recogniser needs the first phoneme
and a breath of silence), audio during speech is recognised, and the end of speech
closes the utterance with a final transcript.  Only speech is decoded, which keeps the
CPU cost proportional to what users say rather than to how long they listen.

It is synchronous, like the streams it drives: callers run :meth:`feed` in a worker
thread (one call can carry many chunks).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from ..audio.vad import Analyzer, EnergyAnalyzer, VADEventKind, VADParams, VADStream
from .base import STTResult, STTStream

__all__ = ["UtteranceEvent", "UtteranceRecognizer"]


@dataclass(frozen=True, slots=True)
class UtteranceEvent:
    """``started`` / ``stopped`` (with the speech time in ms of stream), or ``transcript``."""

    kind: Literal["started", "stopped", "transcript"]
    at_ms: float
    result: STTResult | None = None


class UtteranceRecognizer:
    """See the module docstring.  ``silence_ms`` of quiet ends an utterance;
    ``preroll_ms`` of audio before the detected onset is recognised too; ``analyzer``
    (default: an :class:`EnergyAnalyzer`) tells speech from the rest."""

    def __init__(
        self,
        stream: STTStream,
        *,
        silence_ms: float = 500.0,
        preroll_ms: float = 400.0,
        vad_params: VADParams | None = None,
        analyzer: Analyzer | None = None,
    ) -> None:
        self.stream = stream
        self.rate = stream.sample_rate
        params = vad_params or VADParams(stop_secs=silence_ms / 1000.0)
        self.vad = VADStream(analyzer or EnergyAnalyzer(self.rate), params)
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = 0
        self._preroll_max = int(self.rate * preroll_ms / 1000) * 2
        self._position = 0
        self.in_speech = False

    @property
    def position_ms(self) -> float:
        return 1000.0 * self._position / (2 * self.rate)

    def feed(self, pcm: bytes) -> list[UtteranceEvent]:
        """Add audio (PCM16 mono at the stream's rate); return what it completed."""
        if len(pcm) % 2:
            raise ValueError(f"PCM16 audio has an odd byte count ({len(pcm)})")
        out: list[UtteranceEvent] = []
        step = self.rate // 50 * 2  # 20 ms: the VAD decides at this granularity
        for i in range(0, len(pcm), step):
            self._feed_chunk(pcm[i : i + step], out)
        return out

    def _feed_chunk(self, chunk: bytes, out: list[UtteranceEvent]) -> None:
        self._position += len(chunk)
        if self.in_speech:
            self._recognise(chunk, out)
        else:
            self._preroll.append(chunk)
            self._preroll_bytes += len(chunk)
            while self._preroll_bytes - len(self._preroll[0]) >= self._preroll_max:
                self._preroll_bytes -= len(self._preroll.popleft())
        for event in self.vad.feed(chunk, self.rate):
            if event.kind is VADEventKind.STARTED and not self.in_speech:
                self.in_speech = True
                out.append(UtteranceEvent("started", 1000.0 * event.speech_time))
                held = b"".join(self._preroll)
                self._preroll.clear()
                self._preroll_bytes = 0
                self._recognise(held, out)
            elif event.kind is VADEventKind.STOPPED and self.in_speech:
                out.append(UtteranceEvent("stopped", 1000.0 * event.speech_time))
                out.append(self._finish())

    def _recognise(self, pcm: bytes, out: list[UtteranceEvent]) -> None:
        result = self.stream.feed(pcm)
        if result is not None:
            out.append(UtteranceEvent("transcript", self.position_ms, result))

    def _finish(self) -> UtteranceEvent:
        self.in_speech = False
        return UtteranceEvent("transcript", self.position_ms, self.stream.finish())

    def end_utterance(self) -> list[UtteranceEvent]:
        """Close the utterance now (client-side turn end); nothing if none is open."""
        if not self.in_speech:
            self._preroll.clear()
            self._preroll_bytes = 0
            return []
        self.vad.reset()
        return [UtteranceEvent("stopped", self.position_ms), self._finish()]

    def reset(self) -> None:
        """Drop any open utterance without a result."""
        self.stream.reset()
        self.vad.reset()
        self._preroll.clear()
        self._preroll_bytes = 0
        self.in_speech = False
