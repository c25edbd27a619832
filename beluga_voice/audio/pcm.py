"""PCM16 <-> float32, channel up / down mix, gain and levels.

PCM16 here always means signed 16-bit little-endian, channels interleaved: the format of
every audio frame.  Float audio is float32 in [-1, 1].  The scale is 32768 both ways, so a
PCM16 -> float -> PCM16 round trip is exact; floats outside [-1, 1] are clipped, never
wrapped (wrapping turns an overload into a loud click).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "apply_gain",
    "check_rate",
    "convert_channels",
    "dbfs",
    "float_to_pcm16",
    "pcm16_to_float",
    "pcm16_view",
    "peak",
    "rms",
]

_SCALE: Final = 32768.0
MIN_RATE: Final = 1000
"""Lowest sample rate accepted anywhere in the audio helpers (Hz)."""
MAX_RATE: Final = 384000
"""Highest sample rate accepted (Hz)."""

Buffer = bytes | bytearray | memoryview


def check_rate(rate: object, what: str = "sample rate") -> int:
    """Return ``rate`` as an int, or raise ValueError saying why it is unusable."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise ValueError(f"{what} must be an integer number of Hz, got {rate!r}")
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise ValueError(f"{what} {rate} Hz is outside the supported {MIN_RATE}-{MAX_RATE} Hz")
    return int(rate)


def _check_channels(channels: int) -> None:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")


def pcm16_view(data: Buffer, channels: int = 1) -> npt.NDArray[np.int16]:
    """The samples of PCM16 ``data`` as a read-only int16 array, without copying.

    Raises ValueError when the byte count is not a whole number of sample frames (an odd
    byte count, or a stereo buffer cut between its two channels).
    """
    _check_channels(channels)
    n = len(data) if not isinstance(data, memoryview) else data.nbytes
    if n % (2 * channels):
        raise ValueError(
            f"PCM16 buffer has {n} bytes, not a multiple of 2 bytes x {channels} channel(s)"
        )
    return np.frombuffer(data, dtype="<i2")


def pcm16_to_float(data: Buffer, channels: int = 1) -> npt.NDArray[np.float32]:
    """PCM16 bytes to float32 in [-1, 1); interleaved order kept (reshape for channels)."""
    return pcm16_view(data, channels).astype(np.float32) * np.float32(1.0 / _SCALE)


def float_to_pcm16(samples: npt.ArrayLike) -> bytes:
    """Float samples in [-1, 1] to PCM16 bytes, rounding to nearest and clipping.

    NaN or infinity raise ValueError: silently writing them would turn a bug upstream into
    full-scale noise in somebody's ear.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size and not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"float audio contains {bad} NaN or infinite sample(s)")
    y = np.clip(np.rint(x * _SCALE), -32768, 32767)
    return y.astype("<i2").tobytes()


def convert_channels(data: Buffer, from_channels: int, to_channels: int) -> bytes:
    """Mix interleaved PCM16 between channel counts.

    Down to mono averages the channels (no clipping possible); up from mono copies the
    one channel to each.  Other conversions (say 6 -> 2) have no single right answer and
    raise ValueError.
    """
    _check_channels(to_channels)
    samples = pcm16_view(data, from_channels)
    if from_channels == to_channels:
        return bytes(data)
    frames = samples.reshape(-1, from_channels)
    if to_channels == 1:
        mixed = frames.astype(np.int32).sum(axis=1)
        # floor division rounds towards -inf; round half away from zero instead
        out = np.rint(mixed / from_channels).astype("<i2")
        return out.tobytes()
    if from_channels == 1:
        return np.repeat(frames, to_channels, axis=1).astype("<i2").tobytes()
    raise ValueError(
        f"cannot mix {from_channels} channels to {to_channels}; only to or from mono is supported"
    )


def apply_gain(data: Buffer, gain_db: float) -> bytes:
    """PCM16 with ``gain_db`` decibels applied, saturating at full scale."""
    if not np.isfinite(gain_db):
        raise ValueError(f"gain must be a finite number of dB, got {gain_db!r}")
    samples = pcm16_view(data).astype(np.float32)
    factor = np.float32(10.0 ** (gain_db / 20.0))
    return np.clip(np.rint(samples * factor), -32768, 32767).astype("<i2").tobytes()


def peak(data: Buffer) -> float:
    """Largest absolute sample, as a fraction of full scale (0.0 for empty input)."""
    samples = pcm16_view(data)
    if not samples.size:
        return 0.0
    return float(np.abs(samples.astype(np.int32)).max()) / _SCALE


def rms(data: Buffer) -> float:
    """Root mean square level as a fraction of full scale (0.0 for empty input)."""
    samples = pcm16_view(data)
    if not samples.size:
        return 0.0
    x = samples.astype(np.float64)
    return float(np.sqrt(np.dot(x, x) / x.size)) / _SCALE


def dbfs(level: float, floor: float = -120.0) -> float:
    """A level from :func:`rms` or :func:`peak` in dB full scale, never below ``floor``."""
    if level <= 0.0:
        return floor
    return max(floor, 20.0 * float(np.log10(level)))
