"""The scripted caller's voice: espeak-ng lines that come out the same every time.

espeak-ng does not give the same samples twice (its prosody state moves the timing by a
few samples from call to call), and the pipeline's resampler dithers.  A replay needs
the caller to say exactly what it said when the recording was made, so the voice keeps
every line it synthesised, in memory for the life of the process and, with a
``speech_cache`` directory, on disk (ship it with the recording), and it resamples
without dither.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anyio

__all__ = ["CallerVoice", "exact_rate"]

_SPOKEN: OrderedDict[str, bytes] = OrderedDict()
"""Lines already synthesised in this process, most recent last."""
_SPOKEN_MAX = 256


class CallerVoice:
    """``voice`` and ``speech_rate`` (words per minute) are espeak-ng's."""

    def __init__(
        self,
        voice: str = "en-us+f2",
        speech_rate: int = 150,
        speech_cache: Path | str | None = None,
    ) -> None:
        self.voice = voice
        self.speech_rate = speech_rate
        self.speech_cache = Path(speech_cache) if speech_cache is not None else None
        self._tts: Any = None

    async def speak(self, text: str, rate: int, audio: bytes | Path | str | None = None) -> bytes:
        """PCM16 mono at ``rate``: ``audio`` as given (bytes at ``rate``, or a WAV file),
        else ``text`` spoken."""
        if isinstance(audio, bytes):
            return audio
        if audio is not None:
            return await anyio.to_thread.run_sync(read_wav, Path(audio), rate)
        key = hashlib.sha1(f"{self.voice}|{self.speech_rate}|{rate}|{text}".encode()).hexdigest()
        stored = self.speech_cache / f"{key[:20]}.pcm" if self.speech_cache else None
        # the cache on disk wins: it holds what was said when a recording was made
        pcm: bytes | None = None
        if stored is not None and stored.exists():
            pcm = await anyio.to_thread.run_sync(stored.read_bytes)
        pcm = pcm if pcm is not None else _SPOKEN.get(key)
        if pcm is None:
            if self._tts is None:
                from ...tts.espeak import EspeakTTS

                self._tts = EspeakTTS(self.voice, rate=self.speech_rate, sample_rate=rate)
            synth = self._tts.synth

            def speak() -> bytes:
                native_pcm, native_rate = synth.synthesize(text)
                return exact_rate(native_pcm, native_rate, rate)

            pcm = await anyio.to_thread.run_sync(speak)
        if stored is not None and not stored.exists():
            await anyio.to_thread.run_sync(_store, stored, pcm)
        _SPOKEN[key] = pcm
        _SPOKEN.move_to_end(key)
        while len(_SPOKEN) > _SPOKEN_MAX:
            _SPOKEN.popitem(last=False)
        return pcm


def _store(path: Path, pcm: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pcm)


def read_wav(path: Path, rate: int) -> bytes:
    from ...audio.pcm import convert_channels
    from ...audio.wav import read_wav_pcm16

    pcm, wav_rate, channels = read_wav_pcm16(path)
    if channels > 1:
        pcm = convert_channels(pcm, channels, 1)
    return exact_rate(pcm, wav_rate, rate)


def exact_rate(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample PCM16 without dither: the same speech gives the same bytes on every run,
    which a replay needs (the pipeline's own resampler dithers, so a caller speaks at
    the pipeline's input rate and skips it)."""
    if from_rate == to_rate or not pcm:
        return pcm
    import numpy as np
    import soxr

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    y = soxr.resample(x, from_rate, to_rate, quality="HQ")
    return np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()
