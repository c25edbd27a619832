"""Re-chunking a byte stream into fixed-size frames.

Transports deliver audio in whatever sizes the network or the sound card chose; VAD
analysers and most providers want exact frames (10, 20 or 30 ms).  :class:`Rechunker`
turns any sequence of chunks into such frames without losing or repeating a byte, and
carries a partial sample across chunks (a TCP read may cut a sample in half).
"""

from __future__ import annotations

from .pcm import Buffer, check_rate

__all__ = ["Rechunker", "frame_bytes"]


def frame_bytes(sample_rate: int, ms: float, channels: int = 1, sample_width: int = 2) -> int:
    """Bytes in one frame of ``ms`` milliseconds; the frame must be a whole sample count."""
    rate = check_rate(sample_rate)
    samples = rate * ms / 1000.0
    if samples < 1 or abs(samples - round(samples)) > 1e-9:
        raise ValueError(f"{ms} ms at {rate} Hz is not a whole number of samples")
    return round(samples) * channels * sample_width


class Rechunker:
    """Splits a stream of byte chunks into frames of exactly ``frame_size`` bytes.

    ``feed`` returns the complete frames now available (often none, sometimes several);
    the rest waits for the next chunk.  ``flush`` returns what is left at the end of the
    stream, optionally padded with zeros (silence) to a full frame.
    """

    __slots__ = ("_buf", "align", "frame_size")

    def __init__(self, frame_size: int, *, align: int = 2) -> None:
        if frame_size <= 0 or align <= 0 or frame_size % align:
            raise ValueError(
                f"frame_size {frame_size} must be a positive multiple of the {align}-byte "
                "sample frame"
            )
        self.frame_size = frame_size
        self.align = align
        self._buf = bytearray()

    @classmethod
    def for_duration(cls, sample_rate: int, ms: float, channels: int = 1) -> Rechunker:
        """A rechunker making PCM16 frames of ``ms`` milliseconds."""
        return cls(frame_bytes(sample_rate, ms, channels), align=2 * channels)

    @property
    def pending(self) -> int:
        """Bytes held back, waiting for a full frame."""
        return len(self._buf)

    def feed(self, chunk: Buffer) -> list[bytes]:
        """Add ``chunk``; return the complete frames (an empty chunk is fine and gives none)."""
        buf = self._buf
        buf += chunk
        size = self.frame_size
        n = len(buf) // size
        if not n:
            return []
        frames = [bytes(buf[i * size : (i + 1) * size]) for i in range(n)]
        del buf[: n * size]
        return frames

    def flush(self, *, pad: bool = False) -> bytes:
        """Return the remainder (zero-padded to a full frame if ``pad``) and reset.

        Raises ValueError if the stream ended inside a sample frame: that data is corrupt
        and guessing the missing byte would be worse than saying so.
        """
        rest = bytes(self._buf)
        self._buf.clear()
        if len(rest) % self.align:
            raise ValueError(
                f"stream ended with {len(rest)} bytes, not a whole number of "
                f"{self.align}-byte sample frames"
            )
        if pad and rest:
            rest += bytes(self.frame_size - len(rest))
        return rest

    def reset(self) -> None:
        """Drop anything held back (e.g. after an interruption)."""
        self._buf.clear()
