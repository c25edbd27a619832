"""The embedded engines: pocketsphinx STT (general and domain models), espeak-ng TTS and
sentence aggregation."""

from __future__ import annotations

import anyio
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.agents import RuleAgent
from beluga_voice.stt import PocketSphinxSTT, STTResult
from beluga_voice.tts import EspeakTTS, SentenceAggregator, split_sentences
from beluga_voice.tts.sentences import heard_text

pytestmark = pytest.mark.anyio

_PAD = b"\0\0" * 4800  # 300 ms of silence at 16 kHz


@pytest.fixture(scope="module")
def voice16() -> EspeakTTS:
    return EspeakTTS("en-us+f2", sample_rate=16000, rate=150)


@pytest.fixture(scope="module")
def domain_stt() -> PocketSphinxSTT:
    return PocketSphinxSTT(phrases=RuleAgent().phrases())


def _say(voice: EspeakTTS, text: str) -> bytes:
    return _PAD + voice.synthesize(text) + _PAD


def _recognise(engine: PocketSphinxSTT, audio: bytes) -> tuple[list[STTResult], STTResult]:
    stream = engine.open_stream()
    interim = [r for i in range(0, len(audio), 640) if (r := stream.feed(audio[i : i + 640]))]
    return interim, stream.finish()


@pytest.mark.parametrize(
    "text", ["hello", "what is two plus two", "what is twelve times three", "what time is it"]
)
def test_domain_model_recognises_agent_phrases(
    voice16: EspeakTTS, domain_stt: PocketSphinxSTT, text: str
) -> None:
    interim, final = _recognise(domain_stt, _say(voice16, text))
    assert final == STTResult(text, final=True, audio_ms=final.audio_ms)
    assert final.audio_ms > 600
    assert all(not r.final for r in interim)


def test_general_model_gives_interim_then_final(voice16: EspeakTTS) -> None:
    audio = _say(voice16, "the quick brown fox")
    interim, final = _recognise(PocketSphinxSTT(interim_ms=200), audio)
    assert interim, "a long utterance must produce interim results"
    assert final.final and final.text
    assert len({r.text for r in interim}) == len(interim), "interims only on change"


def test_stream_is_reusable_and_handles_odd_chunks(
    voice16: EspeakTTS, domain_stt: PocketSphinxSTT
) -> None:
    stream = domain_stt.open_stream()
    assert stream.finish() == STTResult("", final=True, audio_ms=0.0)
    audio = _say(voice16, "hello")
    for i in range(0, len(audio), 333):  # odd sizes split samples across calls
        stream.feed(audio[i : i + 333])
    assert stream.finish().text == "hello"
    stream.feed(audio)
    stream.reset()
    assert stream.finish().text == ""
    stream.feed(_say(voice16, "what is two plus two"))
    assert stream.finish().text == "what is two plus two"
    stream.close()


def test_bad_engine_options() -> None:
    with pytest.raises(ValueError, match="8000 or 16000"):
        PocketSphinxSTT(sample_rate=44100)
    with pytest.raises(FileNotFoundError):
        PocketSphinxSTT(lm="/nonexistent/model.lm")
    with pytest.raises(ValueError, match="no pronunciation"):
        PocketSphinxSTT(phrases=["hello qwzxv"]).open_stream()
    with pytest.raises(ValueError, match="at least one phrase"):
        PocketSphinxSTT(phrases=["!!!"]).open_stream()


async def test_tts_streams_fixed_chunks_at_the_output_rate() -> None:
    tts = EspeakTTS(sample_rate=24000)
    with anyio.fail_after(10):
        chunks = [c async for c in tts.stream("Hello there. How are you today?", chunk_ms=20)]
    assert all(len(c) == 960 for c in chunks[:-1])
    seconds = sum(len(c) for c in chunks) / 48000
    assert 1.0 < seconds < 4.0
    samples = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert np.abs(samples).max() > 3000, "speech, not silence"
    assert [c async for c in tts.stream("   ")] == []


def test_tts_rejects_bad_options() -> None:
    with pytest.raises(ValueError):
        EspeakTTS(sample_rate=100)
    with pytest.raises(ValueError):
        EspeakTTS(rate=5)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello there! How are you?", ["Hello there!", "How are you?"]),
        ("I am Dr. Smith. It is 3.5 degrees.", ["I am Dr. Smith.", "It is 3.5 degrees."]),
        ('He said "yes." Then left', ['He said "yes."', "Then left"]),
        ("line one\nline two", ["line one", "line two"]),
        ("", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_aggregator_emits_as_soon_as_a_sentence_ends() -> None:
    agg = SentenceAggregator()
    assert agg.push("Hel") == []
    assert agg.push("lo. Ho") == ["Hello."]
    assert agg.push("w are you?") == []
    assert agg.push(" Fine") == ["How are you?"]
    assert agg.flush() == "Fine"
    assert agg.flush() is None


_words = st.lists(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12), max_size=60
)


@given(st.lists(st.text(max_size=30), max_size=30), st.integers(16, 300))
def test_aggregation_keeps_every_word_in_order(pieces: list[str], max_chars: int) -> None:
    agg = SentenceAggregator(max_chars)
    out: list[str] = []
    for piece in pieces:
        out += agg.push(piece)
    rest = agg.flush()
    out += [rest] if rest else []
    assert all(s and s == s.strip() for s in out)
    assert all(len(s) <= max_chars for s in out[:-1] if s)
    assert "".join("".join(out).split()) == "".join("".join(pieces).split())


def test_heard_text_keeps_whole_sentences_then_a_share_of_words() -> None:
    spoken = [("One two three four.", 1000.0), ("Five six seven eight.", 1000.0)]
    assert heard_text(spoken, 0) == ""
    assert heard_text(spoken, 1000) == "One two three four."
    assert heard_text(spoken, 1500) == "One two three four. Five six..."
    assert heard_text(spoken, 5000) == "One two three four. Five six seven eight."


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=40), st.floats(0, 5000)), max_size=8),
    st.floats(-100, 20000),
)
def test_heard_text_is_a_prefix_of_the_reply(
    spoken: list[tuple[str, float]], played: float
) -> None:
    heard = heard_text(spoken, played).removesuffix("...").split()
    full = " ".join(s for s, _ in spoken).split()
    assert full[: len(heard)] == heard or heard[-1].endswith("...")
