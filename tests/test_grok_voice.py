"""The grok provider: Grok's dialect (session shape, pings, binary audio, error texts,
voices, PCM rates) and full conversations against the Grok-flavoured fake."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
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
from beluga_voice.providers.events import (
    AudioChunk,
    Interrupted,
    ResponseDone,
    SessionError,
    ToolCall,
    Transcript,
)
from beluga_voice.providers.openai_realtime import (
    GROK,
    GrokVoiceProvider,
    GrokVoiceSettings,
    RealtimeProtocol,
)
from beluga_voice.providers.registry import bare_provider, get_provider_spec
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
    provider = bare_provider("grok", S2SConfig(api_key=KEY))
    assert isinstance(provider, GrokVoiceProvider)
    assert provider.url == "wss://api.x.ai/v1/realtime?model=grok-voice-3.0"
    assert GROK.default_voice == "eve" and set(GROK.voices) == {"eve", "ara", "rex", "sal", "leo"}
    assert get_provider_spec("grok").api_key_env == ("XAI_API_KEY",)
    assert get_provider_spec("openai_realtime").api_key_env[0] == "OPENAI_API_KEY"


def test_grok_reads_its_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(S2SError) as info:
        bare_provider("grok")
    assert info.value.code is ErrorCode.INVALID_CONFIG and "XAI_API_KEY" in str(info.value)
    monkeypatch.setenv("XAI_API_KEY", "xai-from-the-environment-123")
    assert bare_provider("grok").config.secret() == "xai-from-the-environment-123"


def test_grok_rejects_semantic_vad_and_unknown_keys() -> None:
    with pytest.raises(S2SError) as info:
        bare_provider("grok", S2SConfig(api_key=KEY), with_provider_specific(vad="semantic_vad"))
    assert info.value.code is ErrorCode.INVALID_CONFIG and "semantic_vad" in str(info.value)
    with pytest.raises(S2SError) as info:
        bare_provider("grok", S2SConfig(api_key=KEY), with_provider_specific(voise="eve"))
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


def test_grok_errors_are_never_hidden(caplog: pytest.LogCaptureFixture) -> None:
    """xAI's error types, each mapped; none dropped, every one logged (issue 24, item 4)."""
    core = grok_core()
    core.receive(json.dumps({"type": "session.updated", "session": {}}))

    def error(kind: str, message: str = "m") -> list[Any]:
        return core.receive(
            json.dumps({"type": "error", "error": {"type": kind, "code": kind, "message": message}})
        )

    for kind, code in [
        ("invalid_request_error", ErrorCode.INVALID_REQUEST),
        ("invalid_event", ErrorCode.INVALID_REQUEST),
        ("internal_error", ErrorCode.INTERNAL_ERROR),
    ]:
        (event,) = error(kind, f"about {kind}")
        assert isinstance(event, SessionError) and event.error.code is code and not event.fatal
        assert f"about {kind}" in caplog.text
    # What the old dialect dropped by its text now comes through.
    (late,) = error("invalid_request_error", "Cancellation failed: no active response found")
    assert isinstance(late, SessionError) and "no active response" in str(late.error)
    (cut,) = error("invalid_request_error", "cannot truncate item")
    assert isinstance(cut, SessionError)
    # Inactivity and the duration limit end the connection: carried to a new one, with
    # the cause on the SessionReconnected event.
    for kind in ("timeout", "max_duration"):
        assert error(kind) == [] and core.expired
        assert core.expired_error is not None
        assert core.expired_error.code is ErrorCode.STREAM_CLOSED
        core.expired = False


