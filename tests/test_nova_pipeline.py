"""amazon_nova inside a pipeline: S2SProcessor <-> provider <-> fake Bedrock over HTTP/2."""

from __future__ import annotations

import pytest
from _pipeline_helpers import converse
from nova_support import REPLY_BYTES, SILENCE, SPEECH, assert_clean_records, nova

from beluga_voice.agents.tools import Tool, ToolRegistry
from beluga_voice.frames import (
    OutputAudioFrame,
    ToolCallFrame,
    ToolResultFrame,
    TranscriptionFrame,
)
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.amazon_nova import NovaTool
from beluga_voice.testing.fake_bedrock import FakeBedrock, Script

pytestmark = pytest.mark.anyio


async def test_pipeline_round_trip() -> None:
    async with FakeBedrock() as fake:
        processor = S2SProcessor(nova(fake), forward_input_audio=False)
        out = await converse(processor, SPEECH + SILENCE * 20)
        audio = b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame))
        assert len(audio) == REPLY_BYTES
        assert all(f.sample_rate == 24000 for f in out if isinstance(f, OutputAudioFrame))
        finals = [(f.role, f.text) for f in out if isinstance(f, TranscriptionFrame) and f.final]
        assert finals == [
            ("user", "what the user said"),
            ("assistant", "Hello from the fake Nova."),
        ]
        assert [(t.role, t.text) for t in processor.context.history] == finals
        assert bytes(fake.records[0].audio) == SPEECH + SILENCE * 20
        assert_clean_records(fake)


async def test_pipeline_tool_call() -> None:
    script = Script(tool_turns={1: ("weather", '{"city": "Oslo"}')})
    async with FakeBedrock(script=script) as fake:
        tools = ToolRegistry([Tool("weather", "Weather by city", lambda city: f"sunny in {city}")])
        provider = nova(fake, tools=[NovaTool(name="weather", description="Weather by city")])
        out = await converse(S2SProcessor(provider, tools=tools), SPEECH + SILENCE * 20)
        [call] = [f for f in out if isinstance(f, ToolCallFrame)]
        [result] = [f for f in out if isinstance(f, ToolResultFrame)]
        assert (call.name, result.call_id, result.output) == (
            "weather",
            call.call_id,
            "sunny in Oslo",
        )
        assert fake.records[0].tool_results == [(call.call_id, "sunny in Oslo")]
        finals = [
            f.text
            for f in out
            if isinstance(f, TranscriptionFrame) and f.role == "assistant" and f.final
        ]
        assert finals == ["Hello from the fake Nova. The tool said: sunny in Oslo"]
        assert_clean_records(fake)
