"""ElevenLabs streaming TTS: the sans-I/O core, the client against the fake (whose
messages the official SDK's types validate), failures mapped to our codes, no key leaked."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from _tts_helpers import PIECES, speak
from elevenlabs.types import (
    AudioOutput,
    CloseConnection,
    FinalOutput,
    InitializeConnection,
    SendText,
)
from hypothesis import given
from hypothesis import strategies as st

from beluga_voice.errors import ErrorCode, S2SError
from beluga_voice.testing.fake_elevenlabs import FakeElevenLabs
from beluga_voice.tts.alignment import Timeline
from beluga_voice.tts.elevenlabs import ElevenLabsCore, ElevenLabsSettings, ElevenLabsTTS

pytestmark = pytest.mark.anyio
TEXT = "".join(PIECES)


def _engine(fake: FakeElevenLabs, **kw: object) -> ElevenLabsTTS:
    return ElevenLabsTTS(api_key=fake.api_key, base_url=fake.base_url, sample_rate=16000, **kw)  # type: ignore[arg-type]


async def test_speaks_streamed_text_with_alignment_and_sdk_valid_messages() -> None:
    async with FakeElevenLabs(ms_per_char=20.0) as fake:
        pcm, reply = await speak(_engine(fake, stability=0.5))
    # 20 ms per character of the text the fake spoke, at 16 kHz PCM16.
    spoken = sum(len(t) for t in fake.spoken)
    assert len(pcm) == spoken * 20 * 32
    assert [t.strip() for t in fake.spoken] == ["Hello there, friend.", "How are you today?"]
    first, *middle, last = fake.received
    InitializeConnection.model_validate(first)
    assert first["voice_settings"] == {"stability": 0.5}
    for msg in middle:
        SendText.model_validate(msg)
        assert msg["text"].endswith(" ")  # the service's rule: whole words, then a space
    CloseConnection.model_validate(last)
    for msg in fake.sent:
        (FinalOutput if "isFinal" in msg else AudioOutput).model_validate(msg)
    query = fake.handshakes[0].path
    assert "output_format=pcm_16000" in query and "sync_alignment=true" in query
    assert reply.timeline.text == "Hello there, friend. How are you today?"
    assert reply.timeline.heard(20 * 5.5) == "Hello..."


async def test_a_wrong_key_is_an_authentication_error_without_the_key() -> None:
    async with FakeElevenLabs() as fake:
        engine = ElevenLabsTTS(api_key="sk_wrong_key_123456789", base_url=fake.base_url)
        with pytest.raises(S2SError) as info:
            await speak(engine)
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "sk_wrong_key_123456789" not in str(info.value) + repr(info.value)
    assert "Invalid API key" in str(info.value)


async def test_a_dropped_connection_mid_reply_is_a_retryable_network_error() -> None:
    async with FakeElevenLabs(drop_after=2) as fake:
        with pytest.raises(S2SError) as info:
            await speak(_engine(fake))
    assert info.value.code is ErrorCode.NETWORK_ERROR and info.value.is_retryable


async def test_cancel_closes_the_reply_and_ends_its_audio() -> None:
    import anyio

    async with FakeElevenLabs(message_ms=20.0) as fake:
        engine = _engine(fake)
        got = 0
        with anyio.fail_after(5):
            async with engine.open_reply() as reply:
                await reply.send("A fairly long sentence to speak here. ")
                await reply.flush()
                async for _ in reply.audio():
                    got += 1
                    if got == 2:
                        await reply.cancel()
        assert got == 2
        with anyio.fail_after(5):
            await fake.wait_until(lambda f: f.finished > 0)
    assert fake.closed_early == 1


def test_no_key_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    with pytest.raises(S2SError, match="ELEVENLABS_API_KEY") as info:
        ElevenLabsTTS()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR


def test_the_key_is_in_no_repr_or_log(caplog: pytest.LogCaptureFixture) -> None:
    engine = ElevenLabsTTS(api_key="xi-secret-0123456789")
    logging.getLogger("beluga_voice.tts.wire").warning("header xi-secret-0123456789")
    assert "xi-secret-0123456789" not in repr(engine) + caplog.text


def test_bad_settings_are_invalid_config() -> None:
    with pytest.raises(S2SError) as info:
        ElevenLabsSettings(sample_rate=11025)
    assert info.value.code is ErrorCode.INVALID_CONFIG


# -- the core -----------------------------------------------------------------------------


@given(st.lists(st.text(alphabet="ab .,\n", max_size=12), max_size=12))
def test_text_is_sent_whole_words_and_nothing_is_lost(pieces: list[str]) -> None:
    core = ElevenLabsCore(ElevenLabsSettings())
    sent = [json.loads(m) for p in pieces for m in core.text(p)]
    sent += [json.loads(m) for m in core.end()]
    assert sent[-1] == {"text": ""}
    for msg in sent[:-1]:
        assert msg["text"].endswith(" ") and msg["text"].strip()
    joined = "".join(m["text"] for m in sent)
    assert joined.split() == "".join(pieces).split()


@given(st.binary(max_size=200), st.integers(1, 9))
def test_pcm_split_mid_sample_is_rejoined(audio: bytes, cut: int) -> None:
    core = ElevenLabsCore(ElevenLabsSettings())
    timeline = Timeline()
    out = b""
    for part in (audio[:cut], audio[cut:]):
        msg = json.dumps({"audio": base64.b64encode(part).decode() or None})
        if part:
            out += b"".join(core.receive(msg, timeline).audio)
    assert out == audio[: len(audio) - len(audio) % 2]


@given(st.one_of(st.binary(max_size=64), st.text(max_size=64)))
def test_garbage_is_a_malformed_response_or_nothing(data: bytes | str) -> None:
    core = ElevenLabsCore(ElevenLabsSettings())
    try:
        got = core.receive(data, Timeline())
    except S2SError as exc:
        assert exc.code is ErrorCode.MALFORMED_RESPONSE or "elevenlabs:" in exc.message
    else:
        assert all(isinstance(a, bytes) and len(a) % 2 == 0 for a in got.audio)
