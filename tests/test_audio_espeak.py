"""The espeak-ng binding: offline synthesis to PCM16 mono, options, errors, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from beluga_voice.local import EspeakError, EspeakSynth, list_voices


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2")


def test_synthesizes_speech_like_audio() -> None:
    pcm, rate = EspeakSynth().synthesize("Hello, this is a test.")
    assert rate == 22050
    x = samples(pcm)
    assert 0.8 < x.size / rate < 3.0  # a short sentence, not silence and not garbage
    assert np.abs(x).max() > 3000
    assert np.abs(x).mean() > 100


def test_options_change_the_voice() -> None:
    base, _ = EspeakSynth().synthesize("one two three")
    slow, _ = EspeakSynth(rate=100).synthesize("one two three")
    high, _ = EspeakSynth(pitch=95).synthesize("one two three")
    assert len(slow) > 1.3 * len(base)
    assert high != base
    assert EspeakSynth("en-gb").synthesize("one two three")[0] != base


def close(a: bytes, b: bytes) -> bool:
    """Same utterance: espeak keeps a little prosody state, so lengths vary by a few samples."""
    return abs(len(a) - len(b)) <= 0.05 * len(b)


def test_same_input_gives_nearly_the_same_audio() -> None:
    synth = EspeakSynth("en-us+f3")
    first, second = synth.synthesize("repeatable")[0], synth.synthesize("repeatable")[0]
    assert close(first, second)
    n = min(len(first), len(second)) // 2
    a, b = samples(first)[:n].astype(float), samples(second)[:n].astype(float)
    assert np.corrcoef(a, b)[0, 1] > 0.5


def test_blank_text_gives_empty_audio() -> None:
    assert EspeakSynth().synthesize("   ") == (b"", 22050)


def test_unknown_voice_is_a_clear_error() -> None:
    with pytest.raises(EspeakError, match="no voice 'xx-nowhere'"):
        EspeakSynth("xx-nowhere").synthesize("hi")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"rate": 10}, "rate"), ({"pitch": 101}, "pitch"), ({"volume": -1}, "volume")],
)
def test_bad_options_fail_at_construction(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EspeakSynth(**kwargs)  # type: ignore[arg-type]


def test_bad_text() -> None:
    with pytest.raises(ValueError, match="NUL"):
        EspeakSynth().synthesize("a\0b")
    with pytest.raises(TypeError):
        EspeakSynth().synthesize(b"bytes")  # type: ignore[arg-type]


def test_lists_installed_voices() -> None:
    langs = {v.language for v in list_voices()}
    assert {"en-us", "en-gb", "de"} <= langs


def test_concurrent_threads_get_their_own_audio() -> None:
    texts = {
        "en-us": "first thread speaking",
        "en-gb": "the second thread is saying something much longer than that",
        "de": "guten tag",
    }
    expected = {v: EspeakSynth(v).synthesize(t)[0] for v, t in texts.items()}
    got: dict[str, list[bytes]] = {v: [] for v in texts}

    def work(voice: str) -> None:
        for _ in range(3):
            got[voice].append(EspeakSynth(voice).synthesize(texts[voice])[0])

    threads = [threading.Thread(target=work, args=(v,)) for v in texts for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for voice, outs in got.items():
        assert len(outs) == 6
        assert all(close(o, expected[voice]) for o in outs)
