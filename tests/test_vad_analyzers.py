"""VAD analysers: input validation, behaviour on silence / tone / noise / speech."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.audio.vad import (
    Analyzer,
    EnergyAnalyzer,
    SileroVADAnalyzer,
    TenVADAnalyzer,
    WebRTCAnalyzer,
    analyze_frames,
    as_pcm16_frame,
)
from beluga_voice.testing.speech_corpus import speech

ANALYSERS = [EnergyAnalyzer, WebRTCAnalyzer, TenVADAnalyzer, SileroVADAnalyzer]


def frames(x: np.ndarray, n: int) -> list[np.ndarray]:
    return [x[i : i + n] for i in range(0, x.size - n + 1, n)]


def run(analyzer: Analyzer, x: np.ndarray) -> np.ndarray:
    return np.array([analyzer.analyze(f) for f in frames(x, analyzer.frame_samples)])


def test_frame_validation_errors() -> None:
    with pytest.raises(ValueError, match="odd byte count"):
        as_pcm16_frame(b"\x00" * 3, 1)
    with pytest.raises(ValueError, match="has 2 samples, the analyser needs 160"):
        as_pcm16_frame(b"\x00" * 4, 160)
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_pcm16_frame(np.array([0.0, np.nan]), 2)
    with pytest.raises(ValueError, match="1-D mono"):
        as_pcm16_frame(np.zeros((2, 2), np.int16), 4)
    with pytest.raises(ValueError, match="dtype int64"):
        as_pcm16_frame(np.zeros(4, np.int64), 4)


def test_float_and_pcm_inputs_agree() -> None:
    x = (np.sin(np.arange(160) / 3) * 0.3).astype(np.float32)
    a, b = EnergyAnalyzer(), EnergyAnalyzer()
    pcm = np.rint(x * 32768).astype("<i2")
    assert a.analyze(x) == b.analyze(pcm.tobytes())


@pytest.mark.parametrize("cls", ANALYSERS)
def test_silence_is_not_speech_and_speech_is(cls: type[Analyzer]) -> None:
    analyzer = cls()  # type: ignore[call-arg]
    quiet = run(analyzer, np.zeros(16000, np.int16))
    assert quiet.max() < 0.3  # TEN VAD idles at about 0.16, the others at 0
    voiced = run(analyzer, np.asarray(speech("Hello there, how are you today?")))
    assert (voiced >= 0.7).mean() > 0.5


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 15))
def test_any_frame_gives_a_confidence_in_range(seed: int, bits: int) -> None:
    rng = np.random.default_rng(seed)
    for cls in ANALYSERS:
        analyzer = cls()  # type: ignore[call-arg]
        frame = rng.integers(-(2**bits), 2**bits, analyzer.frame_samples).astype(np.int16)
        assert 0.0 <= analyzer.analyze(frame) <= 1.0


def test_energy_adapts_to_steady_noise() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(16000 * 4) * 600).astype(np.int16)  # about -35 dBFS
    x = np.concatenate([np.zeros(16000, np.int16), noise])
    conf = run(EnergyAnalyzer(floor_window_secs=1.0), x)
    assert conf[:100].max() == 0.0
    assert conf[100:110].min() == 1.0  # a new sound, loud compared with the quiet room
    assert conf[205:].max() < 0.1  # once the silence left the window, noise is the floor


def test_energy_works_at_any_rate_and_resets() -> None:
    analyzer = EnergyAnalyzer(44100, frame_ms=20)
    assert analyzer.frame_samples == 882
    tone = (np.sin(np.arange(882) / 5) * 8000).astype(np.int16)
    assert analyzer.analyze(tone) == 1.0
    analyzer.reset()
    assert analyzer.floor_dbfs == analyzer.initial_floor_dbfs
    with pytest.raises(ValueError, match="whole number"):
        EnergyAnalyzer(44100, frame_ms=10.01)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: WebRTCAnalyzer(22050), "supports"),
        (lambda: WebRTCAnalyzer(frame_ms=15), "10, 20 or 30"),
        (lambda: WebRTCAnalyzer(mode=4), "mode"),
        (lambda: TenVADAnalyzer(8000), "16000 Hz only"),
        (lambda: TenVADAnalyzer(hop_size=100), "hop_size"),
        (lambda: EnergyAnalyzer(0), "sample rate"),
    ],
)
def test_unsupported_settings_are_clear_errors(factory, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        factory()


def test_neural_vad_tells_noise_from_speech() -> None:
    rng = np.random.default_rng(2)
    noise = (rng.standard_normal(16000 * 2) * 3000).astype(np.int16)
    x = np.concatenate([np.zeros(8000, np.int16), noise])
    assert run(TenVADAnalyzer(), x).max() < 0.7
    assert run(EnergyAnalyzer(), x)[50:60].min() == 1.0  # the energy VAD cannot


def test_analysers_reset() -> None:
    for cls in ANALYSERS:
        analyzer = cls()  # type: ignore[call-arg]
        run(analyzer, np.asarray(speech("reset me")))
        analyzer.reset()
        assert analyzer.analyze(np.zeros(analyzer.frame_samples, np.int16)) < 0.3
        assert isinstance(analyzer, Analyzer)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12))
def test_vectorised_energy_matches_frame_by_frame(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    block = (rng.standard_normal((n, 160)) * rng.uniform(0, 8000, (n, 1))).astype(np.int16)
    one, many = EnergyAnalyzer(), EnergyAnalyzer()
    expected = [one.analyze(row) for row in block]
    got = analyze_frames(many, block)
    assert got == pytest.approx(expected, abs=1e-4)  # float32 sums in another order
    assert many.floor_dbfs == pytest.approx(one.floor_dbfs, abs=1e-4)
    with pytest.raises(ValueError, match="expected"):
        many.analyze_many(block[:, :100])


def test_neural_gate_skips_quiet_frames_and_replays_them() -> None:
    gated = TenVADAnalyzer(gate_dbfs=-60.0)
    quiet = np.full(256, 20, np.int16)  # about -64 dBFS
    for _ in range(10):
        assert gated.analyze(quiet) == 0.0
    assert gated.network_frames == 0
    loud = (np.sin(np.arange(256) / 3) * 6000).astype(np.int16)
    assert 0.0 <= gated.analyze(loud) <= 1.0
    assert gated.network_frames == TenVADAnalyzer._REPLAY + 1  # context refreshed first
    gated.analyze(loud)
    assert gated.network_frames == TenVADAnalyzer._REPLAY + 2
    assert TenVADAnalyzer().gate_dbfs is None  # off unless asked for
    with pytest.raises(ValueError, match="gate_dbfs"):
        TenVADAnalyzer(gate_dbfs=3.0)


def test_neural_gate_keeps_the_decisions_on_speech_after_silence() -> None:
    from beluga_voice.audio.vad import detect_speech
    from beluga_voice.testing.speech_corpus import make_clip

    pcm = make_clip("clean", sentences=["Good morning, everyone.", "See you soon."]).audio
    pcm = np.asarray(pcm).astype("<i2").tobytes()
    gated = TenVADAnalyzer(gate_dbfs=-60.0)
    raw = detect_speech(pcm, 16000, analyzer=TenVADAnalyzer())
    got = detect_speech(pcm, 16000, analyzer=gated)
    assert len(got) == len(raw) == 2
    for g, r in zip(got, raw, strict=True):
        assert g.start == pytest.approx(r.start, abs=0.04)
        assert g.end == pytest.approx(r.end, abs=0.04)
    assert gated.network_frames < 0.8 * (len(pcm) // 512)  # the silences were skipped
