"""A small labelled speech corpus made on the fly, for testing and benchmarking VAD.

Speech comes from espeak-ng (:mod:`beluga_voice.local.espeak`), so the corpus needs no
download and is the same on every machine.  Each clip is a few sentences separated by
pauses long enough for any sensible ``stop_secs``, with the ground-truth speech segments
measured from the synthesised samples themselves.  Conditions: clean, white noise and
babble (several espeak voices talking at once) at several signal-to-noise ratios.

Building the default corpus takes well under a second; it is cached in memory only.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import soxr

from ..local.espeak import EspeakSynth

__all__ = [
    "SENTENCES",
    "LabelledClip",
    "babble",
    "build_corpus",
    "make_clip",
    "mix_at_snr",
    "speech",
]

RATE: Final = 16000
SENTENCES: Final = (
    "The quick brown fox jumps over the lazy dog.",
    "Could you book a table for two at seven tonight?",
    "I would like to change my delivery address, please.",
    "What is the weather going to be like tomorrow morning?",
    "Thanks, that is all I needed for now.",
    "Remind me to call the dentist on Monday.",
)
_BABBLE_TEXT: Final = (
    "Meanwhile the committee discussed the budget for next year at some length.",
    "She said the train was late again because of the snow on the line.",
    "Several people asked whether the museum would open on the holiday.",
    "We walked along the river until the light began to fade.",
)
_BABBLE_VOICES: Final = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3", "en-029")
_SILENCE_LEVEL: Final = 64  # |sample| above this counts as sound when finding speech bounds

Noise = Literal["clean", "white", "babble"]


@dataclass(frozen=True, slots=True)
class LabelledClip:
    """PCM16 mono audio at ``sample_rate`` with its true speech ``segments`` in seconds."""

    name: str
    audio: npt.NDArray[np.int16]
    sample_rate: int
    segments: tuple[tuple[float, float], ...]
    noise: Noise
    snr_db: float | None

    @property
    def pcm(self) -> bytes:
        return self.audio.astype("<i2").tobytes()

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate


@functools.lru_cache(maxsize=64)
def speech(text: str, voice: str = "en-us", rate: int = RATE) -> npt.NDArray[np.int16]:
    """``text`` spoken by espeak-ng, resampled to ``rate`` and trimmed of edge silence."""
    pcm, sr = EspeakSynth(voice).synthesize(text)
    x = np.frombuffer(pcm, dtype="<i2")
    if sr != rate:
        x = soxr.resample(x, sr, rate, quality="HQ")
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > _SILENCE_LEVEL)
    if not loud.size:
        return np.zeros(0, dtype=np.int16)
    out = x[loud[0] : loud[-1] + 1].astype(np.int16)
    out.flags.writeable = False
    return out


def _power(x: npt.NDArray[np.floating]) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def babble(
    seconds: float, rng: np.random.Generator, *, talkers: int = 4
) -> npt.NDArray[np.float64]:
    """Several espeak voices talking over each other, continuously, as float samples."""
    n = int(seconds * RATE)
    out = np.zeros(n, dtype=np.float64)
    for t in range(talkers):
        voice = _BABBLE_VOICES[t % len(_BABBLE_VOICES)]
        pos = int(rng.integers(0, RATE // 2))
        k = t
        while pos < n:
            s = speech(_BABBLE_TEXT[k % len(_BABBLE_TEXT)], voice).astype(np.float64)
            take = min(s.size, n - pos)
            out[pos : pos + take] += s[:take]
            pos += take + int(rng.integers(0, RATE // 10))
            k += 1
    return out


def mix_at_snr(
    clean: npt.NDArray[np.floating],
    noise: npt.NDArray[np.floating],
    snr_db: float,
    speech_mask: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """``clean + noise`` with noise scaled so that speech power / noise power = ``snr_db``.

    Speech power is measured over ``speech_mask`` only (the active samples), the usual
    definition: otherwise the pauses would make every SNR look worse than it sounds.
    """
    p_speech = _power(clean[speech_mask])
    p_noise = _power(noise)
    if p_noise == 0.0:
        return clean.astype(np.float64)
    gain = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return clean + gain * noise


def make_clip(
    noise: Noise = "clean",
    snr_db: float | None = None,
    *,
    sentences: Sequence[str] = SENTENCES[:3],
    voice: str = "en-us",
    lead: float = 1.0,
    gap: float = 1.6,
    seed: int = 0,
) -> LabelledClip:
    """One clip: ``lead`` seconds of silence, then the sentences ``gap`` seconds apart."""
    rng = np.random.default_rng(seed)
    pieces: list[npt.NDArray[np.int16]] = [np.zeros(int(lead * RATE), dtype=np.int16)]
    segments: list[tuple[float, float]] = []
    pos = pieces[0].size
    for text in sentences:
        s = speech(text, voice)
        segments.append((pos / RATE, (pos + s.size) / RATE))
        pieces += [s, np.zeros(int(gap * RATE), dtype=np.int16)]
        pos += s.size + pieces[-1].size
    clean = np.concatenate(pieces).astype(np.float64)
    mask = np.zeros(clean.size, dtype=bool)
    for a, b in segments:
        mask[round(a * RATE) : round(b * RATE)] = True
    if noise == "clean":
        mixed = clean
    else:
        if snr_db is None:
            raise ValueError(f"{noise} noise needs an snr_db")
        n = rng.standard_normal(clean.size) if noise == "white" else babble(clean.size / RATE, rng)
        mixed = mix_at_snr(clean, n, snr_db, mask)
    peak = float(np.abs(mixed).max())
    if peak > 32767:  # keep the mix unclipped; SNR is a ratio so scaling keeps it
        mixed *= 32767 / peak
    audio = np.rint(mixed).astype(np.int16)
    name = noise if snr_db is None else f"{noise}@{snr_db:g}dB"
    return LabelledClip(name, audio, RATE, tuple(segments), noise, snr_db)


def build_corpus(snrs: Sequence[float] = (20.0, 10.0, 5.0)) -> list[LabelledClip]:
    """Clean speech (two voices), then white and babble noise at each SNR in ``snrs``."""
    clips = [
        make_clip("clean"),
        make_clip("clean", sentences=SENTENCES[3:], voice="en-gb", seed=1),
    ]
    for i, snr in enumerate(snrs):
        clips.append(make_clip("white", snr, seed=10 + i))
        clips.append(make_clip("babble", snr, sentences=SENTENCES[3:], seed=20 + i))
    return clips
