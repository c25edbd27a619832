"""The embedded voice: espeak-ng, from the ``espeakng-loader`` wheel.

Formant synthesis sounds robotic but costs a few milliseconds per sentence on one core and
needs no model download, which makes it the right default for an offline framework.  The
library binding is :mod:`beluga_voice.local.espeak`; this module adapts it to the
:class:`~beluga_voice.tts.TTSEngine` interface and resamples its native 22.05 kHz to the
rate the pipeline plays (24 kHz by default) with soxr.
"""

from __future__ import annotations

import numpy as np
import soxr

from ..local.espeak import EspeakSynth
from .base import TTSEngine

__all__ = ["EspeakTTS"]


class EspeakTTS(TTSEngine):
    """``voice`` is an espeak voice or language (``en-us``, ``en-gb``, ``en-us+f3``);
    ``rate`` in words per minute; ``sample_rate`` is the output rate."""

    name = "espeak-ng"

    def __init__(
        self,
        voice: str = "en-us",
        *,
        rate: int = 165,
        pitch: int = 50,
        volume: int = 100,
        sample_rate: int = 24000,
    ) -> None:
        if not 8000 <= sample_rate <= 96000:
            raise ValueError(f"sample_rate must be 8000-96000 Hz, got {sample_rate}")
        self.synth = EspeakSynth(voice, rate=rate, pitch=pitch, volume=volume)
        self.sample_rate = sample_rate

    def synthesize(self, text: str) -> bytes:
        pcm, native = self.synth.synthesize(text)
        if not pcm or native == self.sample_rate:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        out = soxr.resample(samples, native, self.sample_rate, quality="HQ")
        return np.asarray(out, dtype="<i2").tobytes()

    def __repr__(self) -> str:
        return f"EspeakTTS(voice={self.synth.voice!r}, sample_rate={self.sample_rate})"
