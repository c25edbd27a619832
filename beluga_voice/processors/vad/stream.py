"""VAD over a stream of PCM16 chunks: downmix, resample, re-chunk, analyse, track.

:class:`VADStream` is the whole detector without the pipeline: the processor uses it,
and so does :func:`detect_speech` for offline use (files, benchmarks, tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...audio.chunker import Rechunker
from ...audio.pcm import check_rate, convert_channels
from ..resample import StreamResampler
from .analyzers import Analyzer, EnergyAnalyzer, analyze_frames
from .state import VADEvent, VADEventKind, VADParams, VoiceActivityTracker, volume

__all__ = ["SpeechSegment", "VADStream", "detect_speech"]


class VADStream:
    """Feeds audio of any rate, channel count and chunk size to one analyser.

    The analyser sees exact frames at its own rate (audio is mixed to mono and resampled
    as needed, with the resampler's state kept across chunks); the tracker turns the
    confidences into :class:`~.state.VADEvent` objects.  ``last_confidence`` and
    ``last_volume`` describe the most recent frame, for meters and debugging.
    """

    def __init__(self, analyzer: Analyzer | None = None, params: VADParams | None = None) -> None:
        self.analyzer: Analyzer = analyzer if analyzer is not None else EnergyAnalyzer()
        self.tracker = VoiceActivityTracker(params)
        self._rate = self.analyzer.sample_rate
        self._frame_secs = self.analyzer.frame_samples / self._rate
        self._chunker = Rechunker(2 * self.analyzer.frame_samples)
        self._resampler: StreamResampler | None = None
        self.last_confidence = 0.0
        self.last_volume = 0.0

    @property
    def params(self) -> VADParams:
        return self.tracker.params

    def feed(self, pcm: bytes, sample_rate: int, channels: int = 1) -> list[VADEvent]:
        """Analyse one chunk; returns the events it completed (often none)."""
        rate = check_rate(sample_rate)
        if channels != 1:
            pcm = convert_channels(pcm, channels, 1)
        elif len(pcm) % 2:
            raise ValueError(f"PCM16 chunk has an odd byte count ({len(pcm)})")
        if rate != self._rate or self._resampler is not None:
            rs = self._resampler
            if rs is None:
                rs = self._resampler = StreamResampler(rate, self._rate, quality="MQ")
                head = b""
            else:
                head = rs.set_input_rate(rate)
            pcm = head + rs.process(pcm)
        frames = self._chunker.feed(pcm)
        if not frames:
            return []
        # one numpy pass over the whole chunk, then a cheap loop per frame
        block = np.frombuffer(b"".join(frames), dtype="<i2").reshape(len(frames), -1)
        confidences = analyze_frames(self.analyzer, block)
        x = block.astype(np.float32)
        levels = np.sqrt(np.einsum("ij,ij->i", x, x) / block.shape[1]) / 32768.0
        events: list[VADEvent] = []
        update, step = self.tracker.update, self._frame_secs
        vol = 0.0
        for conf, level in zip(confidences, levels.tolist(), strict=True):
            vol = volume(level)
            events.extend(update(conf, vol, step))
        self.last_confidence = confidences[-1]
        self.last_volume = vol
        return events

    def reset(self) -> None:
        """Forget everything about the stream (the bot-speaking flag is kept)."""
        self.analyzer.reset()
        self.tracker.reset()
        self._chunker.reset()
        self._resampler = None


@dataclass(frozen=True, slots=True)
class SpeechSegment:
    """One detected utterance: ``start`` / ``end`` are when speech began and ended, and
    ``started_at`` / ``stopped_at`` when the detector said so (stream seconds)."""

    start: float
    end: float
    started_at: float
    stopped_at: float


def detect_speech(
    pcm: bytes,
    sample_rate: int,
    *,
    analyzer: Analyzer | None = None,
    params: VADParams | None = None,
    chunk_ms: float = 20.0,
) -> list[SpeechSegment]:
    """Run the VAD over a whole PCM16 mono recording, fed in ``chunk_ms`` chunks.

    A segment still open at the end of the audio is closed at the end of the audio.
    """
    stream = VADStream(analyzer, params)
    step = 2 * max(1, int(sample_rate * chunk_ms / 1000))
    segments: list[SpeechSegment] = []
    opened: VADEvent | None = None
    for i in range(0, len(pcm), step):
        for ev in stream.feed(pcm[i : i + step], sample_rate):
            if ev.kind is VADEventKind.STARTED:
                opened = ev
            elif ev.kind is VADEventKind.STOPPED and opened is not None:
                segments.append(SpeechSegment(opened.speech_time, ev.speech_time, opened.at, ev.at))
                opened = None
    if opened is not None:
        end = stream.tracker.time
        segments.append(SpeechSegment(opened.speech_time, end, opened.at, end))
    return segments
