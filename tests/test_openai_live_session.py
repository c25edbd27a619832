"""openai_live's websockets shell against the fake GPT-Live server."""

from __future__ import annotations

import logging

import anyio
import pytest
from _live_helpers import KEY, conversation, events_until, provider_for, send_speech

from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    ResponseDone,
    SessionClosed,
    SessionError,
    ToolCall,
    Transcript,
    Usage,
)
from beluga_voice.testing.fake_live import Delegate, FakeLiveServer, Reply

pytestmark = pytest.mark.anyio


async def test_an_audio_turn_gets_the_scripted_reply() -> None:
    reply = Reply(transcript="Hello from Live.")
    async with conversation(script=[reply], user_transcripts=["Hi there."]) as (fake, session):
        await send_speech(session)
        events = await events_until(session, ResponseDone)
    audio = b"".join(e.audio for e in events if isinstance(e, AudioChunk))
    assert audio.startswith(reply.audio)  # the reply, then the silence that ended it
    assert audio[len(reply.audio) :] == bytes(len(audio) - len(reply.audio))
    finals = [(e.role, e.text) for e in events if isinstance(e, Transcript) and e.final]
    assert finals == [("user", "Hi there."), ("assistant", "Hello from Live.")]
    start = fake.records.starts[0]
    assert start["model"] == "gpt-live-1" and start["audio"]["format"] == {
        "type": "audio/pcm",
        "rate": 24000,
    }
    assert start["delegation"] == {"type": "client"}


async def test_responses_backend_function_tool_round_trip() -> None:
    script = [
        Delegate(ack=None, function=("get_weather", '{"city": "Paris"}'), answer="It is {output}.")
    ]
    settings = {
        "responses_model": "gpt-5.5",
        "tools": [
            {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    }
    async with conversation(settings, script=script) as (fake, session):
        await send_speech(session)
        events = await events_until(session, ToolCall)
        call = events[-1]
        assert isinstance(call, ToolCall)
        assert (call.name, call.parsed_arguments()) == ("get_weather", {"city": "Paris"})
        await session.send_tool_result(call.call_id, "sunny")
        events = await events_until(session, ResponseDone)
    assert fake.records.function_outputs == [(call.call_id, "sunny")]
    assert any(isinstance(e, Transcript) and e.final and e.text == "It is sunny." for e in events)
    assert any(isinstance(e, Usage) and e.input_tokens == 120 for e in events)
    backend = fake.records.starts[0]["delegation"]
    assert (
        backend["type"] == "responses" and backend["responses"]["tools"][0]["name"] == "get_weather"
    )
    kinds = fake.records.types()
    assert kinds.index("response.item.create") < kinds.index("response.create")


async def test_mute_reaches_the_server_and_silences_the_user() -> None:
    async with conversation() as (fake, session):
        await session.set_input_muted(True)  # type: ignore[attr-defined]
        await send_speech(session)
        await fake.wait_until(lambda r: r.audio_bytes >= 24000 * 2)
        assert fake.turns == 0  # muted: the server heard nothing
        await session.set_input_muted(False)  # type: ignore[attr-defined]
        await send_speech(session)
        await events_until(session, ResponseDone)
    assert fake.records.mutes == [True, False]


async def test_rejected_key_is_an_authentication_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeLiveServer(api_key="sk-the-right-key-000000") as fake:
        with pytest.raises(S2SError) as exc:
            await provider_for(fake).start_streaming()
    assert exc.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert KEY not in str(exc.value) and KEY not in repr(exc.value)
    assert KEY not in caplog.text


async def test_unknown_model_fails_the_start_at_once() -> None:
    async with FakeLiveServer(api_key=KEY) as fake:
        with pytest.raises(S2SError) as exc:
            with anyio.fail_after(5):
                await provider_for(fake, model="gpt-live-0").start_streaming()
    assert exc.value.code is ErrorCode.INVALID_MODEL and not exc.value.is_retryable


async def test_an_expired_session_ends_with_a_retryable_error() -> None:
    async with conversation(expire_after_turns=1) as (_fake, session):
        await send_speech(session)
        events = await events_until(session, SessionClosed)
    errors = [e for e in events if isinstance(e, SessionError)]
    assert errors and errors[0].fatal and errors[0].error.code is ErrorCode.STREAM_CLOSED
    assert errors[0].error.is_retryable
    assert isinstance(events[-1], SessionClosed) and events[-1].error is errors[0].error


async def test_close_without_a_reader_still_waits_for_the_final_usage() -> None:
    async with FakeLiveServer(api_key=KEY) as fake:
        session = await provider_for(fake).start_streaming()
        await send_speech(session)
        await fake.wait_until(lambda r: r.audio_bytes > 0)
        with anyio.fail_after(5):
            await session.close()
        events = [e async for e in session]
    assert any(isinstance(e, Usage) and "seconds" in e.details for e in events)
    assert fake.records.closes == 1
    with pytest.raises(S2SError) as exc:
        await session.send_audio(b"\x00\x00")
    assert exc.value.code is ErrorCode.STREAM_CLOSED
