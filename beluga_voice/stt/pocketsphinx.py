"""Embedded English recognition with CMU PocketSphinx.

The ``pocketsphinx`` wheel ships the US English acoustic model, dictionary and language
model, so this engine works with no network and no download.  Its accuracy is modest
(a general 3-gram model over a small acoustic model) but it is fast: a few times faster
than real time on one core, which is what a local conversation needs.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..audio.engine_owner import release_native_memory
from .base import STTEngine, STTResult, STTStream
from .domain import DomainModel, build_domain_model

__all__ = ["PocketSphinxSTT", "PocketSphinxStream"]


_RAW_PIECE_MS = 20
"""Audio per ``process_raw`` call.  The binding holds the GIL for the whole call (about a
fifth of the audio's duration), so a long piece would stall every other thread, the event
loop included; 20 ms keeps each hold to a few milliseconds."""

NOISE_FLOOR = 20.0
"""RMS, in PCM16 steps (about -64 dBFS), of the noise added to everything decoded.

Synthetic and edited audio has stretches of exact zeros, which no microphone produces:
their log energy sinks to the floor of the feature scale and drags the decoder's live
cepstral mean (its estimate of the channel) far from speech, so the next short word is
misheard: the bundled example's "goodbye" came out as "what eight" on every run, and
16 renderings of "goodbye" (4 espeak-ng voices x 4 rates) gave 8 right; with this floor,
12 (and the example every turn).  Far below any room's noise, it changes nothing for
real microphones.  pocketsphinx's own ``dither`` (+-1 step) is too small to help."""


class PocketSphinxStream(STTStream):
    """One decoder.  Interim results are computed at most every ``interim_ms`` of audio,
    because asking the decoder for its best path walks the lattice.  Not thread-safe:
    callers own it through an :class:`~beluga_voice.audio.engine_owner.EngineOwner`."""

    def __init__(
        self, decoder: object, sample_rate: int, interim_ms: float, noise_floor: float = 0.0
    ) -> None:
        self._decoder = decoder
        self._noise_floor = noise_floor
        self._rng = np.random.default_rng(0)  # seeded: the same audio decodes the same way
        self.sample_rate = sample_rate
        self._interim_bytes = int(sample_rate * interim_ms / 1000) * 2
        self._piece = sample_rate * _RAW_PIECE_MS // 1000 * 2
        self._in_utt = False
        self._fed = 0
        self._since_interim = 0
        self._last_text = ""
        self._odd = b""

    @property
    def _audio_ms(self) -> float:
        return 1000.0 * self._fed / (2 * self.sample_rate)

    def feed(self, pcm: bytes) -> STTResult | None:
        if self._odd:
            pcm = self._odd + pcm
            self._odd = b""
        if len(pcm) % 2:
            pcm, self._odd = pcm[:-1], pcm[-1:]
        if not pcm:
            return None
        if self._noise_floor > 0:
            pcm = self._with_floor(pcm)
        dec = self._decoder
        if not self._in_utt:
            dec.start_utt()  # type: ignore[attr-defined]
            self._in_utt = True
        step = self._piece
        for i in range(0, len(pcm), step):
            dec.process_raw(pcm[i : i + step], False, False)  # type: ignore[attr-defined]
        self._fed += len(pcm)
        self._since_interim += len(pcm)
        if self._since_interim < self._interim_bytes:
            return None
        self._since_interim = 0
        hyp = dec.hyp()  # type: ignore[attr-defined]
        text = hyp.hypstr.strip() if hyp is not None else ""
        if not text or text == self._last_text:
            return None
        self._last_text = text
        return STTResult(text, final=False, audio_ms=self._audio_ms)

    def _with_floor(self, pcm: bytes) -> bytes:
        """``pcm`` with :data:`~beluga_voice.stt.pocketsphinx.NOISE_FLOOR`-style white noise of ``noise_floor`` RMS added."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        samples += self._rng.normal(0.0, self._noise_floor, samples.size).astype(np.float32)
        return np.clip(samples, -32768, 32767).astype("<i2").tobytes()

    def finish(self) -> STTResult:
        audio_ms = self._audio_ms
        text = ""
        if self._in_utt:
            dec = self._decoder
            dec.end_utt()  # type: ignore[attr-defined]
            hyp = dec.hyp()  # type: ignore[attr-defined]
            text = hyp.hypstr.strip() if hyp is not None else ""
        self._clear()
        return STTResult(text, final=True, audio_ms=audio_ms)

    def reset(self) -> None:
        if self._in_utt:
            self._decoder.end_utt()  # type: ignore[attr-defined]
        self._clear()

    def _clear(self) -> None:
        self._in_utt = False
        self._fed = self._since_interim = 0
        self._last_text = ""
        self._odd = b""

    def close(self) -> None:
        self.reset()
        # Free the decoder (several MB) now rather than when the session is collected,
        # and give the memory back: see release_native_memory.
        self._decoder = None
        release_native_memory()


class PocketSphinxSTT(STTEngine):
    """The embedded engine.

    ``phrases`` narrows recognition to a domain: a small language model is built from
    them (see :mod:`beluga_voice.stt.domain`), which is far more accurate when users stick
    to what the application understands, and cannot recognise anything else.  Without
    phrases the general English model is used.  ``hmm``, ``lm`` and ``dictionary``
    override the bundled model files; ``interim_ms`` paces interim results;
    ``noise_floor`` is the RMS of the noise added before decoding (see :data:`~beluga_voice.stt.pocketsphinx.NOISE_FLOOR`;
    0 adds none).
    """

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        interim_ms: float = 300.0,
        hmm: str | os.PathLike[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
        dictionary: str | os.PathLike[str] | None = None,
        phrases: Sequence[str] | None = None,
        noise_floor: float = NOISE_FLOOR,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"pocketsphinx models take 8000 or 16000 Hz, got {sample_rate}")
        if interim_ms <= 0:
            raise ValueError(f"interim_ms must be positive, got {interim_ms}")
        if not 0 <= noise_floor < 1000:
            raise ValueError(f"noise_floor must be 0-1000 PCM16 steps, got {noise_floor}")
        self.noise_floor = noise_floor
        self.sample_rate = sample_rate
        self.interim_ms = interim_ms
        self._paths = {"hmm": hmm, "lm": lm, "dict": dictionary}
        for key, path in self._paths.items():
            if path is not None and not Path(path).exists():
                raise FileNotFoundError(f"pocketsphinx {key} not found: {path}")
        if phrases is not None and lm is not None:
            raise ValueError("give either phrases (a domain model) or lm, not both")
        self.phrases = tuple(phrases) if phrases is not None else None
        self.domain: DomainModel | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._build_lock = threading.Lock()

    def _domain_paths(self) -> dict[str, str]:
        """Build the domain model once (thread-safe); its files live as long as the engine."""
        if self.phrases is None:
            return {}
        with self._build_lock:
            if self.domain is None:
                from pocketsphinx import get_model_path

                base = Path(
                    self._paths["dict"] or Path(get_model_path(), "en-us", "cmudict-en-us.dict")
                )
                self._tmp = tempfile.TemporaryDirectory(prefix="beluga-stt-")
                self.domain = build_domain_model(self.phrases, Path(self._tmp.name), base)
        return {"lm": str(self.domain.lm), "dict": str(self.domain.dictionary)}

    def open_stream(self) -> PocketSphinxStream:
        from pocketsphinx import Decoder

        kwargs: dict[str, object] = {"samprate": self.sample_rate, "logfn": os.devnull}
        kwargs.update({k: str(v) for k, v in self._paths.items() if v is not None})
        domain = self._domain_paths()
        if domain:
            # The second (flat-lexicon) decoding pass runs in end_utt() holding the GIL for
            # up to 140 ms, stalling the event loop.  On a small domain model it buys no
            # accuracy (WER 12.5/2.9/11.6% without it vs 12.5/2.9/14.5% with it on
            # benchmarks/offline_voice.py's sets) and costs 5x the time, so it is off; the
            # general model keeps it (its WER rises from 42-69% to 61-88% without it).
            kwargs["fwdflat"] = False
        kwargs.update(domain)
        return PocketSphinxStream(
            Decoder(**kwargs), self.sample_rate, self.interim_ms, self.noise_floor
        )
