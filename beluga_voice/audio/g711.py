"""G.711 mu-law and A-law, vectorised.

These are the 8-bit telephone codecs that OpenAI and Grok accept as ``audio/pcmu`` /
``audio/pcma`` and that SIP trunks speak.  Encoding follows the ITU-T G.711 segment
tables (the classic Sun reference algorithm), done on whole arrays; decoding is a lookup
in a 256-entry table built once from the same rules.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from .pcm import Buffer, pcm16_view

__all__ = [
    "G711_SILENCE",
    "alaw_decode",
    "alaw_encode",
    "g711_decode",
    "g711_encode",
    "ulaw_decode",
    "ulaw_encode",
]

_ULAW_BIAS: Final = 0x84
_ULAW_CLIP: Final = 32635


def _bit_length(x: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Bit length of positive ints (frexp returns the exponent e with x = m * 2**e)."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int32)


def ulaw_encode(data: Buffer) -> bytes:
    """PCM16 bytes to mu-law bytes (one byte per sample)."""
    x = pcm16_view(data).astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS  # 132 .. 32767
    exponent = _bit_length(mag) - 8  # 0 .. 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def _ulaw_table() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype("<i2")


def alaw_encode(data: Buffer) -> bytes:
    """PCM16 bytes to A-law bytes (one byte per sample)."""
    x = pcm16_view(data).astype(np.int32) >> 3  # 13-bit
    positive = x >= 0
    mask = np.where(positive, 0xD5, 0x55)
    mag = np.where(positive, x, -x - 1)  # 0 .. 4095
    segment = np.maximum(_bit_length(np.maximum(mag, 1)) - 5, 0)  # 0 .. 7
    shift = np.where(segment < 2, 1, segment)
    aval = (segment << 4) | ((mag >> shift) & 0x0F)
    return ((aval ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _alaw_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype("<i2")


_ULAW: Final = _ulaw_table()
_ALAW: Final = _alaw_table()


def ulaw_decode(data: Buffer) -> bytes:
    """Mu-law bytes to PCM16 bytes."""
    return _ULAW[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_decode(data: Buffer) -> bytes:
    """A-law bytes to PCM16 bytes."""
    return _ALAW[np.frombuffer(data, dtype=np.uint8)].tobytes()


G711_SILENCE: Final = {"pcmu": b"\xff", "pcma": b"\xd5"}
"""One sample of silence in each law (zero bytes are a loud sample in both)."""
_BY_LAW: Final = {"pcmu": (ulaw_decode, ulaw_encode), "pcma": (alaw_decode, alaw_encode)}


def g711_decode(data: Buffer, law: str) -> bytes:
    """``law`` (``pcmu`` or ``pcma``) bytes to PCM16 bytes."""
    return _BY_LAW[law][0](data)


def g711_encode(data: Buffer, law: str) -> bytes:
    """PCM16 bytes to ``law`` (``pcmu`` or ``pcma``) bytes."""
    return _BY_LAW[law][1](data)
