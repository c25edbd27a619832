"""The amazon_nova provider against the fake Bedrock on real HTTP/2 over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from nova_support import REPLY_BYTES, SILENCE, SPEECH, assert_clean_records, nova, say, until

from beluga_voice.providers.amazon_nova import AmazonNovaSonicProvider, NovaSettings, NovaTool
from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    SessionClosed,
    SessionError,
    SessionReady,
    SessionReconnected,
    ToolCall,
    Transcript,
    Usage,
)
from beluga_voice.providers.types import AudioInput
from beluga_voice.testing.fake_bedrock import FakeBedrock, Injection, OpenFailure, Script
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock() as server:
        yield server


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
async def test_a_spoken_turn_round_trip(tls: bool) -> None:
    async with FakeBedrock(tls=tls) as fake:
        async with nova(fake).stream() as session:
            sent = await say(session)
            events = await until(session, ResponseDone)
            events += await until(session, Usage)
        assert isinstance(events[0], SessionReady)
        transcripts = [(e.role, e.text, e.final) for e in events if isinstance(e, Transcript)]
        assert transcripts == [
            ("user", "what the user said", True),
            ("assistant", "Hello from the fake Nova.", False),
            ("assistant", "Hello from the fake Nova.", True),
        ]
        audio = [e for e in events if isinstance(e, AudioChunk)]
        assert sum(len(a.audio) for a in audio) == REPLY_BYTES
        assert audio[-1].is_final and all(a.sample_rate == 24000 for a in audio)
        [record] = fake.records
        assert bytes(record.audio) == (SPEECH + SILENCE * 20)[:sent]
        assert record.events[:6] == [
            "sessionStart",
            "promptStart",
            "contentStart",
            "textInput",
            "contentEnd",
            "contentStart",
        ]
        assert record.system_prompt == NovaSettings().system_prompt
        assert record.path == "/model/amazon.nova-2-sonic-v1%3A0/invoke-with-bidirectional-stream"
        assert_clean_records(fake)


async def test_one_shot_process(fake: FakeBedrock) -> None:
    provider = nova(fake, model_id="amazon.nova-sonic-v1:0", output_sample_rate=16000)
    out = await provider.process(AudioInput(SPEECH))
    assert len(out.data) == int(0.4 * 16000) * 2
    assert out.format.sample_rate == 16000
    assert out.transcript == "Hello from the fake Nova."
    assert fake.records[0].path.startswith("/model/amazon.nova-sonic-v1%3A0/")
    assert_clean_records(fake)


async def test_barge_in_interrupts_the_reply() -> None:
    async with FakeBedrock(script=Script(reply_seconds=3.0, pace=1.0)) as fake:
        async with nova(fake).stream() as session:
            await say(session)
            await until(session, AudioChunk)
            await say(session, tone(0.1, rate=16000), silence_chunks=0)  # the user talks over
            events = await until(session, ResponseDone)
            assert any(isinstance(e, Interrupted) for e in events)
            assert isinstance(events[-1], ResponseDone) and events[-1].status == "cancelled"
            heard = sum(len(e.audio) for e in events if isinstance(e, AudioChunk))
            assert heard < 3.0 * 24000 * 2
            await session.interrupt(played_ms=120.0)
        assert fake.records[0].barge_ins == 1
        assert_clean_records(fake)


async def test_tool_use_round_trip() -> None:
    script = Script(tool_turns={1: ("weather", '{"city": "Oslo"}')})
    async with FakeBedrock(script=script) as fake:
        tools = [NovaTool(name="weather", description="Weather by city")]
        async with nova(fake, tools=tools).stream() as session:
            await say(session)
            events = await until(session, ToolCall)
            call = events[-1]
            assert isinstance(call, ToolCall)
            assert call.name == "weather" and call.parsed_arguments() == {"city": "Oslo"}
            await session.send_tool_result(call.call_id, "sunny")
            events = await until(session, ResponseDone)
        finals = [e.text for e in events if isinstance(e, Transcript) and e.final]
        assert finals == ["Hello from the fake Nova. The tool said: sunny"]
        record = fake.records[0]
        assert record.tool_results == [(call.call_id, "sunny")]
        assert record.prompt_start["toolConfiguration"]["tools"][0]["toolSpec"]["name"] == "weather"
        assert_clean_records(fake)


async def test_typed_text_turn(fake: FakeBedrock) -> None:
    async with nova(fake).stream() as session:
        await session.send_text("hello there")
        events = await until(session, ResponseDone)
    assert any(isinstance(e, AudioChunk) and e.audio for e in events)
    assert fake.records[0].texts == ["hello there"]
    assert_clean_records(fake)


async def test_bad_signature_is_an_authentication_error(fake: FakeBedrock) -> None:
    provider = nova(fake, aws_secret_access_key="wrong-secret-value-for-test")
    with pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert not info.value.is_retryable
    assert "InvalidSignatureException" in str(info.value)
    assert "wrong-secret-value-for-test" not in str(info.value) + repr(info.value)
    assert fake.records[0].status == 403


async def test_unknown_access_key_is_an_authentication_error(fake: FakeBedrock) -> None:
    provider = nova(fake, aws_access_key_id="AKIAUNKNOWN000000000")
    with pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR


async def test_throttled_open_is_retryable_and_a_retry_succeeds(fake: FakeBedrock) -> None:
    from beluga_voice.providers.retry import RetryingProvider

    fake.open_failures.append(OpenFailure())
    provider = nova(fake)
    with pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.RATE_LIMIT and info.value.is_retryable

    async def no_wait(_: float) -> None:
        return None

    fake.open_failures.append(OpenFailure())
    retrying = RetryingProvider(provider, sleep=no_wait)
    async with retrying.stream() as session:
        await say(session)
        events = await until(session, ResponseDone)
    assert any(isinstance(e, AudioChunk) for e in events)
    assert [r.status for r in fake.records] == [429, 429, 200]


async def test_throttling_mid_stream_ends_the_session_with_rate_limit(fake: FakeBedrock) -> None:
    fake.injections.append(Injection("exception", after_audio_bytes=3200))
    async with nova(fake).stream() as session:
        await say(session, silence_chunks=0)
        events = await until(session, SessionClosed)
    [error] = [e for e in events if isinstance(e, SessionError)]
    assert error.fatal and error.error.code is ErrorCode.RATE_LIMIT and error.error.is_retryable
    assert "Rate exceeded" in str(error.error)


@pytest.mark.parametrize(
    ("exception_type", "code"),
    [
        ("validationException", ErrorCode.INVALID_REQUEST),
        ("modelStreamErrorException", ErrorCode.STREAM_ERROR),
        ("internalServerException", ErrorCode.INTERNAL_ERROR),
    ],
)
async def test_server_exceptions_map_to_codes(
    fake: FakeBedrock, exception_type: str, code: ErrorCode
) -> None:
    fake.injections.append(Injection("exception", exception_type=exception_type))
    async with nova(fake).stream() as session:
        await session.send_audio(SILENCE)
        events = await until(session, SessionClosed)
    assert [e.error.code for e in events if isinstance(e, SessionError)] == [code]


async def test_stalled_server_does_not_hang_close(fake: FakeBedrock) -> None:
    fake.injections.append(Injection("stall"))
    async with nova(fake).stream() as session:
        await say(session)
        with anyio.move_on_after(0.5) as scope:
            async for event in session:
                assert not isinstance(event, AudioChunk)
        assert scope.cancelled_caught
        with anyio.fail_after(3):
            await session.close()
    assert session.closed


async def test_bad_input_is_refused_without_killing_the_session(fake: FakeBedrock) -> None:
    async with nova(fake).stream() as session:
        with pytest.raises(S2SError) as info:
            await session.send_audio(b"\x00\x01\x02")
        assert info.value.code is ErrorCode.INVALID_AUDIO_FORMAT
        await say(session)
        await until(session, ResponseDone)
    with pytest.raises(S2SError) as info:
        await session.send_audio(SILENCE)
    assert info.value.code is ErrorCode.STREAM_CLOSED


async def test_unreachable_endpoint_is_a_network_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    provider = AmazonNovaSonicProvider(
        settings=NovaSettings(
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="AKIAX",
            aws_secret_access_key="y",
        )
    )
    with pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.NETWORK_ERROR and info.value.is_retryable


async def test_flow_control_progresses_without_a_reader(fake: FakeBedrock) -> None:
    """Ten seconds of audio is far past the 64 KiB HTTP/2 window: a writer that nobody
    reads for must read WINDOW_UPDATE frames itself instead of waiting forever."""
    audio = tone(10.0, rate=16000, hz=200)
    async with nova(fake).stream() as session:
        with anyio.fail_after(10):
            for i in range(0, len(audio), 3200):
                await session.send_audio(audio[i : i + 3200])
            events = await until(session, SessionReady)
        assert events
    assert bytes(fake.records[0].audio) == audio
    assert_clean_records(fake)


@pytest.mark.parametrize(
    "event",
    [
        {"event": {"audioInput": {"promptName": "wrong", "content": "AAAA"}}},
        {"event": {"contentStart": {"audioInputConfiguration": 5}}},
        {"event": {"textInput": []}},
        {"not": "an event"},
    ],
)
async def test_the_fake_refuses_bad_events_and_keeps_serving(
    fake: FakeBedrock, event: dict[str, Any]
) -> None:
    async with nova(fake).stream() as session:
        leg = session._active
        assert leg is not None
        await session._send_event(leg, event)  # bypass the protocol core on purpose
        events = await until(session, SessionClosed)
    [error] = [e for e in events if isinstance(e, SessionError)]
    assert error.error.code is ErrorCode.INVALID_REQUEST
    assert fake.records[0].error is not None
    async with nova(fake).stream() as session:  # the fake is still up
        await say(session)
        await until(session, ResponseDone)


async def test_external_reasoning_voices_the_agent_text(fake: FakeBedrock) -> None:
    provider = nova(fake, S2SConfig(provider="amazon_nova", reasoning_mode="external"))
    assert provider.capabilities.speak_text
    async with provider.stream() as session:
        await say(session)
        events = await until(session, Usage)  # Nova answered by itself: nothing of it shows
        assert [type(e) for e in events[1:]] == [Transcript, Usage]
        await session.speak("The agent decided this.")
        events = await until(session, ResponseDone)
        with pytest.raises(S2SError) as info:
            await session.speak("   ")
        assert info.value.code is ErrorCode.INVALID_INPUT
    finals = [e.text for e in events if isinstance(e, Transcript) and e.final]
    assert finals == ["The agent decided this."]
    assert sum(len(e.audio) for e in events if isinstance(e, AudioChunk)) == REPLY_BYTES
    record = fake.records[0]
    assert record.spoken == ["The agent decided this."]
    assert "<say>" in record.system_prompt
    assert_clean_records(fake)


# -- deadlines on every network wait (issue 14, item 8) ----------------------------------------


async def test_a_refusal_whose_response_stays_open_fails_within_connect_timeout(
    fake: FakeBedrock,
) -> None:
    fake.open_failures.append(OpenFailure(keep_open=True))
    provider = nova(fake, connect_timeout=0.3)
    with anyio.fail_after(3), pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.RATE_LIMIT
    assert "Too many requests" in str(info.value)  # the body that came is kept
    assert provider.limiter.in_use == 0


async def test_a_server_that_stops_reading_fails_the_send_within_send_timeout(
    fake: FakeBedrock,
) -> None:
    fake.injections.append(Injection("deaf"))
    async with nova(fake, send_timeout=0.3).stream() as session:
        with anyio.fail_after(5), pytest.raises(S2SError) as info:
            for _ in range(1000):  # 20 s of audio: far past the 64 KiB window
                await session.send_audio(SILENCE)
        assert info.value.code is ErrorCode.STREAM_TIMEOUT and info.value.is_retryable
        events = await until(session, SessionClosed)
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.error is not None
    assert closed.error.code is ErrorCode.STREAM_TIMEOUT


async def test_a_reply_that_stalls_moves_to_a_fresh_stream(fake: FakeBedrock) -> None:
    fake.script.pace = 1.0
    fake.script.reply_seconds = 2.0
    sent = len(SPEECH) + 20 * len(SILENCE)
    fake.injections.append(Injection("stall", after_audio_bytes=sent + 10 * len(SILENCE)))
    async with nova(fake, response_timeout=0.3).stream() as session:
        await say(session)
        await until(session, AudioChunk)  # the reply is streaming
        for _ in range(12):  # crosses the stall
            await session.send_audio(SILENCE)
        events = await until(session, SessionReconnected)
        cut = [e for e in events if isinstance(e, ResponseDone)]
        assert [(d.status, d.reason) for d in cut] == [("failed", "disconnected")]
        back = events[-1]
        assert isinstance(back, SessionReconnected) and back.error is not None
        assert back.error.code is ErrorCode.STREAM_TIMEOUT
        fake.script.pace = 0.0
        await say(session)  # the conversation goes on, on the new stream
        await until(session, ResponseDone)
    assert [r.status for r in fake.records] == [200, 200]


async def test_rejected_first_events_are_a_fatal_invalid_request_with_bedrocks_message(
    fake: FakeBedrock,
) -> None:
    """Bedrock answers a setup it refuses with an in-stream validationException: it reaches
    the app at once, not retryable, with Bedrock's own words (issue 24, item 2)."""
    message = "Invalid voice id: nobody"
    fake.injections.append(
        Injection("exception", exception_type="validationException", message=message)
    )
    async with nova(fake).stream() as session:
        events = await until(session, SessionClosed, limit=3)
    assert [type(e) for e in events] == [SessionReady, SessionError, SessionClosed]
    error = events[1]
    assert isinstance(error, SessionError) and error.fatal
    assert error.error.code is ErrorCode.INVALID_REQUEST and not error.error.is_retryable
    assert message in str(error.error)
    assert len(fake.records) == 1  # no continuation is tried on a refused setup


async def test_a_credential_chain_that_hangs_fails_within_connect_timeout(
    fake: FakeBedrock,
) -> None:
    class Stuck:  # a chain waiting on an instance-metadata service that never answers
        async def get(self) -> Any:
            await anyio.sleep_forever()

    provider = AmazonNovaSonicProvider(
        settings=NovaSettings(endpoint_url=fake.url, connect_timeout=0.3),
        credentials=Stuck(),  # type: ignore[arg-type]
    )
    with anyio.fail_after(3), pytest.raises(S2SError) as info:
        await provider.start_streaming()
    assert info.value.code is ErrorCode.TIMEOUT and info.value.is_retryable
