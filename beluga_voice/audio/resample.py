"""Streaming resampling of PCM16: :class:`StreamResampler`, the one resampler of the package.

Resampling a live stream chunk by chunk is not the same as resampling each chunk on its
own: a polyphase filter needs the samples on both sides of a chunk boundary, or every
boundary clicks and the output length drifts by a sample here and there (an hour of
drift is audible as a lag).  ``soxr.ResampleStream`` keeps that filter state between
calls; :class:`StreamResampler` wraps it for PCM16 frames, counts samples in and out, and
handles a change of the input rate mid-stream (a client switching microphones, a provider
switching formats) by draining the old filter before building a new one, so no sample
is lost and none is repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt
import soxr

from .pcm import check_rate

__all__ = ["QUALITIES", "StreamResampler"]

# "QQ" (quick cubic) is left out on purpose: soxr 1.0 crashes flushing a short QQ stream.
QUALITIES: Final = ("LQ", "MQ", "HQ", "VHQ")
_PCM16: Final = np.dtype("<i2")

_Convert = Callable[[npt.NDArray[np.int16], bool], npt.NDArray[np.int16]]


def _bind_process(stream: soxr.ResampleStream) -> _Convert:
    """The cheapest callable that resamples a ``(frames, channels)`` int16 block.

    ``ResampleStream.resample_chunk`` re-checks the array type and dtype and adds and
    removes a channel axis on every call: about a fifth of the cost of a 20 ms chunk.
    Our arrays are always C-contiguous int16 blocks of the right shape, so we call the
    bound C method behind it (``_process``, present in soxr 0.3 to 1.0) directly, and
    fall back to the public method if a soxr release renames it.
    """
    bound = getattr(stream, "_process", None)
    if callable(bound) and getattr(bound, "__name__", "") == "process_int16":
        return bound
    return stream.resample_chunk


class StreamResampler:
    """Stateful PCM16 resampler for one stream.

    ``process`` takes PCM16 bytes (interleaved if ``channels`` > 1) and returns what the
    filter can give now; the filter holds back a few milliseconds (its delay), which
    ``flush`` returns at the end of the stream.  Over any chunking the total output is
    ``samples_in * out_rate / in_rate`` rounded to the nearest sample, per input-rate
    segment, so an hour-long stream does not drift.  Output is requantised to PCM16 with
    soxr's TPDF dither (so digital silence comes out as +-1 LSB noise).

    When ``in_rate == out_rate`` the audio passes through untouched at no cost.
    """

    def __init__(
        self, in_rate: int, out_rate: int, channels: int = 1, *, quality: str = "HQ"
    ) -> None:
        if quality not in QUALITIES:
            raise ValueError(f"unknown soxr quality {quality!r}; use one of {QUALITIES}")
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        self.out_rate = check_rate(out_rate, "output sample rate")
        self.channels = channels
        self.quality = quality
        self.samples_in = 0
        """Sample frames fed so far (all segments)."""
        self.samples_out = 0
        """Sample frames returned so far."""
        self.in_rate = check_rate(in_rate, "input sample rate")
        self._frame_bytes = 2 * channels
        self._stream: soxr.ResampleStream | None = None
        self._convert: _Convert | None = None
        self._new_stream()

    def _new_stream(self) -> None:
        """Build the filter for the current rates (none at equal rates) and bind its call."""
        self._stream = None
        self._convert = None
        if self.in_rate == self.out_rate:
            return
        stream = soxr.ResampleStream(
            self.in_rate, self.out_rate, self.channels, dtype="int16", quality=self.quality
        )
        self._stream = stream
        self._convert = _bind_process(stream)

    def _run(self, samples: npt.NDArray[np.int16], last: bool) -> bytes:
        # soxr's own int16 path: cheaper per 20 ms call than float32 plus our two
        # conversions, and it requantises with TPDF dither, so silence comes out as
        # +-1 LSB noise, not zeros.
        assert self._convert is not None
        out = self._convert(samples, last)
        self.samples_out += out.shape[0]
        return out.tobytes()

    def process(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Resample one chunk of PCM16; any size works, including zero bytes."""
        # The per-call path is kept to the bone (the goal: a 20 ms chunk must cost little
        # more than soxr itself): one length check, one zero-copy view, one soxr call.
        nbytes = pcm.nbytes if type(pcm) is memoryview else len(pcm)
        frame = self._frame_bytes
        if nbytes % frame:
            raise ValueError(
                f"PCM16 buffer has {nbytes} bytes, not a multiple of 2 bytes x "
                f"{self.channels} channel(s)"
            )
        n = nbytes // frame
        self.samples_in += n
        if not n:
            return b""
        if self._convert is None:
            self.samples_out += n
            return bytes(pcm)
        return self._run(np.frombuffer(pcm, _PCM16).reshape(n, self.channels), False)

    def flush(self) -> bytes:
        """Return the filter's held-back tail and reset, ready for a new stream."""
        if self._stream is None:
            return b""
        tail = self._run(np.zeros((0, self.channels), dtype=np.int16), last=True)
        self._new_stream()
        return tail

    def set_input_rate(self, in_rate: int) -> bytes:
        """Switch the input rate; returns the old filter's tail (resampled at the old rate).

        Send the returned bytes before the output of the next :meth:`process` call.
        """
        rate = check_rate(in_rate, "input sample rate")
        if rate == self.in_rate:
            return b""
        tail = self.flush()
        self.in_rate = rate
        self._new_stream()
        return tail

    def reset(self) -> None:
        """Drop the filter state without output (after an interruption flushed the audio)."""
        if self._stream is not None:
            self._stream.clear()

    def __repr__(self) -> str:
        return f"StreamResampler({self.in_rate} -> {self.out_rate} Hz, {self.channels} ch)"
