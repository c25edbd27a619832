"""The pipeline processor around :class:`~beluga_voice.audio.resample.StreamResampler`.

The resampler itself lives on the ground floor (``beluga_voice.audio.resample``), where
transports, providers and the VAD use it without importing the processors package.
"""

from __future__ import annotations

from dataclasses import replace

from .._moved import moved_names
from ..audio.pcm import check_rate
from ..audio.resample import QUALITIES
from ..audio.resample import StreamResampler as _StreamResampler
from ..frames import (
    AudioFrame,
    CancelFrame,
    Direction,
    EndFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
)
from ..pipeline import FrameProcessor

__all__ = ["ResampleProcessor"]

__getattr__ = moved_names(__name__, "beluga_voice.audio.resample", ["StreamResampler"])


class ResampleProcessor(FrameProcessor):
    """Resamples one type of audio frame to a fixed rate, keeping filter state per stream.

    By default it converts :class:`~beluga_voice.frames.InputAudioFrame` going downstream
    to ``StartFrame.input_sample_rate``, which is where it stands in a pipeline: right
    after the input transport.  ``frame_type=OutputAudioFrame`` converts bot audio to
    ``StartFrame.output_sample_rate`` instead (e.g. in front of an output device).  Pass
    ``sample_rate`` to override the rate taken from the StartFrame.

    Other frames pass through.  On an EndFrame (and, for bot output, a ResponseEndFrame)
    the filter tail is pushed first, so the last few milliseconds are not lost or held
    until the next reply; an InterruptionFrame drops the filter state when
    resampling bot output (that audio was flushed anyway).  Frames whose rate or channel
    count changes mid-stream get a new filter after the old one is drained.
    """

    def __init__(
        self,
        sample_rate: int | None = None,
        *,
        frame_type: type[AudioFrame] = InputAudioFrame,
        quality: str = "HQ",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if sample_rate is not None:
            check_rate(sample_rate, "target sample rate")
        if quality not in QUALITIES:
            raise ValueError(f"unknown soxr quality {quality!r}; use one of {QUALITIES}")
        self._configured_rate = sample_rate
        self.frame_type = frame_type
        self.quality = quality
        self.sample_rate: int | None = sample_rate
        self._resampler: _StreamResampler | None = None
        self._template: AudioFrame | None = None

    async def on_start(self, frame: StartFrame) -> None:
        if self._configured_rate is None:
            output = issubclass(self.frame_type, OutputAudioFrame)
            rate = frame.output_sample_rate if output else frame.input_sample_rate
            self.sample_rate = check_rate(rate, "pipeline sample rate")

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, self.frame_type) and self.sample_rate is not None:
            await self._resample(frame, direction)
            return
        if isinstance(frame, (EndFrame, CancelFrame)):
            if isinstance(frame, EndFrame):
                await self._flush(direction)
            self._resampler = None
        elif isinstance(frame, InterruptionFrame) and self._drops_on_interruption:
            assert self._resampler is not None
            self._resampler.reset()
        elif isinstance(frame, ResponseEndFrame) and self._drops_on_interruption:
            await self._flush(direction)  # the reply's last ms play now, not with the next
        await self.push_frame(frame, direction)

    @property
    def _drops_on_interruption(self) -> bool:
        return self._resampler is not None and issubclass(self.frame_type, OutputAudioFrame)

    async def _resample(self, frame: AudioFrame, direction: Direction) -> None:
        target = self.sample_rate
        assert target is not None
        rs = self._resampler
        if rs is None or rs.channels != frame.channels:
            if rs is not None:
                await self._flush(direction)
            rs = self._resampler = _StreamResampler(
                frame.sample_rate, target, frame.channels, quality=self.quality
            )
        elif rs.in_rate != frame.sample_rate:
            tail = rs.set_input_rate(frame.sample_rate)
            await self._emit(tail, frame, direction)
        if rs.in_rate == target:
            self._template = frame
            await self.push_frame(frame, direction)
            return
        await self._emit(rs.process(frame.audio), frame, direction)

    async def _emit(self, pcm: bytes, like: AudioFrame, direction: Direction) -> None:
        self._template = like
        if pcm:
            assert self.sample_rate is not None
            out = replace(like, audio=pcm, sample_rate=self.sample_rate)
            await self.push_frame(out, direction)

    async def _flush(self, direction: Direction) -> None:
        if self._resampler is not None and self._template is not None:
            await self._emit(self._resampler.flush(), self._template, direction)
