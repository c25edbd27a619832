"""VAD over a stream of PCM16 chunks: downmix, resample, re-chunk, analyse, track.

:class:`VADStream` is the whole detector without the pipeline: the processor uses it,
and so does :func:`detect_speech` for offline use (files, benchmarks, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ..pcm import check_rate, convert_channels
from ..resample import StreamResampler
from .analyzers import Analyzer, EnergyAnalyzer, analyze_frames
from .state import VADEvent, VADEventKind, VADParams, VoiceActivityTracker, energy_volume

__all__ = ["SpeechSegment", "VADStream", "detect_speech"]

_PCM16: Final = np.dtype("<i2")


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
        self._frame_bytes = 2 * self.analyzer.frame_samples
        self._pending = bytearray()
        self._checked_rate = 0  # the last input rate that passed check_rate
        self._resampler: StreamResampler | None = None
        # An energy analyser is fed the per-frame energies this stream computes anyway
        # for the volume, instead of computing them a second time.
        self._from_energies = (
            self.analyzer.confidences_from_energies
            if isinstance(self.analyzer, EnergyAnalyzer)
            else None
        )
        self.last_confidence = 0.0
        self.last_volume = 0.0

    @property
    def params(self) -> VADParams:
        return self.tracker.params

    def feed(self, pcm: bytes, sample_rate: int, channels: int = 1) -> list[VADEvent]:
        """Analyse one chunk; returns the events it completed (often none)."""
        # Per-chunk cost matters (the goal: 20 ms chunks at >= 1000x real time), so the
        # common case (same rate as before, mono, whole frames, nothing pending) makes
        # no copy of the audio before the analyser sees it.
        if type(sample_rate) is not int or sample_rate != self._checked_rate:
            self._checked_rate = check_rate(sample_rate)
        if channels != 1:
            pcm = convert_channels(pcm, channels, 1)
        elif len(pcm) % 2:
            raise ValueError(f"PCM16 chunk has an odd byte count ({len(pcm)})")
        if sample_rate != self._rate or self._resampler is not None:
            pcm = self._resample(pcm, sample_rate)
        block = self._frames(pcm)
        if block is None:
            return []
        # mean squares per frame: square in place and sum (cheaper than einsum for the
        # two or three short rows of a 20 ms chunk); the 1/n is applied in Python
        x = block.astype(np.float32)
        np.square(x, out=x)
        inv = 1.0 / block.shape[1]
        energies = [total * inv for total in x.sum(axis=1).tolist()]
        if self._from_energies is not None:
            confidences = self._from_energies(energies)
        else:
            confidences = analyze_frames(self.analyzer, block)
        events: list[VADEvent] = []
        advance, step = self.tracker.advance, self._frame_secs
        vol = 0.0
        for conf, energy in zip(confidences, energies, strict=True):
            vol = energy_volume(energy)
            advance(conf, vol, step, events)
        self.last_confidence = confidences[-1]
        self.last_volume = vol
        return events

    def _resample(self, pcm: bytes, rate: int) -> bytes:
        rs = self._resampler
        if rs is None:
            rs = self._resampler = StreamResampler(rate, self._rate, quality="MQ")
            return rs.process(pcm)
        head = rs.set_input_rate(rate)
        out = rs.process(pcm)
        return head + out if head else out

    def _frames(self, pcm: bytes) -> npt.NDArray[np.int16] | None:
        """The whole analyser frames now available, as rows; the rest waits."""
        size = self._frame_bytes
        pending = self._pending
        if not pending and not len(pcm) % size:
            data: bytes | bytearray = pcm
        else:
            pending += pcm
            whole = len(pending) - len(pending) % size
            data = bytes(pending[:whole])
            del pending[:whole]
        if not data:
            return None
        return np.frombuffer(data, _PCM16).reshape(-1, size // 2)

    def reset(self) -> None:
        """Forget everything about the stream (the bot-speaking flag is kept)."""
        self.analyzer.reset()
        self.tracker.reset()
        self._pending.clear()
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
