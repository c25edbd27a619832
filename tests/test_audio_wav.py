"""WAV read / write: every supported format round trips; bad files fail clearly."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beluga_voice.audio import read_wav, read_wav_pcm16, write_wav, write_wav_pcm16

RNG = np.random.default_rng(7)
SIGNAL = RNG.uniform(-0.9, 0.9, size=(257, 2))


@pytest.mark.parametrize(
    ("bits", "encoding", "tol"),
    [
        (8, "int", 1 / 128),
        (16, "int", 1 / 32768),
        (24, "int", 2e-7),
        (32, "int", 1e-7),
        (32, "float", 1e-7),
        (64, "float", 1e-7),
    ],
)
@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip(bits: int, encoding: str, tol: float, channels: int, tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    data = write_wav(path, SIGNAL[:, :channels], 22050, bits=bits, encoding=encoding)  # type: ignore[arg-type]
    assert path.read_bytes() == data
    samples, fmt = read_wav(path)
    assert (fmt.sample_rate, fmt.channels, fmt.bits, fmt.encoding) == (
        22050,
        channels,
        bits,
        encoding,
    )
    assert samples.shape == (257, channels)
    assert np.abs(samples - SIGNAL[:, :channels]).max() <= tol + 1e-7


def test_pcm16_round_trip_is_exact_and_readable_by_stdlib_wave() -> None:
    import wave

    pcm = RNG.integers(-32768, 32767, size=3000, dtype=np.int16).astype("<i2").tobytes()
    data = write_wav_pcm16(None, pcm, 48000, channels=2)
    assert read_wav_pcm16(data) == (pcm, 48000, 2)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 2, 2)
        assert w.readframes(w.getnframes()) == pcm


def test_odd_sized_chunks_before_data_are_skipped() -> None:
    data = write_wav(None, SIGNAL[:10, 0], 16000)
    fmt_end = 12 + 8 + 16
    odd = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"
    patched = data[:fmt_end] + odd + data[fmt_end:]
    patched = patched[:4] + struct.pack("<I", len(patched) - 8) + patched[8:]
    samples, _ = read_wav(patched)
    assert np.allclose(samples[:, 0], SIGNAL[:10, 0], atol=1 / 32768)


def test_extensible_format_is_read() -> None:
    pcm = np.array([0, 1000, -1000, 32767], "<i2").tobytes()
    guid = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 16000, 2, 16, 22, 16, 4) + guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    assert read_wav_pcm16(b"RIFF" + struct.pack("<I", len(body)) + body) == (pcm, 8000, 1)


def test_streaming_writer_size_placeholder_reads_to_end() -> None:
    data = bytearray(write_wav(None, SIGNAL[:50, 0], 16000))
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    samples, _ = read_wav(bytes(data))
    assert samples.shape == (50, 1)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: b"RIFX" + d[4:], "RIFF/WAVE"),
        (lambda d: d[:10], "RIFF/WAVE"),
        (lambda d: d[:36], "no data chunk"),
        (lambda d: d[:12], "no fmt chunk"),
        (lambda d: d[:20] + struct.pack("<H", 2) + d[22:], "encoding tag 0x0002"),
        (lambda d: d[:34] + struct.pack("<H", 12) + d[36:], "12 bits"),
        (lambda d: d[:24] + struct.pack("<I", 0) + d[28:], "outside the supported"),
        (lambda d: d[:40] + struct.pack("<I", 10**6) + d[44:], "claims 1000000 bytes"),
        (lambda d: d[:32] + struct.pack("<H", 7) + d[34:], "block align"),
    ],
)
def test_bad_files_give_clear_errors(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    good = write_wav(None, SIGNAL[:20, 0], 16000)
    with pytest.raises(ValueError, match=match):
        read_wav(mutate(good))


def test_nan_in_float_wav_is_rejected() -> None:
    data = bytearray(write_wav(None, SIGNAL[:4, 0], 16000, bits=32, encoding="float"))
    data[44:48] = struct.pack("<f", float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        read_wav(bytes(data))


def test_write_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        write_wav(None, [0.0, float("inf")], 16000)
    with pytest.raises(ValueError, match="12-bit"):
        write_wav(None, [0.0], 16000, bits=12)
    with pytest.raises(ValueError, match="shape"):
        write_wav(None, np.zeros((2, 2, 2)), 16000)
    with pytest.raises(ValueError, match="sample rate"):
        write_wav(None, [0.0], 12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzzed_headers_only_raise_value_error(tail: bytes) -> None:
    for data in (tail, b"RIFF\x00\x00\x00\x00WAVE" + tail):
        try:
            samples, fmt = read_wav(data)
        except ValueError:
            continue
        assert samples.shape[1] == fmt.channels


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.binary(min_size=1, max_size=4))
def test_fuzzed_byte_flips_only_raise_value_error(pos: int, junk: bytes) -> None:
    good = write_wav(None, SIGNAL[:8], 16000, bits=24)
    data = good[:pos] + junk + good[pos + len(junk) :]
    try:
        samples, fmt = read_wav(data)
    except ValueError:
        return
    assert samples.ndim == 2 and samples.shape[1] == fmt.channels
    assert np.isfinite(samples).all()
