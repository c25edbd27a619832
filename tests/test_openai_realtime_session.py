"""openai_realtime end to end against the fake server: turns, tools, barge-in, text."""

from __future__ import annotations

import base64

import anyio
import pytest
from _realtime_helpers import conversation, provider_for, reply_audio, send_chunked, speech, until

from beluga_voice.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    SessionReady,
    SpeechStarted,
    ToolCall,
    Transcript,
)
from beluga_voice.providers.openai_realtime import RealtimeProvider
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.types import AudioFormat, AudioInput
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, FunctionCall, Reply
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = Reply(tone(0.3, 24000, 500.0), "Nice to meet you")


async def test_server_vad_turn_yields_the_scripted_reply() -> None:
    async with conversation(script=[REPLY], user_transcripts=["Hi, I am Ada."]) as (
        fake,
        session,
    ):
        await send_chunked(session, speech())
        events = await until(session)
    assert isinstance(events[0], SessionReady)
    assert reply_audio(events) == REPLY.audio
    finals = [(e.role, e.text) for e in events if isinstance(e, Transcript) and e.final]
    assert finals == [("user", "Hi, I am Ada."), ("assistant", "Nice to meet you")]
    assert any(isinstance(e, Transcript) and not e.final for e in events)
    assert events[-1] == ResponseDone(events[-1].response_id, "completed", None)
    assert fake.records.violations == []
    assert fake.records.server_violations == []
    assert fake.records.audio_bytes == len(speech())


async def test_local_turn_detection_commits_on_end_turn() -> None:
    async with conversation({"vad": "none"}, script=[REPLY]) as (fake, session):
        await send_chunked(session, speech())
        await session.end_turn()
        events = await until(session)
    assert reply_audio(events) == REPLY.audio
    assert fake.records.commits == 1
    assert fake.records.sessions[0]["audio"]["input"]["turn_detection"] is None
    assert not any(isinstance(e, SpeechStarted) for e in events)  # no server VAD
    assert fake.records.violations == []


async def test_text_input() -> None:
    async with conversation(script=[REPLY]) as (fake, session):
        await session.send_text("What is the weather?")
        events = await until(session)
    assert reply_audio(events) == REPLY.audio
    assert fake.records.items[0]["content"] == [
        {"type": "input_text", "text": "What is the weather?"}
    ]
    assert fake.records.violations == []


async def test_tool_call_round_trip() -> None:
    script = [FunctionCall("get_time", '{"tz": "UTC"}'), REPLY]
    tools = [{"name": "get_time", "description": "Current time", "parameters": {"type": "object"}}]
    async with conversation({"tools": tools}, script=script) as (fake, session):
        await session.send_text("What time is it?")
        events = await until(session, ToolCall)
        call = events[-1]
        assert isinstance(call, ToolCall) and call.name == "get_time"
        assert call.parsed_arguments() == {"tz": "UTC"}
        await until(session)  # the function-call response ends
        await session.send_tool_result(call.call_id, '{"time": "12:00"}')
        events = await until(session)
    assert reply_audio(events) == REPLY.audio
    assert fake.records.tool_outputs == [(call.call_id, '{"time": "12:00"}')]
    assert fake.records.sessions[0]["tools"][0]["name"] == "get_time"
    assert fake.records.violations == []


async def test_client_barge_in() -> None:
    long_reply = Reply(tone(2.0, 24000, 500.0), "A rather long answer indeed")
    async with conversation(script=[long_reply], pace=1.0, chunk_ms=40) as (fake, session):
        await session.send_text("Talk to me")
        chunks = 0
        async for event in session:
            if isinstance(event, AudioChunk) and event.audio:
                chunks += 1
                if chunks == 5:  # 200 ms received, of which 120 ms were played
                    break
        await session.interrupt(120.0)
        events = await until(session)
    assert any(isinstance(e, Interrupted) for e in events)
    done = events[-1]
    assert isinstance(done, ResponseDone) and done.status == "cancelled"
    assert fake.records.cancels == 1
    (cut,) = fake.records.truncations
    assert cut[1:] == (0, 120)
    assert fake.records.violations == []


async def test_server_vad_barge_in_interrupts_the_reply() -> None:
    long_reply = Reply(tone(2.0, 24000, 500.0), "A rather long answer indeed")
    async with conversation(script=[long_reply], pace=1.0, chunk_ms=40) as (fake, session):
        await session.send_text("Talk to me")
        await until(session, AudioChunk)
        assert fake.records.cancels == 0
        await send_chunked(session, speech())
        events = await until(session)
    kinds = [type(e).__name__ for e in events]
    assert "SpeechStarted" in kinds and "Interrupted" in kinds
    assert kinds.index("SpeechStarted") < kinds.index("Interrupted")
    done = events[-1]
    assert isinstance(done, ResponseDone) and (done.status, done.reason) == (
        "cancelled",
        "turn_detected",
    )


