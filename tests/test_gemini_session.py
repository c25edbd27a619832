"""The Gemini Live session end to end against the fake server: turns, barge-in, tools."""

from __future__ import annotations

import anyio
import pytest
from _gemini_helpers import KEY, SPEECH, events_until, make_provider, of, send_pcm

from beluga_voice.providers.config import S2SConfig
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SessionReady,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    Usage,
)
from beluga_voice.providers.gemini_live import GeminiLiveProvider
from beluga_voice.providers.registry import bare_provider
from beluga_voice.providers.types import AudioInput
from beluga_voice.testing.fake_gemini import FakeGeminiServer, ScriptedTurn
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = tone(0.3, 24000, hz=330.0)


@pytest.mark.parametrize("binary", [False, True])
async def test_a_spoken_turn_gets_the_scripted_reply(binary: bool) -> None:
    turn = ScriptedTurn(
        audio=REPLY, transcript="It is sunny.", user_transcript="how is the weather"
    )
    async with (
        FakeGeminiServer([turn], api_key=KEY, binary_frames=binary) as server,
        make_provider(server).stream() as session,
    ):
        await send_pcm(session, SPEECH)
        events = await events_until(session)
    assert isinstance(events[0], SessionReady)
    assert b"".join(c.audio for c in of(events, AudioChunk)) == REPLY
    assert of(events, AudioChunk)[-1].is_final
    finals = [(t.role, t.text) for t in of(events, Transcript) if t.final]
    assert finals == [("user", "how is the weather"), ("assistant", "It is sunny.")]
    assert len(of(events, ResponseStarted)) == 1
    assert events[-1].status == "completed"  # type: ignore[union-attr]
    assert server.violations == []
    headers = server.headers[0]
    assert headers["x-goog-api-key"] == KEY
    assert server.setups[0]["model"] == "models/gemini-3.8-live"


async def test_usage_arrives_after_the_reply() -> None:
    async with (
        FakeGeminiServer(api_key=KEY) as server,
        make_provider(server).stream() as session,
    ):
        await session.send_text("hello")
        events = await events_until(session, Usage)
    assert of(events, Usage)[0].total_tokens == 30
    assert server.texts == ["hello"]
    assert server.violations == []


async def test_barge_in_cuts_the_reply_short() -> None:
    long_reply = tone(3.0, 24000)
    async with (
        FakeGeminiServer(
            [ScriptedTurn(audio=long_reply)], api_key=KEY, pace=1.0, chunk_ms=40
        ) as server,
        make_provider(server).stream() as session,
    ):
        replying = anyio.Event()
        events = []

        async def read() -> None:
            with anyio.fail_after(5):
                async for event in session:
                    events.append(event)
                    if isinstance(event, AudioChunk):
                        replying.set()
                    if isinstance(event, ResponseDone) and event.status == "cancelled":
                        return

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await send_pcm(session, SPEECH)
            await replying.wait()
            await send_pcm(session, tone(0.2, 16000))  # the user talks over the bot
    interrupted = of(events, Interrupted)
    assert len(interrupted) == 1
    assert of(events, ResponseDone)[-1].reason == "interrupted"
    heard = sum(len(c.audio) for c in of(events, AudioChunk))
    assert 0 < heard < len(long_reply)
    assert server.interruptions == 1
    assert server.violations == []


async def test_manual_activity_detection_round_trip() -> None:
    async with FakeGeminiServer([ScriptedTurn(audio=REPLY)], api_key=KEY) as server:
        provider = make_provider(server, activity_detection="manual")
        assert not provider.capabilities.server_vad
        async with provider.stream() as session:
            await send_pcm(session, bytes(6400))  # silence: only our own VAD could say "turn"
            await session.end_turn()
            events = await events_until(session)
    assert b"".join(c.audio for c in of(events, AudioChunk)) == REPLY
    sent = [
        next(iter(body["realtimeInput"])) for _, body in server.received if "realtimeInput" in body
    ]
    assert sent[0] == "activityStart" and sent[-1] == "activityEnd"
    assert server.violations == []


