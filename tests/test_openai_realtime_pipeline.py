"""openai_realtime and grok inside a pipeline, against their fakes:
WAV file -> S2SProcessor -> WAV file yields the scripted reply."""

from __future__ import annotations

import io

import anyio
import pytest
from _realtime_helpers import KEY, provider_for, speech

from beluga_voice.agents.echo import EchoAgent
from beluga_voice.agents.tools import Tool, ToolRegistry
from beluga_voice.audio import read_wav_pcm16, write_wav_pcm16
from beluga_voice.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
    ToolResultFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers.base import StreamingS2SProvider
from beluga_voice.providers.config import S2SConfig, with_provider_specific
from beluga_voice.providers.registry import bare_provider
from beluga_voice.testing.fake_realtime import FakeRealtimeServer, FunctionCall, Reply
from beluga_voice.testing.speech import tone
from beluga_voice.transports.file import WavFileInput, WavFileOutput

pytestmark = pytest.mark.anyio

REPLY = Reply(tone(0.5, 24000, 370.0), "Hello from the pipeline")
FLAVOURS = [("openai", "openai_realtime"), ("grok", "grok")]


async def run_until(task: PipelineTask, done: anyio.Event, frames: list[Frame]) -> None:
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for frame in frames:
                await task.queue_frame(frame)
            await done.wait()
            await task.stop_when_done()


@pytest.mark.parametrize(("flavour", "name"), FLAVOURS)
async def test_wav_file_in_scripted_reply_out(flavour: str, name: str) -> None:
    source = io.BytesIO()
    write_wav_pcm16(source, speech(16000), 16000)  # a 16 kHz recording: resampled to 24 kHz
    source.seek(0)
    sink = io.BytesIO()
    done = anyio.Event()
    seen: list[Frame] = []

    async def collect(frame: Frame) -> None:
        seen.append(frame)
        if isinstance(frame, BotStoppedSpeakingFrame):
            done.set()

    async with FakeRealtimeServer(flavour, script=[REPLY], user_transcripts=["Hi"]) as fake:
        processor = S2SProcessor(provider_for(fake, name), forward_input_audio=False)
        task = PipelineTask(
            [
                WavFileInput(source, end_on_eof=False),
                processor,
                WavFileOutput(sink, realtime=False),
            ],
            start_frame=StartFrame(input_sample_rate=16000, output_sample_rate=24000),
            on_output=collect,
        )
        await run_until(task, done, [])
    sink.seek(0)
    pcm, rate, channels = read_wav_pcm16(sink)
    assert (rate, channels) == (24000, 1)
    assert pcm == REPLY.audio
    finals = [(f.role, f.text) for f in seen if isinstance(f, TranscriptionFrame) and f.final]
    assert finals == [("user", "Hi"), ("assistant", "Hello from the pipeline")]
    assert fake.records.violations == [] and fake.records.server_violations == []


@pytest.mark.parametrize(("flavour", "name"), FLAVOURS)
async def test_pcm_frames_in_tool_round_trip_reply_out(flavour: str, name: str) -> None:
    script = [FunctionCall("weather", '{"city": "Oslo"}'), REPLY]
    tools = ToolRegistry([Tool("weather", "Weather by city", lambda city: f"sunny in {city}")])
    done = anyio.Event()
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, ResponseEndFrame) and any(
            isinstance(f, OutputAudioFrame) for f in out
        ):
            done.set()

    pcm = speech()
    frames: list[Frame] = [
        InputAudioFrame(pcm[i : i + 960], 24000) for i in range(0, len(pcm), 960)
    ]
    async with FakeRealtimeServer(flavour, script=script) as fake:
        provider = provider_for(fake, name, tools=[{"name": "weather"}])
        task = PipelineTask(
            [S2SProcessor(provider, tools=tools, forward_input_audio=False)],
            start_frame=StartFrame(input_sample_rate=24000, output_sample_rate=24000),
            on_output=collect,
        )
        await run_until(task, done, frames)
    assert b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame)) == REPLY.audio
    [result] = [f for f in out if isinstance(f, ToolResultFrame)]
    assert result.output == "sunny in Oslo"
    assert fake.records.tool_outputs == [(result.call_id, "sunny in Oslo")]
    assert fake.records.violations == []


async def test_barge_in_truncates_to_what_the_output_transport_played() -> None:
    long_reply = Reply(tone(3.0, 24000, 370.0), "A long reply that gets cut")
    speaking = anyio.Event()
    stopped: list[BotStoppedSpeakingFrame] = []
    done = anyio.Event()

    async def collect(frame: Frame) -> None:
        if isinstance(frame, BotStartedSpeakingFrame):
            speaking.set()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            stopped.append(frame)
            done.set()

    pcm = speech()
    turn = [InputAudioFrame(pcm[i : i + 960], 24000) for i in range(0, len(pcm), 960)]
    async with FakeRealtimeServer(script=[long_reply]) as fake:
        task = PipelineTask(
            [
                S2SProcessor(provider_for(fake), forward_input_audio=False),
                WavFileOutput(io.BytesIO(), realtime=True),
            ],
            start_frame=StartFrame(input_sample_rate=24000, output_sample_rate=24000),
            on_output=collect,
        )
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task.run)
                for frame in turn:
                    await task.queue_frame(frame)
                await speaking.wait()  # the reply is playing at real time
                for frame in turn[:10]:  # the user talks over it
                    await task.queue_frame(frame)
                await done.wait()
                await fake.wait_until(lambda records: bool(records.truncations))
                await task.stop_when_done()
    (bot,) = stopped
    assert bot.interrupted and 0 < bot.played_ms < 3000
    (cut,) = fake.records.truncations
    assert cut[1:] == (0, int(bot.played_ms))
    assert fake.records.violations == []


# Grok's server VAD always answers by itself: external reasoning there takes local turn
# detection (test_grok_voice.py::test_grok_external_reasoning_needs_local_turns).
@pytest.mark.parametrize(("flavour", "name"), [("openai", "openai_realtime")])
async def test_external_reasoning_voices_the_agents_reply(flavour: str, name: str) -> None:
    voice = tone(0.3, 24000, 650.0)
    done = anyio.Event()
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, ResponseEndFrame):
            done.set()

    pcm = speech()
    frames: list[Frame] = [
        InputAudioFrame(pcm[i : i + 960], 24000) for i in range(0, len(pcm), 960)
    ]
    async with FakeRealtimeServer(
        flavour, user_transcripts=["book a table"], speak_audio=voice
    ) as fake:
        config = S2SConfig(api_key=KEY, reasoning_mode="external")
        provider = bare_provider(name, config, with_provider_specific(base_url=fake.url))
        assert isinstance(provider, StreamingS2SProvider)
        processor = S2SProcessor(provider, agent=EchoAgent(), forward_input_audio=False)
        task = PipelineTask(
            [processor],
            start_frame=StartFrame(input_sample_rate=24000, output_sample_rate=24000),
            on_output=collect,
        )
        await run_until(task, done, frames)
    # The server did not answer by itself: the only reply is the agent's line, spoken.
    (params,) = fake.records.responses
    assert params["conversation"] == "none"
    assert "You said: book a table" in params["instructions"]
    assert b"".join(f.audio for f in out if isinstance(f, OutputAudioFrame)) == voice
    turn = fake.records.sessions[0]["audio"]["input"]["turn_detection"]
    assert turn["create_response"] is False
    assert fake.records.violations == []
