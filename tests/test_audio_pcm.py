"""PCM16 <-> float, channel mixing, gain and levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.audio import (
    apply_gain,
    check_rate,
    convert_channels,
    dbfs,
    float_to_pcm16,
    pcm16_to_float,
    peak,
    rms,
)

int16s = st.lists(st.integers(-32768, 32767), max_size=400)


def pcm(values: list[int]) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


@given(int16s)
def test_pcm_float_round_trip_is_exact(values: list[int]) -> None:
    data = pcm(values)
    floats = pcm16_to_float(data)
    assert floats.dtype == np.float32
    assert np.all(floats >= -1.0) and np.all(floats < 1.0)
    assert float_to_pcm16(floats) == data


@given(st.lists(st.floats(-4.0, 4.0, allow_nan=False), max_size=200))
def test_float_to_pcm16_clips_and_rounds(values: list[float]) -> None:
    out = np.frombuffer(float_to_pcm16(values), dtype="<i2").astype(np.int64)
    expected = np.clip(np.rint(np.asarray(values) * 32768.0), -32768, 32767)
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_float_input_is_a_clear_error(bad: float) -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        float_to_pcm16([0.1, bad, 0.2])


def test_odd_byte_count_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="3 bytes"):
        pcm16_to_float(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="2 channel"):
        pcm16_to_float(b"\x00" * 6, channels=2)


def test_empty_input_is_fine() -> None:
    assert pcm16_to_float(b"").size == 0
    assert float_to_pcm16([]) == b""
    assert peak(b"") == 0.0 and rms(b"") == 0.0
    assert convert_channels(b"", 2, 1) == b""


@given(st.lists(st.tuples(st.integers(-32768, 32767), st.integers(-32768, 32767)), max_size=100))
def test_stereo_to_mono_averages(pairs: list[tuple[int, int]]) -> None:
    data = pcm([v for pair in pairs for v in pair])
    mono = np.frombuffer(convert_channels(data, 2, 1), dtype="<i2")
    for (a, b), m in zip(pairs, mono, strict=True):
        assert abs(int(m) - (a + b) / 2) <= 0.5


def test_mono_to_stereo_duplicates_and_back_is_identity() -> None:
    data = pcm([1, -2, 300, -32768, 32767])
    stereo = convert_channels(data, 1, 2)
    expected = [1, 1, -2, -2, 300, 300, -32768, -32768, 32767, 32767]
    assert np.frombuffer(stereo, dtype="<i2").tolist() == expected
    assert convert_channels(stereo, 2, 1) == data


def test_unsupported_channel_mix_says_so() -> None:
    with pytest.raises(ValueError, match="cannot mix 6 channels to 2"):
        convert_channels(bytes(24), 6, 2)
    with pytest.raises(ValueError, match="channels"):
        convert_channels(bytes(4), 1, 0)


def test_gain_scales_and_saturates() -> None:
    data = pcm([1000, -1000, 20000])
    louder = np.frombuffer(apply_gain(data, 6.0206), dtype="<i2").tolist()
    assert louder == [2000, -2000, 32767]
    assert np.frombuffer(apply_gain(data, -6.0206), dtype="<i2").tolist() == [500, -500, 10000]
    with pytest.raises(ValueError, match="finite"):
        apply_gain(data, math.nan)


def test_peak_rms_and_dbfs() -> None:
    full_square = pcm([32767, -32768] * 50)
    assert peak(full_square) == 1.0
    assert rms(full_square) == pytest.approx(1.0, abs=1e-4)
    sine = (np.sin(np.arange(1600) * 2 * np.pi / 16) * 16384).astype("<i2").tobytes()
    assert rms(sine) == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)
    assert dbfs(rms(sine)) == pytest.approx(-9.03, abs=0.05)
    assert dbfs(0.0) == -120.0


@pytest.mark.parametrize("rate", [0, -16000, 500, 10_000_000, 16000.5, "16000", True])
def test_unsupported_rates_are_clear_errors(rate: object) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        check_rate(rate)


def test_supported_rates_pass() -> None:
    assert check_rate(8000) == 8000
    assert check_rate(np.int64(44100)) == 44100
