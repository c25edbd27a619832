"""File transport: WAV in, WAV out.

* :class:`WavFileInput` reads a WAV file of any rate, channel count and bit depth (see
  :mod:`beluga_voice.audio.wav`), converts it to the pipeline's input format and pushes it
  in fixed chunks, as fast as the pipeline takes it or at real-time pace (to exercise a
  provider as a live caller would).  At the end of the file it can add trailing silence
  (so a voice-activity detector hears the turn end) and end the pipeline.
* :class:`WavFileOutput` is an output half that writes the bot's audio to a WAV file,
  streamed to disk as it goes (the header is completed on close).

For a two-channel recording of a whole conversation see :mod:`.recorder`.
"""

from __future__ import annotations

import os
import wave
from typing import BinaryIO

from ..audio import convert_channels, read_wav_pcm16
from ..audio.resample import StreamResampler
from ..frames import EndFrame, StartFrame
from .base import InputTransport
from .output import OutputTransport
from .pacing import AnyioClock, Clock

__all__ = ["WavFileInput", "WavFileOutput"]

Source = str | os.PathLike[str] | bytes | BinaryIO


class WavFileInput(InputTransport):
    """Plays a WAV file into the pipeline as user audio.

    The file is parsed when the object is made, so a bad file is a clear ``ValueError`` at
    construction rather than an error frame later.  ``realtime`` paces chunks at playback
    speed on absolute deadlines; otherwise they go as fast as backpressure allows.
    """

    def __init__(
        self,
        source: Source,
        *,
        chunk_ms: float = 20.0,
        realtime: bool = False,
        trailing_silence_ms: float = 0.0,
        end_on_eof: bool = True,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        self.pcm, self.file_rate, self.file_channels = read_wav_pcm16(source)
        self.chunk_ms = chunk_ms
        self.realtime = realtime
        self.trailing_silence_ms = trailing_silence_ms
        self.end_on_eof = end_on_eof
        self.clock: Clock = clock or AnyioClock()
        self.frames_pushed = 0

    @property
    def duration(self) -> float:
        """Length of the file in seconds."""
        return len(self.pcm) / (2 * self.file_channels * self.file_rate)

    def converted(self, sample_rate: int, channels: int) -> bytes:
        """The whole file as PCM16 at ``sample_rate`` x ``channels``, plus trailing silence."""
        pcm = convert_channels(self.pcm, self.file_channels, channels)
        resampler = StreamResampler(self.file_rate, sample_rate, channels)
        pcm = resampler.process(pcm) + resampler.flush()
        silence = round(sample_rate * self.trailing_silence_ms / 1000) * 2 * channels
        return pcm + bytes(silence)

    async def read(self) -> None:
        start = self.start_frame
        assert start is not None
        rate, channels = start.input_sample_rate, start.channels
        pcm = self.converted(rate, channels)
        step = max(1, round(rate * self.chunk_ms / 1000)) * 2 * channels
        chunk_seconds = step / (2 * channels * rate)
        t0 = self.clock.now()
        for n, offset in enumerate(range(0, len(pcm), step)):
            if self.realtime and n:
                await self.clock.sleep_until(t0 + n * chunk_seconds)
            await self.push_audio(pcm[offset : offset + step], rate, channels)
            self.frames_pushed += 1
        if self.end_on_eof:
            await self.push_frame(EndFrame())


class WavFileOutput(OutputTransport):
    """Writes bot audio to a 16-bit WAV file at the pipeline's output rate.

    ``dest`` is a path or a seekable binary file (the header's sizes are patched on close).

    ``realtime=False`` (the default) writes as fast as audio arrives; ``True`` paces it as a
    device would, which makes barge-in accounting behave as in a live session.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        *,
        realtime: bool = False,
        chunk_ms: float = 20.0,
        sample_rate: int | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            chunk_ms=chunk_ms, realtime=realtime, sample_rate=sample_rate, clock=clock, name=name
        )
        self.dest = dest
        self.bytes_written = 0
        self._writer: wave.Wave_write | None = None
        self._owned: BinaryIO | None = None

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        out: BinaryIO
        if isinstance(self.dest, (str, os.PathLike)):
            # A local file: opening (like the chunk writes) does not block noticeably.
            self._owned = out = open(self.dest, "wb")  # noqa: SIM115, ASYNC230 - closed in _close
        else:
            out = self.dest
        writer = wave.open(out, "wb")  # noqa: SIM115 - closed in _close
        writer.setnchannels(self.channels)
        writer.setsampwidth(2)
        writer.setframerate(self.sample_rate)
        self._writer = writer

    async def write_audio(self, chunk: bytes) -> None:
        if self._writer is not None:
            self._writer.writeframesraw(chunk)
            self.bytes_written += len(chunk)

    async def on_stop(self) -> None:
        try:
            await super().on_stop()
        finally:
            self._close()

    async def on_cleanup(self) -> None:
        """Close the file even when a stop deadline cancelled the output mid-chunk."""
        await super().on_cleanup()
        self._close()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        owned, self._owned = self._owned, None
        try:
            if writer is not None:
                writer.close()
        finally:
            if owned is not None:
                owned.close()
