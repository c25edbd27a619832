"""Silero VAD on onnxruntime: accuracy on the corpus, per-stream state, chunking."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.audio.vad import (
    EnergyAnalyzer,
    SileroVADAnalyzer,
    VADParams,
    VADStream,
    detect_speech,
)
from beluga_voice.audio.vad.silero import packaged_model_path
from beluga_voice.testing.speech_corpus import build_corpus, make_clip, speech
from beluga_voice.testing.vad_scoring import VADScore, score_clip

CORPUS = build_corpus(snrs=(10.0, 5.0))
HELLO = np.asarray(speech("Hello there, how are you today?"))


def confidences(analyzer: SileroVADAnalyzer, x: np.ndarray) -> list[float]:
    n = analyzer.frame_samples
    return [analyzer.analyze(x[i : i + n]) for i in range(0, x.size - n + 1, n)]


def test_model_file_comes_from_the_wheel_and_one_session_serves_all() -> None:
    path = packaged_model_path()
    assert path.name == "silero_vad.onnx" and path.stat().st_size > 1_000_000
    a, b = SileroVADAnalyzer(), SileroVADAnalyzer(8000)
    assert a.model_path == b.model_path == path.resolve()
    assert a._owner is b._owner  # one engine owner for the process's one session
    opts = a._model.session.get_session_options()
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (1, 1)
    assert (a.frame_samples, b.frame_samples) == (512, 256)


@pytest.mark.parametrize("noise", ["clean", "white@10dB", "white@5dB"])
def test_finds_every_sentence_and_no_more(noise: str) -> None:
    clips = [c for c in CORPUS if c.name == noise]
    score = VADScore.combine([score_clip(c, SileroVADAnalyzer()) for c in clips])
    assert score.f1 == 1.0
    assert score.onset_err_ms <= 150.0


def test_silence_and_noise_alone_are_not_speech() -> None:
    rng = np.random.default_rng(1)
    silence = np.zeros(16000, np.int16)
    noise = rng.normal(0, 1000, 32000).clip(-32768, 32767).astype(np.int16)
    for x in (silence, noise):
        assert max(confidences(SileroVADAnalyzer(), x)) < 0.3
    voiced = np.array(confidences(SileroVADAnalyzer(), HELLO))
    assert (voiced >= 0.7).mean() > 0.5


def test_beats_energy_in_white_noise_at_5_db() -> None:
    white = make_clip("white", 5.0, seed=3)
    silero, energy = score_clip(white, SileroVADAnalyzer()), score_clip(white, EnergyAnalyzer())
    assert silero.f1 == 1.0
    assert silero.f1 > energy.f1 or silero.onset_err_ms < energy.onset_err_ms


def test_runs_at_8_khz() -> None:
    clip = next(c for c in CORPUS if c.name == "white@10dB")
    analyzer = SileroVADAnalyzer(8000)  # 256-sample windows; the stream resamples to 8 kHz
    segments = detect_speech(clip.pcm, clip.sample_rate, analyzer=analyzer)
    assert len(segments) == len(clip.segments)
    for seg, (start, _end) in zip(segments, clip.segments, strict=True):
        assert abs(seg.start - start) < 0.15


def test_state_is_kept_per_stream_and_reset_forgets_it() -> None:
    fresh = confidences(SileroVADAnalyzer(), HELLO[:4096])
    analyzer = SileroVADAnalyzer()
    confidences(analyzer, HELLO)  # history: a whole sentence
    after_speech = confidences(analyzer, HELLO[:4096])
    assert not np.allclose(after_speech, fresh, atol=1e-3)  # the state carried over
    analyzer.reset()
    assert confidences(analyzer, HELLO[:4096]) == pytest.approx(fresh, abs=1e-6)


def test_two_streams_interleaved_are_independent() -> None:
    other = np.asarray(make_clip("white", 10.0, seed=5).audio[: HELLO.size])
    solo_a = confidences(SileroVADAnalyzer(), HELLO)
    solo_b = confidences(SileroVADAnalyzer(), other)
    a, b = SileroVADAnalyzer(), SileroVADAnalyzer()
    mixed_a, mixed_b = [], []
    for i in range(0, HELLO.size - 511, 512):
        mixed_a.append(a.analyze(HELLO[i : i + 512]))
        mixed_b.append(b.analyze(other[i : i + 512]))
    assert mixed_a == pytest.approx(solo_a, abs=1e-6)
    assert mixed_b == pytest.approx(solo_b, abs=1e-6)


CHUNK_AUDIO = np.asarray(make_clip("white", 10.0, seed=2).audio[: 16000 * 4]).tobytes()


def events_for(chunks: list[bytes]) -> list[tuple[str, float, float]]:
    stream = VADStream(SileroVADAnalyzer(), VADParams(start_secs=0.1, stop_secs=0.3))
    out = []
    for c in chunks:
        out.extend((e.kind.value, e.speech_time, e.at) for e in stream.feed(c, 16000))
    return out


WHOLE_WINDOWS = events_for([CHUNK_AUDIO[i : i + 1024] for i in range(0, len(CHUNK_AUDIO), 1024)])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 4000), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_events(sizes: list[int]) -> None:
    chunks, i, k = [], 0, 0
    while i < len(CHUNK_AUDIO):
        step = 2 * sizes[k % len(sizes)]
        chunks.append(CHUNK_AUDIO[i : i + step])
        i, k = i + step, k + 1
    assert events_for(chunks) == WHOLE_WINDOWS
    assert WHOLE_WINDOWS  # the clip has speech: the comparison is not of two empty lists


def test_bad_input_and_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="16000 or 8000"):
        SileroVADAnalyzer(44100)
    with pytest.raises(ValueError, match="has 160 samples, the analyser needs 512"):
        SileroVADAnalyzer().analyze(np.zeros(160, np.int16))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"beluga-voice\[vad\]"):
        SileroVADAnalyzer()
