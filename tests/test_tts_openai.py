"""OpenAI TTS over HTTP streaming: one request per sentence, in order, its body streamed;
the requests validate against the official SDK's types and the fake answers the SDK's own
client; HTTP failures map to our codes, and a cut body is an error, not a short sentence."""

from __future__ import annotations

import anyio
import pytest
from _tts_helpers import speak
from openai import AsyncOpenAI
from openai.types.audio.speech_create_params import SpeechCreateParams
from pydantic import TypeAdapter

from beluga_voice.errors import ErrorCode, S2SError
from beluga_voice.testing.fake_openai_tts import FakeOpenAITTS
from beluga_voice.tts.openai_tts import OpenAITTS, error_from_response

pytestmark = pytest.mark.anyio


def _engine(fake: FakeOpenAITTS, **kw: object) -> OpenAITTS:
    return OpenAITTS(api_key=fake.api_key, base_url=fake.base_url, **kw)  # type: ignore[arg-type]


async def test_one_streamed_request_per_sentence() -> None:
    async with FakeOpenAITTS(ms_per_char=20.0) as fake:
        pcm, reply = await speak(_engine(fake, instructions="Be warm."))
    assert [r["input"] for r in fake.requests] == ["Hello there, friend.", "How are you today?"]
    adapter = TypeAdapter(SpeechCreateParams)
    for request in fake.requests:
        adapter.validate_python(request)
        assert request["response_format"] == "pcm" and request["instructions"] == "Be warm."
    assert len(pcm) == (20 + 18) * 20 * 48  # 24 kHz PCM16: 48 bytes per ms
    # No alignment from this service: a cut sentence keeps the share of its words played.
    assert reply.timeline.heard(20 * 20 + 18 * 10) == "Hello there, friend. How are..."


async def test_the_official_sdk_reads_the_fakes_stream() -> None:
    async with FakeOpenAITTS() as fake:
        client = AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url)
        with anyio.fail_after(10):
            async with client.audio.speech.with_streaming_response.create(
                model="gpt-4o-mini-tts", voice="alloy", input="Hi.", response_format="pcm"
            ) as response:
                body = await response.read()
        await client.close()
    assert len(body) == 3 * 20 * 48


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"fail_status": 429}, ErrorCode.RATE_LIMIT),
        ({"fail_status": 500}, ErrorCode.INTERNAL_ERROR),
        ({"drop_after": 1}, ErrorCode.NETWORK_ERROR),
    ],
)
async def test_failures_map_to_our_codes(kw: dict[str, int], code: ErrorCode) -> None:
    async with FakeOpenAITTS(**kw) as fake:  # type: ignore[arg-type]
        with pytest.raises(S2SError) as info:
            await speak(_engine(fake))
    assert info.value.code is code


async def test_a_wrong_key_is_an_authentication_error_without_the_key() -> None:
    async with FakeOpenAITTS() as fake:
        engine = OpenAITTS(api_key="sk-wrong-0123456789abcdef", base_url=fake.base_url)
        with pytest.raises(S2SError) as info:
            await speak(engine)
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "Incorrect API key" in str(info.value)
    assert "sk-wrong-0123456789abcdef" not in str(info.value) + repr(engine)


def test_an_error_body_that_is_not_json_still_gives_the_status() -> None:
    error = error_from_response(503, b"<html>busy</html>")
    assert error.code is ErrorCode.MODEL_NOT_AVAILABLE and "503" in str(error)
