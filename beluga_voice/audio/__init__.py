"""Audio helpers: PCM16 and float conversion, channel mixing, G.711, levels, framing, WAV.

Everything here is plain, vectorised numpy with no state except :class:`Rechunker`.  The
frames of the pipeline carry PCM16 little-endian bytes; these helpers are what processors,
transports and providers use to look inside them.  The stdlib ``audioop`` module is gone in
Python 3.13, so nothing here depends on it.
"""

from .chunker import Rechunker, frame_bytes
from .g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from .pcm import (
    apply_gain,
    check_rate,
    convert_channels,
    dbfs,
    float_to_pcm16,
    pcm16_to_float,
    pcm16_view,
    peak,
    rms,
)
from .wav import WavFormat, read_wav, read_wav_pcm16, write_wav, write_wav_pcm16

__all__ = [
    "Rechunker",
    "WavFormat",
    "alaw_decode",
    "alaw_encode",
    "apply_gain",
    "check_rate",
    "convert_channels",
    "dbfs",
    "float_to_pcm16",
    "frame_bytes",
    "pcm16_to_float",
    "pcm16_view",
    "peak",
    "read_wav",
    "read_wav_pcm16",
    "rms",
    "ulaw_decode",
    "ulaw_encode",
    "write_wav",
    "write_wav_pcm16",
]
