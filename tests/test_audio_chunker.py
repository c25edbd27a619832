"""The re-chunker: fixed frames from any chunking, nothing lost or repeated."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.audio import Rechunker, frame_bytes


@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 3000), max_size=30),
    frame_samples=st.integers(1, 500),
)
def test_no_byte_lost_or_duplicated_for_any_chunking(
    data: bytes, cuts: list[int], frame_samples: int
) -> None:
    data = data[: len(data) - len(data) % 2]
    size = 2 * frame_samples
    chunker = Rechunker(size)
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    frames: list[bytes] = []
    for a, b in itertools.pairwise(bounds):
        frames += chunker.feed(data[a:b])
        assert chunker.pending < size
    assert all(len(f) == size for f in frames)
    rest = chunker.flush()
    assert b"".join(frames) + rest == data
    assert len(frames) == len(data) // size
    assert chunker.pending == 0


def test_zero_length_chunks_are_harmless() -> None:
    chunker = Rechunker.for_duration(16000, 20)
    assert chunker.frame_size == 640
    assert chunker.feed(b"") == []
    assert chunker.feed(bytes(639)) == []
    assert chunker.feed(b"") == []
    assert chunker.feed(b"\x01") == [bytes(639) + b"\x01"]


def test_partial_sample_across_chunks_is_carried() -> None:
    chunker = Rechunker(4)
    assert chunker.feed(b"\x01") == []
    assert chunker.feed(b"\x02\x03\x04\x05") == [b"\x01\x02\x03\x04"]
    with pytest.raises(ValueError, match="1 bytes, not a whole number"):
        chunker.flush()


def test_flush_pads_with_silence() -> None:
    chunker = Rechunker(6)
    chunker.feed(b"\x01\x02")
    assert chunker.flush(pad=True) == b"\x01\x02" + bytes(4)
    assert chunker.flush(pad=True) == b""


def test_stereo_frames_align_to_sample_frames() -> None:
    chunker = Rechunker.for_duration(8000, 10, channels=2)
    assert chunker.frame_size == 320
    chunker.feed(bytes(2))
    with pytest.raises(ValueError, match="4-byte sample frames"):
        chunker.flush()


@pytest.mark.parametrize(
    ("rate", "ms", "match"),
    [(16000, 0.01, "whole number"), (44100, 10.01, "whole number"), (0, 20, "sample rate")],
)
def test_bad_frame_durations(rate: int, ms: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        frame_bytes(rate, ms)


@pytest.mark.parametrize(("size", "align"), [(0, 2), (3, 2), (6, 4), (-2, 2)])
def test_bad_frame_sizes(size: int, align: int) -> None:
    with pytest.raises(ValueError, match="positive multiple"):
        Rechunker(size, align=align)
