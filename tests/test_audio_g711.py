"""G.711 mu-law and A-law: reference values, exhaustive error bounds, properties."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL = np.arange(-32768, 32768, dtype=np.int64)
ALL_PCM = ALL.astype("<i2").tobytes()


def decoded(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.int64)


def test_reference_code_words() -> None:
    # silence and full scale, as in the ITU-T G.711 tables
    assert ulaw_encode(np.array([0], "<i2").tobytes()) == b"\xff"
    assert alaw_encode(np.array([0], "<i2").tobytes()) == b"\xd5"
    assert ulaw_encode(np.array([32767, -32768], "<i2").tobytes()) == b"\x80\x00"
    assert alaw_encode(np.array([32767, -32768], "<i2").tobytes()) == b"\xaa\x2a"
    assert decoded(ulaw_decode(b"\xff\x7f\x80\x00")).tolist() == [0, 0, 32124, -32124]
    assert decoded(alaw_decode(b"\xd5\x55\xaa\x2a")).tolist() == [8, -8, 32256, -32256]


def test_ulaw_error_bound_over_every_sample() -> None:
    err = np.abs(decoded(ulaw_decode(ulaw_encode(ALL_PCM))) - ALL)
    # half a quantisation step: step = (|x| + 132) / 16 within each segment
    assert np.all(err <= (np.minimum(np.abs(ALL), 32635) + 132) / 32 + (np.abs(ALL) > 32635) * 644)
    assert np.all(err[np.abs(ALL) <= 32635] <= (np.abs(ALL[np.abs(ALL) <= 32635]) + 132) / 32)


def test_alaw_error_bound_over_every_sample() -> None:
    err = np.abs(decoded(alaw_decode(alaw_encode(ALL_PCM))) - ALL)
    assert np.all(err <= np.maximum(np.abs(ALL), 256) / 32)


def test_codecs_are_monotonic() -> None:
    for enc, dec in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        assert np.all(np.diff(decoded(dec(enc(ALL_PCM)))) >= 0)


@given(st.binary(max_size=512))
def test_decode_then_encode_keeps_every_code_word(codes: bytes) -> None:
    # every byte is a valid code word, and decoding lands on its exact reconstruction level
    # (mu-law has two words for zero, 0x7f and 0xff, both decoding to 0)
    assert alaw_encode(alaw_decode(codes)) == codes
    again = ulaw_encode(ulaw_decode(codes))
    assert again == codes.replace(b"\x7f", b"\xff")


@given(st.lists(st.integers(-32768, 32767), max_size=300))
def test_round_trip_is_idempotent(values: list[int]) -> None:
    data = np.asarray(values, "<i2").tobytes()
    for enc, dec in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        once = dec(enc(data))
        assert len(once) == len(data)
        assert dec(enc(once)) == once
