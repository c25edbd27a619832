"""StreamResampler: chunking-independence, exact lengths, rate changes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.audio.resample import StreamResampler

RATES = [8000, 11025, 16000, 22050, 24000, 44100, 48000]


def sine(rate: int, seconds: float, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2")


def run_chunked(rs: StreamResampler, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, i, k = [], 0, 0
    while i < x.size:
        n = sizes[k % len(sizes)]
        out.append(rs.process(x[i : i + n].tobytes()))
        i += n
        k += 1
    out.append(rs.flush())
    return np.frombuffer(b"".join(out), dtype="<i2").astype(np.float64) / 32768


@pytest.mark.parametrize(("a", "b"), [(48000, 16000), (16000, 24000), (44100, 16000)])
def test_random_chunks_match_whole_signal(a: int, b: int) -> None:
    x = sine(a, 1.5, hz=997.0)
    sizes = np.random.default_rng(a + b).integers(0, 1500, size=200).tolist()
    streamed = run_chunked(StreamResampler(a, b), x, sizes)
    whole = soxr.resample(x.astype(np.float32) / 32768, a, b, quality="HQ")
    assert streamed.size == whole.size == round(x.size * b / a)
    delay = 64  # the filter's settling at the very edges
    assert np.abs(streamed[delay:-delay] - whole[delay:-delay]).max() < 1e-3
    # and it is a 997 Hz sine at the new rate
    t = np.arange(streamed.size) / b
    ref = 0.5 * np.sin(2 * np.pi * 997.0 * t)
    assert np.abs(streamed[delay:-delay] - ref[delay:-delay]).max() < 2e-3


@settings(max_examples=40, deadline=None)
@given(
    a=st.sampled_from(RATES),
    b=st.sampled_from(RATES),
    sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=20),
)
def test_output_length_ratio(a: int, b: int, sizes: list[int]) -> None:
    rs = StreamResampler(a, b, quality="LQ")
    total_in = total_out = 0
    for n in sizes:
        total_out += len(rs.process(bytes(2 * n))) // 2
        total_in += n
        # never ahead of the ideal count, never behind by more than the filter delay
        assert total_out <= total_in * b / a + 1
    total_out += len(rs.flush()) // 2
    assert rs.samples_in == total_in and rs.samples_out == total_out
    assert abs(total_out - total_in * b / a) <= 0.5  # exact up to rounding the last half


def test_an_hour_of_audio_keeps_an_exact_count() -> None:
    a, b = 22050, 16000  # a non-integer ratio: the hard case for drift
    rs = StreamResampler(a, b)
    rng = np.random.default_rng(3)
    silence = bytes(2 * a * 8)
    total_in = total_out = biggest = 0
    while total_in < 3600 * a:
        n = min(int(rng.integers(1, a * 8)), 3600 * a - total_in)
        out = len(rs.process(silence[: 2 * n])) // 2
        total_in += n
        total_out += out
        biggest = max(biggest, out)
        assert abs(total_out - total_in * b / a) <= biggest
    total_out += len(rs.flush()) // 2
    assert total_in == 3600 * a
    assert total_out == 3600 * b


def test_input_rate_change_mid_stream() -> None:
    rs = StreamResampler(48000, 16000)
    first = sine(48000, 0.5)
    second = sine(8000, 0.5)
    out = rs.process(first.tobytes())
    out += rs.set_input_rate(8000)
    assert len(out) // 2 == 8000  # the old filter was drained: nothing of part 1 lost
    out += rs.process(second.tobytes()) + rs.flush()
    assert len(out) // 2 == 16000
    y = np.frombuffer(out, dtype="<i2").astype(np.float64) / 32768
    t = np.arange(8000) / 16000
    ref = 0.5 * np.sin(2 * np.pi * 440 * t)
    assert np.abs(y[8100:15900] - ref[100:7900]).max() < 2e-3
    assert rs.set_input_rate(8000) == b""


def test_same_rate_passes_through_untouched() -> None:
    rs = StreamResampler(16000, 16000)
    data = sine(16000, 0.1).tobytes()
    assert rs.process(data) == data
    assert rs.flush() == b""


def test_stereo() -> None:
    left, right = sine(48000, 0.3, 300.0), sine(48000, 0.3, 900.0)
    inter = np.stack([left, right], axis=1).astype("<i2").tobytes()
    rs = StreamResampler(48000, 24000, channels=2)
    out = np.frombuffer(rs.process(inter) + rs.flush(), dtype="<i2").reshape(-1, 2)
    assert out.shape == (7200, 2)
    assert rs.samples_out == 7200
    ref_l = soxr.resample(left.astype(np.float32), 48000, 24000)
    assert np.abs(out[:, 0] - ref_l).max() < 40  # 1e-3 of full scale


def test_reset_drops_state() -> None:
    rs = StreamResampler(16000, 8000)
    rs.process(sine(16000, 0.2).tobytes())
    rs.reset()
    out = rs.process(bytes(3200)) + rs.flush()
    assert np.abs(np.frombuffer(out, dtype="<i2")).max() <= 1  # dither only, no old signal


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="3 bytes, not a multiple of 2 bytes"):
        StreamResampler(16000, 8000).process(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="2 channel"):
        StreamResampler(16000, 8000, channels=2).process(bytes(6))
    with pytest.raises(ValueError, match="input sample rate"):
        StreamResampler(0, 8000)
    with pytest.raises(ValueError, match="output sample rate"):
        StreamResampler(16000, 10**7)
    with pytest.raises(ValueError, match="input sample rate"):
        StreamResampler(16000, 8000).set_input_rate(-5)
    with pytest.raises(ValueError, match="quality"):
        StreamResampler(16000, 8000, quality="best")
    assert StreamResampler(16000, 8000).process(b"") == b""


def test_public_fallback_gives_the_same_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """If a soxr release drops the bound C method, the public path gives the same audio."""
    from beluga_voice.audio import resample

    class Plain:
        def __init__(self, inner: soxr.ResampleStream) -> None:
            self.resample_chunk = inner.resample_chunk

    assert (
        resample._bind_process(Plain(soxr.ResampleStream(16000, 8000, 1, dtype="int16"))).__name__
        == "resample_chunk"
    )  # type: ignore[arg-type]
    x = sine(48000, 0.3)
    sizes = [960, 17, 0, 4000]
    fast = run_chunked(StreamResampler(48000, 16000), x, sizes)
    monkeypatch.setattr(resample, "_bind_process", lambda stream: stream.resample_chunk)
    slow_rs = StreamResampler(48000, 16000)
    slow = run_chunked(slow_rs, x, sizes)
    assert slow.size == fast.size == 4800 == slow_rs.samples_out
    assert np.abs(slow - fast).max() <= 2 / 32768  # identical up to the dither


def test_memoryview_and_bytearray_input() -> None:
    x = sine(16000, 0.2).tobytes()
    ref = StreamResampler(16000, 8000)
    want = ref.process(x) + ref.flush()
    for wrap in (bytearray, memoryview, lambda b: memoryview(b).cast("h")):
        rs = StreamResampler(16000, 8000)
        got = rs.process(wrap(x)) + rs.flush()
        assert len(got) == len(want) == 3200
        assert rs.samples_in == 3200 and rs.samples_out == 1600
