"""VAD accuracy on the labelled espeak corpus: segment F1 and onset / offset errors.

The full table for every analyser and SNR is printed by ``benchmarks/vad_accuracy.py``;
here the targets are asserted: the default (energy) analyser on clean speech must find
every sentence, date its onset within 60 ms, and decide the end within stop_secs + 60 ms.
"""

from __future__ import annotations

import math

import pytest

from beluga_voice.audio.vad import (
    EnergyAnalyzer,
    SpeechSegment,
    TenVADAnalyzer,
    VADParams,
    WebRTCAnalyzer,
)
from beluga_voice.testing.speech_corpus import build_corpus, make_clip
from beluga_voice.testing.vad_scoring import VADScore, score_clip, score_segments

CORPUS = build_corpus(snrs=(10.0,))
CLEAN = [c for c in CORPUS if c.noise == "clean"]


def test_corpus_is_labelled_sensibly() -> None:
    names = [c.name for c in CORPUS]
    assert names == ["clean", "clean", "white@10dB", "babble@10dB"]
    for clip in CORPUS:
        assert len(clip.segments) == 3
        assert all(b - a > 1.0 for a, b in clip.segments)  # whole sentences
        gaps = [b[0] - a[1] for a, b in zip(clip.segments, clip.segments[1:], strict=False)]
        assert all(g == pytest.approx(1.6, abs=1e-3) for g in gaps)
    # the SNR is what it says: noise only where speech is absent
    white = CORPUS[2]
    lead = white.audio[: int(0.9 * white.sample_rate)].astype(float)
    a, b = white.segments[0]
    voiced = white.audio[int(a * 16000) : int(b * 16000)].astype(float)
    snr = 10 * math.log10((voiced**2).mean() / (lead**2).mean() - 1)
    assert snr == pytest.approx(10.0, abs=1.0)


def test_default_energy_vad_meets_the_targets_on_clean_speech() -> None:
    params = VADParams()
    score = VADScore.combine([score_clip(c, EnergyAnalyzer(), params) for c in CLEAN])
    assert score.f1 == 1.0
    assert score.onset_err_ms <= 60.0
    assert 0.0 <= score.offset_err_ms <= params.stop_secs * 1000 + 60.0


@pytest.mark.parametrize(
    ("analyzer", "clips"),
    [(WebRTCAnalyzer, CLEAN), (TenVADAnalyzer, CLEAN), (TenVADAnalyzer, CORPUS[2:3])],
    ids=["webrtc-clean", "ten-clean", "ten-white10"],
)
def test_other_analysers(analyzer: type, clips: list) -> None:  # type: ignore[type-arg]
    score = VADScore.combine([score_clip(c, analyzer()) for c in clips])
    assert score.f1 == 1.0
    assert score.onset_err_ms <= 150.0


def test_neural_vad_beats_energy_in_white_noise() -> None:
    white = make_clip("white", 5.0, seed=3)
    energy, neural = score_clip(white, EnergyAnalyzer()), score_clip(white, TenVADAnalyzer())
    assert neural.f1 == 1.0
    assert neural.f1 > energy.f1 or neural.onset_err_ms < energy.onset_err_ms


def test_scoring_counts_merges_and_splits() -> None:
    truth = [(1.0, 2.0), (3.0, 4.0)]
    merged = [SpeechSegment(1.0, 4.0, 1.2, 4.8)]
    score = score_segments(merged, truth)
    assert (score.matched, score.detected, score.truth) == (1, 1, 2)
    assert score.f1 == pytest.approx(2 / 3)
    split = [SpeechSegment(1.0, 1.4, 1.2, 2.2), SpeechSegment(1.6, 2.0, 1.8, 2.8)]
    score = score_segments([*split, SpeechSegment(3.05, 4.0, 3.25, 4.8)], truth)
    assert (score.matched, score.detected) == (2, 3)
    assert score.onset_err_ms == pytest.approx(25.0)
    assert score.offset_err_ms == pytest.approx((200.0 + 800.0) / 2)
    assert score_segments([], truth).f1 == 0.0