async def test_speak_voices_text_out_of_band() -> None:
    voice = tone(0.2, 24000, 700.0)
    async with conversation(speak_audio=voice) as (fake, session):
        await session.speak("Your table is booked for eight.")
        events = await until(session)
    assert reply_audio(events) == voice
    (params,) = fake.records.responses
    assert params["conversation"] == "none"
    assert "Your table is booked for eight." in params["instructions"]
    assert fake.records.violations == []


async def test_one_shot_process_answers_an_utterance() -> None:
    async with FakeRealtimeServer(script=[REPLY]) as fake:
        output = await provider_for(fake).process(
            AudioInput(speech(), AudioFormat(sample_rate=24000))
        )
    assert output.data == REPLY.audio
    assert output.transcript == "Nice to meet you"
    assert output.provider == "openai_realtime" and output.format.sample_rate == 24000


async def test_seed_style_receive_audio_ends_each_reply_with_a_final_chunk() -> None:
    async with conversation(script=[REPLY]) as (_fake, session):
        await send_chunked(session, speech())
        audio = bytearray()
        with anyio.fail_after(5):
            async for chunk in session.receive_audio():
                assert chunk.error is None
                audio += chunk.audio
                if chunk.is_final:
                    break
    assert bytes(audio) == REPLY.audio


# -- telephony formats and Azure OpenAI (issue 24, item 6) ---------------------------------


@pytest.mark.parametrize("codec", ["audio/pcmu", "audio/pcma"])
async def test_g711_in_and_out(codec: str) -> None:
    """The session speaks PCM16 at 8 kHz; the wire carries G.711, as the SDK's schema and
    the fake check."""
    decode, encode = {
        "audio/pcmu": (ulaw_decode, ulaw_encode),
        "audio/pcma": (alaw_decode, alaw_encode),
    }[codec]
    reply = Reply(tone(0.3, 8000, 500.0), "Telephone voice")
    async with conversation({"audio_format": codec}, script=[reply]) as (fake, session):
        await send_chunked(session, speech(8000), 8000)
        events = await until(session)
        cut = [e for e in events if isinstance(e, AudioChunk) and e.audio]
        assert all(c.sample_rate == 8000 for c in cut)
    assert reply_audio(events) == decode(encode(reply.audio))
    audio = fake.records.sessions[0]["audio"]
    assert audio["input"]["format"] == audio["output"]["format"] == {"type": codec}
    assert fake.records.audio_bytes == len(decode(encode(speech(8000))))
    appended = [e for e in fake.records.events if e["type"] == "input_audio_buffer.append"]
    assert sum(len(base64.b64decode(e["audio"])) for e in appended) == len(speech(8000)) // 2
    assert fake.records.violations == [] and fake.records.server_violations == []


def test_g711_capabilities_are_8_khz() -> None:
    provider = bare_provider(
        "openai_realtime",
        S2SConfig(api_key="sk-test-0123456789"),
        with_provider_specific(audio_format="audio/pcmu"),
    )
    assert provider.capabilities.input_sample_rates == (8000,)
    assert provider.capabilities.output_sample_rate == 8000


def test_azure_endpoint_url_and_header() -> None:
    provider = bare_provider(
        "openai_realtime",
        S2SConfig(api_key="azure-key-0123456789"),
        with_provider_specific(
            azure_endpoint="https://my-resource.openai.azure.com/", model="my-realtime"
        ),
    )
    assert isinstance(provider, RealtimeProvider)
    assert provider.url == "wss://my-resource.openai.azure.com/openai/v1/realtime?model=my-realtime"
    assert provider.dialect.headers(provider.settings, "k") == {"api-key": "k"}
    with pytest.raises(S2SError) as info:
        bare_provider(
            "openai_realtime",
            S2SConfig(api_key="azure-key-0123456789"),
            with_provider_specific(azure_endpoint="https://x.openai.azure.com", base_url="wss://y"),
        )
    assert info.value.code is ErrorCode.INVALID_CONFIG


async def test_azure_endpoint_against_the_fake() -> None:
    key = "azure-key-0123456789"
    async with FakeRealtimeServer(api_key=key, script=[REPLY]) as fake:
        endpoint = f"http://{fake.host}:{fake.port}"
        opts = with_provider_specific(azure_endpoint=endpoint, model="my-realtime")
        provider = bare_provider("openai_realtime", S2SConfig(api_key=key), opts)
        assert isinstance(provider, RealtimeProvider)
        async with provider.stream() as session:
            await session.send_text("Hi")
            events = await until(session)
        wrong = bare_provider("openai_realtime", S2SConfig(api_key="azure-key-wrong-000"), opts)
        with pytest.raises(S2SError) as info:
            await wrong.start_streaming()
    assert reply_audio(events) == REPLY.audio
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert "Access denied due to invalid subscription key" in str(info.value)
    assert fake.records.violations == []