async def test_tool_round_trip() -> None:
    turn = ScriptedTurn(audio=REPLY, tool_call=("get_time", {"zone": "UTC"}))
    async with FakeGeminiServer([turn], api_key=KEY) as server:
        tools = [{"name": "get_time", "parameters": {"type": "object"}}]
        async with make_provider(server, tools=tools).stream() as session:
            await send_pcm(session, SPEECH)
            events = await events_until(session, ToolCall)
            call = of(events, ToolCall)[0]
            assert call.name == "get_time" and call.parsed_arguments() == {"zone": "UTC"}
            await session.send_tool_result(call.call_id, '{"time": "12:00"}')
            events = await events_until(session)
    assert b"".join(c.audio for c in of(events, AudioChunk)) == REPLY
    assert server.tool_responses == [
        {"id": call.call_id, "name": "get_time", "response": {"time": "12:00"}}
    ]
    declared = server.setups[0]["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "get_time"
    assert server.violations == []


async def test_barge_in_on_a_pending_tool_call_cancels_it() -> None:
    turn = ScriptedTurn(tool_call=("slow_tool", {}))
    async with (
        FakeGeminiServer([turn], api_key=KEY) as server,
        make_provider(server).stream() as session,
    ):
        await send_pcm(session, SPEECH)
        call = of(await events_until(session, ToolCall), ToolCall)[0]
        await send_pcm(session, tone(0.2, 16000))
        cancelled = of(await events_until(session, ToolCallCancelled), ToolCallCancelled)
        assert cancelled == [ToolCallCancelled((call.call_id,))]
        with pytest.raises(S2SError) as info:
            await session.send_tool_result(call.call_id, "{}")
        assert info.value.code is ErrorCode.INVALID_INPUT
    assert server.violations == []


async def test_external_reasoning_voices_only_what_it_is_told() -> None:
    turns = [
        ScriptedTurn(audio=tone(0.2, 24000), user_transcript="what is two plus two"),
        ScriptedTurn(audio=REPLY, transcript="Four."),
    ]
    async with FakeGeminiServer(turns, api_key=KEY) as server:
        provider = make_provider(server, config={"reasoning_mode": "external"})
        async with provider.stream() as session:
            await send_pcm(session, SPEECH)
            heard = await events_until(session, Transcript)
            while not (of(heard, Transcript) and of(heard, Transcript)[-1].final):
                heard += await events_until(session, Transcript)
            assert of(heard, Transcript)[-1].text == "what is two plus two"
            await session.speak("Four.")
            events = await events_until(session)
    assert of(heard, AudioChunk) == [] and of(heard, ResponseStarted) == []
    # The unsolicited reply to the speech was dropped; only the spoken one plays.
    assert b"".join(c.audio for c in of(events, AudioChunk)) == REPLY
    assert "Four." in server.texts[-1] and "word for word" in server.texts[-1]
    instruction = server.setups[0]["systemInstruction"]["parts"][0]["text"]
    assert "Never answer the user by yourself" in instruction
    assert server.violations == []


async def test_process_one_shot_returns_the_whole_reply() -> None:
    async with FakeGeminiServer(
        [ScriptedTurn(audio=REPLY, transcript="Done.")], api_key=KEY
    ) as server:
        output = await make_provider(server).process(AudioInput(SPEECH))
    assert output.data == REPLY and output.transcript == "Done."
    assert output.provider == "gemini"
    assert server.violations == []


async def test_registry_builds_gemini_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    provider = bare_provider("gemini", S2SConfig(provider_specific={"voice": "Kore"}))
    assert isinstance(provider, GeminiLiveProvider)
    assert provider.settings.voice == "Kore" and provider.config.secret() == KEY
    with pytest.raises(S2SError) as info:
        bare_provider("gemini", S2SConfig(api_key=KEY, provider_specific={"voise": "x"}))
    assert info.value.code is ErrorCode.INVALID_CONFIG and "allowed:" in str(info.value)
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(S2SError) as info:
        bare_provider("gemini", S2SConfig())
    assert "GEMINI_API_KEY" in str(info.value)


async def test_operations_after_close_are_stream_closed() -> None:
    async with FakeGeminiServer(api_key=KEY) as server:
        session = await make_provider(server).start_streaming()
        await session.close()
        with pytest.raises(S2SError) as info:
            await session.send_audio(bytes(640))
        assert info.value.code is ErrorCode.STREAM_CLOSED
        await session.interrupt(10.0)  # harmless after close
