"""openai_live inside a pipeline, against the fake GPT-Live server: a WAV file through the
S2S processor to a WAV file, client delegation answered by an external agent, and the
pipeline's input mute."""

from __future__ import annotations

import io

import anyio
import pytest
from _live_helpers import provider_for, speech

from beluga_voice.agents.echo import EchoAgent
from beluga_voice.agents.tools import Tool, ToolRegistry
from beluga_voice.audio import read_wav_pcm16, write_wav_pcm16
from beluga_voice.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioFrame,
    InputMuteFrame,
    ResponseEndFrame,
    StartFrame,
    ToolCallFrame,
    ToolResultFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.testing.fake_live import Delegate, FakeLiveServer, Reply
from beluga_voice.testing.speech import tone
from beluga_voice.transports.file import WavFileInput, WavFileOutput

from _live_helpers import KEY  # isort: skip

pytestmark = pytest.mark.anyio

REPLY = Reply(tone(0.5, 24000, 370.0), "Hello from the pipeline")


async def test_wav_file_in_scripted_reply_out() -> None:
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

    async with FakeLiveServer(api_key=KEY, script=[REPLY], user_transcripts=["Hi"]) as fake:
        processor = S2SProcessor(provider_for(fake), forward_input_audio=False)
        task = PipelineTask(
            [
                WavFileInput(source, end_on_eof=False),
                processor,
                WavFileOutput(sink, realtime=False),
            ],
            start_frame=StartFrame(input_sample_rate=16000, output_sample_rate=24000),
            on_output=collect,
        )
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task.run)
                await done.wait()
                await task.stop_when_done()
    sink.seek(0)
    pcm, rate, channels = read_wav_pcm16(sink)
    assert (rate, channels) == (24000, 1)
    assert pcm.startswith(REPLY.audio)  # the reply, then the silence that ended it
    assert pcm[len(REPLY.audio) :] == bytes(len(pcm) - len(REPLY.audio))
    assert fake.records.violations == [] and fake.records.server_violations == []
    texts = [(f.role, f.text) for f in seen if isinstance(f, TranscriptionFrame) and f.final]
    assert ("assistant", "Hello from the pipeline") in texts
    assert [t.text for t in processor.context.history] == ["Hi", "Hello from the pipeline"]


async def drive(processor: S2SProcessor, frames: list[Frame], until: int) -> list[Frame]:
    """Queue ``frames``; return the output once ``until`` replies have ended."""
    out: list[Frame] = []
    done = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if sum(isinstance(f, ResponseEndFrame) for f in out) >= until:
            done.set()

    task = PipelineTask(
        [processor],
        start_frame=StartFrame(input_sample_rate=24000, output_sample_rate=24000),
        on_output=collect,
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for frame in frames:
                await task.queue_frame(frame)
            await done.wait()
            await task.stop_when_done()
    return out


def speech_frames() -> list[Frame]:
    pcm = speech(24000)
    return [InputAudioFrame(pcm[i : i + 960], 24000) for i in range(0, len(pcm), 960)]


async def test_delegation_is_answered_by_the_external_agent() -> None:
    script = [Delegate(ack="Let me check.")]
    async with FakeLiveServer(
        api_key=KEY, script=script, user_transcripts=["Is it raining?"]
    ) as fake:
        provider = provider_for(fake, reasoning_mode="external")
        processor = S2SProcessor(
            provider, agent=EchoAgent(prefix="Agent says: "), forward_input_audio=False
        )
        out = await drive(processor, speech_frames(), until=2)  # the acknowledgement, the answer
    answer = "Agent says: Is it raining?"
    appends = fake.records.appends
    assert [a["type"] for a in appends] == ["session.commentary.append"]
    assert appends[0]["content"] == answer and appends[0]["delegation_id"].startswith("deleg_")
    assert fake.records.starts[0]["delegation"]["type"] == "client"
    calls = [f for f in out if isinstance(f, ToolCallFrame)]
    results = [f for f in out if isinstance(f, ToolResultFrame)]
    assert [c.name for c in calls] == ["delegate"] and [r.output for r in results] == [answer]
    spoken = [
        f.text
        for f in out
        if isinstance(f, TranscriptionFrame) and f.role == "assistant" and f.final
    ]
    assert spoken == ["Let me check.", answer]
    # The final user transcript did not go to the agent as well: one answer only.
    assert len(appends) == 1


async def test_acknowledgement_delay_is_configured_on_the_session() -> None:
    async with FakeLiveServer(api_key=KEY, script=[Delegate()]) as fake:
        provider = provider_for(fake, reasoning_mode="external", acknowledgement_delay_ms=250)
        processor = S2SProcessor(provider, agent=EchoAgent(), forward_input_audio=False)
        await drive(processor, speech_frames(), until=2)
    assert fake.records.starts[0]["delegation"] == {
        "type": "client",
        "acknowledgement_delay_ms": 250,
    }


async def test_input_mute_frame_mutes_the_model() -> None:
    async with FakeLiveServer(api_key=KEY, script=[REPLY]) as fake:
        processor = S2SProcessor(provider_for(fake), forward_input_audio=False)
        frames = [InputMuteFrame(True), *speech_frames(), InputMuteFrame(False), *speech_frames()]
        await drive(processor, frames, until=1)
    assert fake.records.mutes == [True, False]
    assert fake.turns == 1  # only the unmuted speech was heard


async def test_a_delegate_tool_answers_delegations_without_an_agent() -> None:
    asked: list[str] = []

    async def delegate(task: str, offset_ms: int | None = None) -> str:
        asked.append(task)
        return "Table booked."

    tools = ToolRegistry([Tool("delegate", "Does the delegated work", delegate)])
    async with FakeLiveServer(
        api_key=KEY, script=[Delegate(ack=None)], user_transcripts=["Book it."]
    ) as fake:
        processor = S2SProcessor(
            provider_for(fake, delegation="client"), tools=tools, forward_input_audio=False
        )
        await drive(processor, speech_frames(), until=1)
    assert asked == ["Book it."]
    assert [(a["content"], a["type"]) for a in fake.records.appends] == [
        ("Table booked.", "session.commentary.append")
    ]