def test_grok_documented_server_events_are_understood() -> None:
    core = grok_core()
    for event in [
        {"type": "session.created", "session": {"id": "s1", "object": "realtime.session"}},
        {"type": "conversation.created", "conversation": {"id": "c1"}},
        {"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1},
        {"type": "input_audio_buffer.timeout_triggered", "item_id": "u1", "audio_end_ms": 5},
        {"type": "conversation.item.deleted", "item_id": "i1"},
        {"type": "mcp_list_tools.completed", "item_id": "m1"},
        {"type": "conversation.item.truncated", "item_id": "a", "transcript": "Hel"},
    ]:
        assert core.receive(json.dumps(event)) == [], event
    assert core.session_id == "s1"


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


async def test_grok_tool_call_round_trip_with_nested_function_tools() -> None:
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
    assert reply_audio(events) == REPLY.audio
    assert isinstance(events[-1], ResponseDone)
    assert fake.records.tool_outputs == [(call.call_id, '{"sky": "clear"}')]
    (tool,) = fake.records.sessions[0]["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "weather"
    assert fake.records.violations == [] and fake.records.errors_sent == []


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


# -- xAI's Voice Agent event reference, field by field (issue 24, item 4) -----------------


def test_grok_session_is_xais_documented_shape_field_by_field() -> None:
    core = grok_core(
        voice="ara",
        instructions="Be brief.",
        reasoning_effort="none",
        vad_threshold=0.6,
        vad_prefix_padding_ms=300,
        vad_silence_duration_ms=500,
        vad_idle_timeout_ms=8000,
        output_speed=1.2,
        transcription_model="grok-transcribe",
        language_hint="en",
        keyterms=["Beluga"],
        replace={"Acme": "Ack me"},
        tools=[{"name": "lookup", "description": "Find a thing"}],
        binary_audio=True,
        sample_rate=16000,
    )
    core.open()
    (update,) = core.take_outbound()
    assert isinstance(update, dict)
    session = update["session"]
    GrokSession.model_validate(session)  # the reference's model: no unknown field anywhere
    assert session["reasoning"] == {"effort": "none"}
    assert session["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.6,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": 8000,
    }  # no create_response / interrupt_response: xAI documents neither
    audio = session["audio"]
    assert audio["input"]["transcription"] == {
        "model": "grok-transcribe",
        "language_hint": "en",
        "keyterms": ["Beluga"],
    }
    assert audio["output"] == {
        "format": {"type": "audio/pcm", "rate": 16000},
        "transport": "binary",
        "speed": 1.2,
    }
    assert session["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find a thing",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert session["replace"] == {"Acme": "Ack me"}
    assert "tool_choice" not in session and "type" not in session


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000])
def test_grok_pcm_rates_are_the_listed_ones(rate: int) -> None:
    core = grok_core(sample_rate=rate)
    core.open()
    (update,) = core.take_outbound()
    assert isinstance(update, dict)
    assert update["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": rate}
    assert core.rate == rate


def test_grok_settings_refuse_what_xai_does_not_document() -> None:
    for bad in (
        {"sample_rate": 12000},
        {"vad_interrupt_response": False},
        {"tool_choice": "required"},
        {"audio_format": "audio/pcmu", "sample_rate": 16000},
        {"output_speed": 2.0},
    ):
        with pytest.raises(S2SError) as info:
            bare_provider("grok", S2SConfig(api_key=KEY), with_provider_specific(**bad))
        assert info.value.code is ErrorCode.INVALID_CONFIG, bad


@pytest.mark.parametrize("codec", ["audio/pcmu", "audio/pcma"])
async def test_grok_g711_in_and_out(codec: str) -> None:
    from beluga_voice.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

    roundtrip = {
        "audio/pcmu": lambda pcm: ulaw_decode(ulaw_encode(pcm)),
        "audio/pcma": lambda pcm: alaw_decode(alaw_encode(pcm)),
    }[codec]
    reply = Reply(tone(0.3, 8000, 500.0), "Telephone voice")
    settings = {"audio_format": codec, "binary_audio": codec == "audio/pcma"}
    async with conversation(settings, flavour="grok", script=[reply]) as (fake, session):
        await send_chunked(session, speech(8000), 8000)
        events = await until(session)
    assert reply_audio(events) == roundtrip(reply.audio)  # decoded to PCM16 at 8 kHz
    assert all(e.sample_rate == 8000 for e in events if hasattr(e, "sample_rate"))  # type: ignore[attr-defined]
    fmt = fake.records.sessions[0]["audio"]["input"]["format"]
    assert fmt == {"type": codec, "rate": 8000}
    assert fake.records.audio_bytes == len(roundtrip(speech(8000)))
    assert fake.records.violations == [] and fake.records.errors_sent == []


async def test_grok_speak_is_a_force_message() -> None:
    voice = tone(0.2, 24000, 650.0)
    async with conversation(flavour="grok", speak_audio=voice) as (fake, session):
        await session.speak("Your table is booked.")
        events = await until(session)
    assert fake.records.forced == ["Your table is booked."]
    assert "response.create" not in fake.records.types()  # the force message is the turn
    assert reply_audio(events) == voice
    finals = [e.text for e in events if isinstance(e, Transcript) and e.final]
    assert finals == ["Your table is booked."]
    assert fake.records.violations == []


async def test_grok_external_reasoning_needs_local_turns() -> None:
    external = S2SConfig(api_key=KEY, reasoning_mode="external")
    with pytest.raises(S2SError) as info:
        bare_provider("grok", external)
    assert info.value.code is ErrorCode.INVALID_CONFIG and "vad" in str(info.value)
    voice = tone(0.2, 24000, 650.0)
    async with FakeRealtimeServer(
        "grok", user_transcripts=["book a table"], speak_audio=voice
    ) as fake:
        provider = bare_provider(
            "grok", external, with_provider_specific(base_url=fake.url, vad="none")
        )
        async with provider.stream() as session:  # type: ignore[attr-defined]
            await send_chunked(session, speech())
            await session.end_turn()
            heard = await until(session, Transcript)
            while not (isinstance(heard[-1], Transcript) and heard[-1].final):
                heard += await until(session, Transcript)
            await session.speak("A table for two, booked.")
            events = await until(session)
    assert heard[-1].text == "book a table"  # type: ignore[attr-defined]
    assert fake.records.sessions[0]["turn_detection"] is None
    assert fake.records.commits == 1 and fake.records.responses == []
    assert fake.records.forced == ["A table for two, booked."]
    assert reply_audio(events) == voice
    assert fake.records.violations == []


@pytest.mark.parametrize("flavour", ["openai", "grok"])
async def test_after_a_server_barge_in_interrupt_sends_nothing_the_server_refuses(
    flavour: str,
) -> None:
    """Issue 24, item 6: speech over a reply makes the server cancel it; the interrupt()
    that follows (with what was played) neither announces the barge-in again nor sends a
    response.cancel the server would refuse; it only truncates what was not heard."""
    long_reply = Reply(tone(2.0, 24000, 500.0), "A long answer that goes on")
    async with conversation(flavour=flavour, script=[long_reply], pace=1.0) as (fake, session):
        await send_chunked(session, speech())
        await until(session, AudioChunk)  # the reply is playing
        await send_chunked(session, speech()[:24000])  # the user talks over it
        events = await until(session, Interrupted)
        await session.interrupt(played_ms=20.0)  # before the server's response.done is read
        events += await until(session, ResponseDone)
        with anyio.fail_after(5):
            await fake.wait_until(lambda records: bool(records.truncations))
    assert sum(isinstance(e, Interrupted) for e in events) == 1
    assert fake.records.cancels == 0  # the server had cancelled it already
    assert fake.records.errors_sent == []
    ((_, _, end),) = fake.records.truncations
    assert end == 20
