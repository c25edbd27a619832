"""Gemini inside a pipeline: input frames -> S2SProcessor(gemini) -> fake server -> frames."""

from __future__ import annotations

import pytest
from _gemini_helpers import KEY, SPEECH, make_provider
from _pipeline_helpers import converse

from beluga_voice.agents.echo import EchoAgent
from beluga_voice.agents.tools import Tool, ToolRegistry
from beluga_voice.frames import (
    OutputAudioFrame,
    ToolCallFrame,
    ToolResultFrame,
    TranscriptionFrame,
)
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.testing.fake_gemini import FakeGeminiServer, ScriptedTurn
from beluga_voice.testing.speech import tone

pytestmark = pytest.mark.anyio

REPLY = tone(0.5, 24000, hz=370.0)


async def test_pipeline_round_trip_plays_the_scripted_reply() -> None:
    turn = ScriptedTurn(audio=REPLY, transcript="Hello there.", user_transcript="hi gemini")
    async with FakeGeminiServer([turn], api_key=KEY) as server:
        processor = S2SProcessor(make_provider(server), forward_input_audio=False)
        out = await converse(processor, SPEECH)
    audio = b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame))
    assert audio == REPLY
    assert all(f.sample_rate == 24000 for f in out if isinstance(f, OutputAudioFrame))
    finals = [(f.role, f.text) for f in out if isinstance(f, TranscriptionFrame) and f.final]
    assert finals == [("user", "hi gemini"), ("assistant", "Hello there.")]
    assert bytes(server.states[0].audio) == SPEECH
    assert server.violations == []


async def test_pipeline_resamples_48k_input_to_16k_for_gemini() -> None:
    speech_48k = tone(0.4, 48000) + bytes(48000)
    async with FakeGeminiServer([ScriptedTurn(audio=REPLY)], api_key=KEY) as server:
        processor = S2SProcessor(make_provider(server), forward_input_audio=False)
        out = await converse(processor, speech_48k, rate=48000)
    assert b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame)) == REPLY
    received = len(server.states[0].audio)
    # 16 kHz on the wire; the streaming resampler holds back under 20 ms (its filter delay).
    assert len(speech_48k) // 3 - 640 <= received <= len(speech_48k) // 3
    mimes = {
        b["realtimeInput"]["audio"]["mimeType"]
        for _, b in server.received
        if "realtimeInput" in b and "audio" in b["realtimeInput"]
    }
    assert mimes == {"audio/pcm;rate=16000"}
    assert server.violations == []


async def test_pipeline_tool_call_is_answered_from_the_registry() -> None:
    turn = ScriptedTurn(audio=REPLY, tool_call=("weather", {"city": "Oslo"}))
    async with FakeGeminiServer([turn], api_key=KEY) as server:
        tools = ToolRegistry([Tool("weather", "Weather by city", lambda city: f"sunny in {city}")])
        provider = make_provider(server, tools=[{"name": "weather", "description": "Weather"}])
        out = await converse(S2SProcessor(provider, tools=tools), SPEECH)
    [call] = [f for f in out if isinstance(f, ToolCallFrame)]
    [result] = [f for f in out if isinstance(f, ToolResultFrame)]
    assert (call.name, result.call_id, result.output) == ("weather", call.call_id, "sunny in Oslo")
    assert server.tool_responses[0]["response"] == {"output": "sunny in Oslo"}
    assert b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame)) == REPLY
    assert server.violations == []


async def test_pipeline_external_reasoning_voices_the_agents_reply() -> None:
    turns = [
        ScriptedTurn(audio=tone(0.3, 24000, hz=200.0), user_transcript="hello there"),
        ScriptedTurn(audio=REPLY, transcript="You said: hello there"),
    ]
    async with FakeGeminiServer(turns, api_key=KEY) as server:
        provider = make_provider(server, config={"reasoning_mode": "external"})
        processor = S2SProcessor(provider, agent=EchoAgent(), forward_input_audio=False)
        out = await converse(processor, SPEECH)
    # Only the reply the agent wrote is heard; the model's own answer was dropped.
    assert b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame)) == REPLY
    assert server.texts[-1].endswith("You said: hello there")
    finals = [(f.role, f.text) for f in out if isinstance(f, TranscriptionFrame) and f.final]
    assert finals == [("user", "hello there"), ("assistant", "You said: hello there")]
    assert server.violations == []
