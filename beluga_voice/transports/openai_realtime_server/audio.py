"""Audio between the client's wire format and the backend's PCM16.

The client speaks ``audio/pcm`` (PCM16 LE mono at 24 kHz) or G.711 (``audio/pcmu``,
``audio/pcma``, 8 kHz) in each direction; the backend takes PCM16 at one of its input
rates and answers at its own output rate.  Each direction is one stateful resampler (the
project's :class:`~beluga_voice.audio.resample.StreamResampler`, so chunk
boundaries do not click) plus the G.711 codec where the format asks for it.
"""

from __future__ import annotations

from typing import Literal

from ...audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ...audio.resample import StreamResampler

__all__ = ["InputConverter", "OutputConverter", "WireFormat", "bytes_to_ms", "format_rate"]

WireFormat = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]


def format_rate(fmt: WireFormat) -> int:
    """Sample rate of a wire format: 24 kHz PCM, 8 kHz G.711."""
    return 24000 if fmt == "audio/pcm" else 8000


def bytes_to_ms(nbytes: int, fmt: WireFormat) -> float:
    """Milliseconds of audio in ``nbytes`` of the wire format."""
    per_sample = 2 if fmt == "audio/pcm" else 1
    return 1000.0 * nbytes / (per_sample * format_rate(fmt))


class InputConverter:
    """Client audio (wire format) to backend PCM16 at ``backend_rate``."""

    def __init__(self, fmt: WireFormat, backend_rate: int) -> None:
        self.format = fmt
        self.backend_rate = backend_rate
        self._odd = b""
        self._resampler = StreamResampler(format_rate(fmt), backend_rate)

    def __call__(self, data: bytes) -> bytes:
        if self.format == "audio/pcmu":
            pcm = ulaw_decode(data)
        elif self.format == "audio/pcma":
            pcm = alaw_decode(data)
        else:  # a client may split PCM16 anywhere: keep an odd trailing byte for later
            data = self._odd + data
            cut = len(data) - len(data) % 2
            pcm, self._odd = data[:cut], data[cut:]
        return self._resampler.process(pcm)


class OutputConverter:
    """Backend PCM16 (any rate, per chunk) to the client's wire format."""

    def __init__(self, fmt: WireFormat) -> None:
        self.format = fmt
        self._resampler: StreamResampler | None = None

    def __call__(self, pcm: bytes, rate: int) -> bytes:
        target = format_rate(self.format)
        conv = self._resampler
        if conv is None:
            conv = self._resampler = StreamResampler(rate, target)
        out = b""
        if conv.in_rate != rate:
            out = conv.set_input_rate(rate)
        out += conv.process(pcm)
        return self._encode(out)

    def flush(self) -> bytes:
        """The resampler's held-back tail, at the end of a reply."""
        if self._resampler is None:
            return b""
        return self._encode(self._resampler.flush())

    def reset(self) -> None:
        """Drop what the filter holds (a cancelled reply's tail must not leak into the next)."""
        if self._resampler is not None:
            self._resampler.reset()

    def _encode(self, pcm: bytes) -> bytes:
        if self.format == "audio/pcmu":
            return ulaw_encode(pcm)
        if self.format == "audio/pcma":
            return alaw_encode(pcm)
        return pcm
