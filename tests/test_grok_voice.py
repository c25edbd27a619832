"""The grok provider: Grok's dialect (session shape, pings, binary audio, error texts,
voices, PCM rates) and full conversations against the Grok-flavoured fake."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from _realtime_helpers import (
    KEY,
    conversation,
    provider_for,
    reply_audio,
    send_chunked,
    speech,
    until,
)

from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.errors import ErrorCode, S2SError
from beluga_voice.providers.events import ResponseDone, SessionError, ToolCall, Transcript
from beluga_voice.providers.openai_realtime import (
    GROK,
    GrokVoiceProvider,
    GrokVoiceSettings,
    RealtimeProtocol,
)
from beluga_voice.providers.registry import get_provider_spec, new_provider
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, FunctionCall, GrokSession, Reply
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio


def grok_core(**settings: Any) -> RealtimeProtocol:
    return RealtimeProtocol(GROK, GrokVoiceSettings(**settings), [])


def test_grok_session_keeps_voice_and_turn_detection_on_top() -> None:
    core = grok_core(
        voice="rex",
        instructions="Be brief.",
        vad_silence_duration_ms=400,
        tools=[{"name": "lookup"}],
        sample_rate=16000,
    )
    core.open()
    (update,) = core.take_outbound()
    assert isinstance(update, dict)
    session = update["session"]
    assert "type" not in session and "output_modalities" not in session
    assert session["voice"] == "rex"
    assert session["turn_detection"]["silence_duration_ms"] == 400
    assert session["audio"] == {
        "input": {"format": {"type": "audio/pcm", "rate": 16000}},
        "output": {"format": {"type": "audio/pcm", "rate": 16000}},
    }
    assert "tool_choice" not in session
    GrokSession.model_validate(session)  # xAI's documented shape, no unknown keys


def test_grok_defaults_and_url() -> None:
    provider = new_provider("grok", S2SConfig(api_key=KEY))
    assert isinstance(provider, GrokVoiceProvider)
    assert provider.url == "wss://api.x.ai/v1/realtime?model=grok-voice-3.0"
    assert GROK.default_voice == "eve" and set(GROK.voices) == {"eve", "ara", "rex", "sal", "leo"}
    assert get_provider_spec("grok").api_key_env == ("XAI_API_KEY",)
    assert get_provider_spec("openai_realtime").api_key_env == ("OPENAI_API_KEY",)


def test_grok_reads_its_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(S2SError) as info:
        new_provider("grok")
    assert info.value.code is ErrorCode.INVALID_CONFIG and "XAI_API_KEY" in str(info.value)
    monkeypatch.setenv("XAI_API_KEY", "xai-from-the-environment-123")
    assert new_provider("grok").config.secret() == "xai-from-the-environment-123"


def test_grok_rejects_semantic_vad_and_unknown_keys() -> None:
    with pytest.raises(S2SError) as info:
        new_provider("grok", S2SConfig(api_key=KEY), with_provider_specific(vad="semantic_vad"))
    assert info.value.code is ErrorCode.INVALID_CONFIG and "semantic_vad" in str(info.value)
    with pytest.raises(S2SError) as info:
        new_provider("grok", S2SConfig(api_key=KEY), with_provider_specific(voise="eve"))
    assert "voise" in str(info.value) and "allowed" in str(info.value)


def test_grok_binary_transport_in_the_session_and_on_the_wire() -> None:
    core = grok_core(binary_audio=True)
    core.open()
    (update,) = core.take_outbound()
    assert isinstance(update, dict)
    audio = update["session"]["audio"]
    assert audio["input"]["transport"] == audio["output"]["transport"] == "binary"
    core.audio(b"\x01\x00" * 240)
    assert core.take_outbound() == [b"\x01\x00" * 240]  # raw PCM, no base64 JSON


def test_grok_pings_and_aliases() -> None:
    core = grok_core()
    assert core.receive(json.dumps({"type": "ping", "timestamp": 123})) == []
    (partial,) = core.receive(
        json.dumps(
            {
                "type": "conversation.item.input_audio_transcription.updated",
                "item_id": "u1",
                "transcript": "Hello wor",
            }
        )
    )
    assert partial == Transcript("user", "Hello wor", final=False, item_id="u1")
    (text,) = core.receive(
        json.dumps({"type": "response.text.delta", "item_id": "a1", "delta": "Hi"})
    )
    assert text == Transcript("assistant", "Hi", final=False, item_id="a1")


def test_grok_benign_error_texts_are_ignored_and_others_mapped() -> None:
    core = grok_core()

    def error(message: str, code: str | None = None) -> list[Any]:
        return core.receive(
            json.dumps({"type": "error", "error": {"message": message, "code": code}})
        )

    assert error("Cancellation failed: no active response found") == []
    assert error("Conversation already has an active response") == []
    (limit,) = error("Rate limit reached, slow down")
    assert isinstance(limit, SessionError) and limit.error.code is ErrorCode.RATE_LIMIT
    (auth,) = error("bad credentials", code="unauthorized")
    assert auth.fatal and auth.error.code is ErrorCode.AUTHENTICATION_ERROR


REPLY = Reply(tone(0.3, 24000, 500.0), "Grok says hi")


async def test_grok_turn_against_the_fake() -> None:
    async with conversation(flavour="grok", script=[REPLY], user_transcripts=["Hey Grok"]) as (
        fake,
        session,
    ):
        await send_chunked(session, speech())
        events = await until(session)
    assert reply_audio(events) == REPLY.audio
    finals = [(e.role, e.text) for e in events if isinstance(e, Transcript) and e.final]
    assert finals == [("user", "Hey Grok"), ("assistant", "Grok says hi")]
    assert any(isinstance(e, Transcript) and e.role == "user" and not e.final for e in events)
    assert fake.records.violations == [] and fake.records.server_violations == []
    assert "voice" in fake.records.sessions[0] and "type" not in fake.records.sessions[0]


async def test_grok_binary_audio_end_to_end() -> None:
    settings = {"binary_audio": True}
    async with conversation(settings, flavour="grok", script=[REPLY]) as (fake, session):
        await send_chunked(session, speech())
        events = await until(session)
    assert reply_audio(events) == REPLY.audio
    assert fake.records.binary_frames == len(speech()) // 960
    assert "input_audio_buffer.append" not in fake.records.types()
    assert fake.records.violations == []


async def test_grok_at_16_khz() -> None:
    reply = Reply(tone(0.3, 16000, 500.0), "Sixteen")
    async with conversation({"sample_rate": 16000}, flavour="grok", script=[reply]) as (
        fake,
        session,
    ):
        await send_chunked(session, speech(16000), 16000)
        events = await until(session)
    chunks = [e for e in events if hasattr(e, "sample_rate")]
    assert chunks and all(c.sample_rate == 16000 for c in chunks)  # type: ignore[attr-defined]
    assert reply_audio(events) == reply.audio
    assert fake.records.sessions[0]["audio"]["input"]["format"]["rate"] == 16000


async def test_grok_tool_call_and_cancel_race() -> None:
    script = [FunctionCall("weather", '{"city": "Paris"}'), REPLY]
    async with conversation({"tools": [{"name": "weather"}]}, flavour="grok", script=script) as (
        fake,
        session,
    ):
        await session.send_text("Weather in Paris?")
        call = (await until(session, ToolCall))[-1]
        assert isinstance(call, ToolCall)
        await until(session)
        await session.send_tool_result(call.call_id, '{"sky": "clear"}')
        events = await until(session)
        # A cancel that lost the race: Grok answers with its own error text (no code),
        # which must stay silent.
        await fake.send_error(None, "Cancellation failed: no active response found")
        await session.send_text("Thanks")
        after = await until(session)
    assert reply_audio(events) == REPLY.audio
    assert isinstance(events[-1], ResponseDone)
    assert fake.records.tool_outputs == [(call.call_id, '{"sky": "clear"}')]
    assert not [e for e in after if isinstance(e, SessionError)]


async def test_grok_handshake_rejection() -> None:
    async with FakeRealtimeServer("grok") as fake:
        fake.faults.reject_handshakes = [429]
        with pytest.raises(S2SError) as info:
            await provider_for(fake, "grok").start_streaming()
    assert info.value.code is ErrorCode.RATE_LIMIT


def test_grok_binary_frame_without_transport_is_malformed() -> None:
    core = grok_core()
    (event,) = core.receive(base64.b64decode("AAAA"))
    assert isinstance(event, SessionError) and event.error.code is ErrorCode.MALFORMED_RESPONSE
