"""The S2S processor in a pipeline, and the VoiceSession facade, against the mock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from beluga_voice.agents import Tool, ToolRegistry
from beluga_voice.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    StartFrame,
    ToolCallFrame,
    ToolResultFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors.s2s import S2SProcessor
from beluga_voice.providers import ConversationContext, ErrorCode, S2SConfig, S2SError
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.session import SessionState, VoiceSession
from beluga_voice.testing import run_pipeline, tone

pytestmark = pytest.mark.anyio


def frames_of(pcm: bytes, rate: int = 16000, ms: int = 20) -> list[InputAudioFrame]:
    step = rate * ms // 1000 * 2
    return [InputAudioFrame(pcm[i : i + step], rate) for i in range(0, len(pcm), step)]


UTTERANCE = tone(0.4, 16000, 300, 0.5) + bytes(2 * 16000 // 2)  # 0.4 s speech, 0.5 s quiet


def audio_out(frames: list[Frame]) -> bytes:
    return b"".join(f.audio for f in frames if isinstance(f, OutputAudioFrame))


def is_reply_text(frame: Frame) -> bool:
    return isinstance(frame, TranscriptionFrame) and frame.role == "assistant"


async def test_audio_in_reply_out() -> None:
    reply = tone(0.5, 24000, 500)
    mock = AdvancedMockS2SProvider(audio_outputs=[reply], transcripts=["hello back"])
    s2s = S2SProcessor(mock)
    out, task = await run_pipeline(
        [s2s], frames_of(UTTERANCE), until=lambda out: any(is_reply_text(f) for f in out)
    )
    assert audio_out(out) == reply  # 24 kHz in and out: bit exact
    assert [f.text for f in out if isinstance(f, TranscriptionFrame)] == ["hello back"]
    assert mock.received_bytes == len(UTTERANCE)  # nothing lost on the way in
    assert s2s.context.history[-1].text == "hello back"
    assert len(s2s.latency.samples) == 1 and s2s.latency.within_budget == 1.0
    assert task.errors == []


async def test_output_is_resampled_to_the_pipeline_rate_and_input_to_the_provider_rate() -> None:
    reply = tone(0.6, 24000, 500)
    mock = AdvancedMockS2SProvider(audio_outputs=[reply])
    # 48 kHz input: the mock takes 16 or 24 kHz, so it is resampled to 16 kHz.
    speech48 = tone(0.4, 48000, 300, 0.5) + bytes(2 * 48000 // 2)
    out, _ = await run_pipeline(
        [S2SProcessor(mock)],
        frames_of(speech48, 48000),
        until=lambda out: len(audio_out(out)) >= 2 * int(0.55 * 16000),
        start_frame=StartFrame(input_sample_rate=48000, output_sample_rate=16000),
    )
    assert all(f.sample_rate == 16000 for f in out if isinstance(f, OutputAudioFrame))
    # the resampler's held-back tail is flushed at the end: every sample arrives
    assert abs(mock.received_bytes - len(UTTERANCE)) <= 4
    n = len(audio_out(out)) // 2
    assert abs(n - 0.6 * 16000) < 16000 * 0.02


class Player(FrameProcessor):
    """Stands in for an output transport: 'plays' audio instantly, reports barge-in."""

    def __init__(self) -> None:
        super().__init__(name="player")
        self.played_ms = 0.0
        self.first_audio = anyio.Event()
        self.interrupted = anyio.Event()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, OutputAudioFrame):
            if not self.first_audio.is_set():
                self.first_audio.set()
                await self.push_frame(BotStartedSpeakingFrame(), Direction.UPSTREAM)
            self.played_ms += 1000 * frame.duration
        elif isinstance(frame, InterruptionFrame) and self.first_audio.is_set():
            await self.push_frame(
                BotStoppedSpeakingFrame(played_ms=self.played_ms, interrupted=True),
                Direction.UPSTREAM,
            )
            self.interrupted.set()
        await self.push_frame(frame, direction)


async def test_barge_in_cancels_and_truncates_at_what_was_played() -> None:
    reply = tone(3.0, 24000, 500)
    mock = AdvancedMockS2SProvider(audio_outputs=[reply], pace=1.0)
    player = Player()
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([S2SProcessor(mock), player], on_output=collect)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames_of(UTTERANCE))
            await player.first_audio.wait()
            await task.queue_frames(frames_of(tone(0.2, 16000, 300, 0.5)))  # the user talks over
            await player.interrupted.wait()
            await anyio.wait_all_tasks_blocked()
            # Stop now: a graceful end would wait for the answer to the interjection.
            await task.cancel()
    assert any(isinstance(f, InterruptionFrame) for f in out)
    assert len(audio_out(out)) < len(reply)  # the reply was cut short
    # The mock detected the barge-in itself (server VAD) and cancelled; the processor then
    # passed on, once, how much the player had played, for the provider to truncate.
    assert mock.interrupts == [pytest.approx(player.played_ms)]
    assert 0 < player.played_ms < 3000


async def test_tool_calls_are_answered_from_the_registry() -> None:
    calls: list[dict[str, str]] = []

    def weather(city: str) -> dict[str, str]:
        calls.append({"city": city})
        return {"city": city, "sky": "clear"}

    tools = ToolRegistry([Tool("weather", "Weather in a city", weather)])
    mock = AdvancedMockS2SProvider(
        tool_calls={1: ("weather", '{"city": "Lisbon"}')}, transcripts=["Clear."]
    )
    out, _ = await run_pipeline(
        [S2SProcessor(mock, tools=tools)],
        frames_of(UTTERANCE),
        until=lambda out: any(is_reply_text(f) for f in out),
    )
    assert calls == [{"city": "Lisbon"}]
    assert mock.tool_results == [("call_1", '{"city": "Lisbon", "sky": "clear"}')]
    assert any(isinstance(f, ToolCallFrame) for f in out) and any(
        isinstance(f, ToolResultFrame) for f in out
    )


class UpperAgent:
    def __init__(self) -> None:
        self.heard: list[str] = []

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        self.heard.append(text)
        for word in f"you said {text}".split():
            yield word.upper() + " "


async def test_external_reasoning_voices_the_agents_reply() -> None:
    mock = AdvancedMockS2SProvider(
        config=S2SConfig(provider="mock", reasoning_mode="external"), user_transcripts=["hello"]
    )
    agent = UpperAgent()
    await run_pipeline(
        [S2SProcessor(mock, agent=agent)],
        frames_of(UTTERANCE),
        until=lambda out: bool(audio_out(out)),
    )
    assert agent.heard == ["hello"]
    assert mock.spoken_text == ["YOU SAID HELLO"]


async def test_external_reasoning_without_an_agent_leaves_the_answer_to_a_processor() -> None:
    """No agent: a processor after this one answers (tests/test_external_reasoning.py);
    the provider itself stays silent."""
    mock = AdvancedMockS2SProvider(
        config=S2SConfig(provider="mock", reasoning_mode="external"), user_transcripts=["hi"]
    )
    out, _ = await run_pipeline(
        [S2SProcessor(mock)],
        frames_of(UTTERANCE),
        until=lambda out: any(isinstance(f, TranscriptionFrame) for f in out),
    )
    assert [f.text for f in out if isinstance(f, TranscriptionFrame)] == ["hi"]
    assert not audio_out(out) and mock.spoken_text == []


async def test_a_dead_provider_is_one_clear_fatal_error() -> None:
    mock = AdvancedMockS2SProvider(fail_after_chunks=2)
    out, task = await run_pipeline([S2SProcessor(mock)], frames_of(UTTERANCE), end=False)
    assert any(isinstance(f, CancelFrame) for f in out)
    fatal = [e for e in task.errors if e.fatal]
    assert len(fatal) == 1 and fatal[0].code == "stream_error" and fatal[0].source == "S2S[mock]"
    assert isinstance(fatal[0], ErrorFrame)


async def test_connect_failure_is_fatal_and_named() -> None:
    mock = AdvancedMockS2SProvider(fail_on_call=1)
    _, task = await run_pipeline([S2SProcessor(mock)], [], end=False)
    assert task.errors and task.errors[0].fatal and task.errors[0].code == "network_error"


def test_voice_session_rejects_conflicting_or_missing_engines() -> None:
    mock = AdvancedMockS2SProvider()
    with pytest.raises(S2SError, match="both an S2S provider and an STT"):
        VoiceSession(s2s_provider=mock, stt=object(), tts=object())
    with pytest.raises(S2SError, match="missing s2s_provider"):
        VoiceSession()
    with pytest.raises(S2SError, match="missing tts"):
        VoiceSession(stt=object())
    with pytest.raises(S2SError, match="needs an agent"):
        VoiceSession(stt=object(), tts=object())


async def test_voice_session_round_trip_with_states_and_say() -> None:
    mock = AdvancedMockS2SProvider(audio_outputs=[tone(0.3)], transcripts=["reply"])
    states: list[SessionState] = []
    audio = bytearray()
    replied = anyio.Event()

    def on_state(state: SessionState) -> None:
        states.append(state)
        if state is SessionState.LISTENING and audio:
            replied.set()

    def on_audio(pcm: bytes) -> None:
        audio.extend(pcm)

    with anyio.fail_after(10):
        async with VoiceSession(s2s_provider=mock, on_state=on_state, on_audio=on_audio) as session:
            for frame in frames_of(UTTERANCE):
                await session.process_audio(frame.audio)
            await replied.wait()
            with pytest.raises(S2SError) as info:
                await session.process_audio(b"\x00\x01\x02")
            assert info.value.code is ErrorCode.INVALID_AUDIO_FORMAT
            await session.say("Goodbye.")
    assert bytes(audio[: len(tone(0.3))]) == tone(0.3)
    assert states[:4] == [
        SessionState.LISTENING,
        SessionState.PROCESSING,
        SessionState.SPEAKING,
        SessionState.LISTENING,
    ]
    assert states[-1] is SessionState.IDLE
    assert mock.spoken_text == ["Goodbye."]
    with pytest.raises(S2SError):
        await session.process_audio(b"\x00\x00")  # stopped sessions refuse audio


async def test_a_fallback_switch_becomes_a_frame_and_no_user_audio_is_lost() -> None:
    from beluga_voice.frames import ProviderSwitchedFrame
    from beluga_voice.providers.fallback import FallbackProvider

    config = S2SConfig(provider="mock", max_retries=0)
    dead = AdvancedMockS2SProvider("dead", config=config, fail_after_chunks=0)
    alive = AdvancedMockS2SProvider("alive", config=config, audio_outputs=[tone(0.2)])
    out, task = await run_pipeline(
        [S2SProcessor(FallbackProvider([dead, alive], config))],
        frames_of(UTTERANCE),
        until=lambda out: len(audio_out(out)) >= len(tone(0.2)),
    )
    switches = [f for f in out if isinstance(f, ProviderSwitchedFrame)]
    assert [(f.from_provider, f.to_provider) for f in switches] == [("dead", "alive")]
    assert switches[0].replayed_ms > 0
    assert audio_out(out) == tone(0.2)
    assert alive.received_bytes >= len(UTTERANCE) - 2 * 320  # the turn was replayed to it
    assert not [e for e in task.errors if e.fatal]


async def test_voice_session_cascade_with_the_embedded_engines() -> None:
    """STT -> agent -> TTS behind the same facade, with the real offline engines."""
    from beluga_voice.agents import RuleAgent
    from beluga_voice.stt import PocketSphinxSTT
    from beluga_voice.tts import EspeakTTS

    voice = EspeakTTS("en-us+f2", rate=150, sample_rate=16000)
    speech = bytes(8000) + voice.synthesize("hello") + bytes(32000)
    said: list[tuple[str, str]] = []
    audio = bytearray()
    answered = anyio.Event()

    def on_transcript(frame: TranscriptionFrame) -> None:
        if frame.final:
            said.append((frame.role, frame.text))

    def on_audio(pcm: bytes) -> None:
        audio.extend(pcm)
        if len(audio) > 24000:
            answered.set()

    stt = PocketSphinxSTT(phrases=["hello", "what time is it"])
    with anyio.fail_after(30):
        async with VoiceSession(
            stt=stt,
            tts=EspeakTTS(),
            agent=RuleAgent(),
            on_transcript=on_transcript,
            on_audio=on_audio,
        ) as session:
            for frame in frames_of(speech):
                await session.process_audio(frame.audio)
            await answered.wait()
    assert said[0] == ("user", "hello")
    assert said[1][0] == "assistant" and said[1][1].startswith("Hello!")  # the rule agent
    assert len(audio) > 24000  # and it was spoken


class LatePlayer(Player):
    """Reports a barge-in only once the next reply has begun, as happens when the input is
    fed faster than real time or the user's interjection is very short."""

    def __init__(self) -> None:
        super().__init__()
        self.owed = False

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InterruptionFrame) and self.first_audio.is_set():
            self.owed = True
        elif isinstance(frame, ResponseStartFrame) and self.owed:
            self.owed = False
            await self.push_frame(
                BotStoppedSpeakingFrame(played_ms=self.played_ms, interrupted=True),
                Direction.UPSTREAM,
            )
            self.interrupted.set()
        elif isinstance(frame, OutputAudioFrame):
            if not self.first_audio.is_set():
                self.first_audio.set()
            self.played_ms += 1000 * frame.duration
        await self.push_frame(frame, direction)


async def test_a_late_barge_in_report_does_not_cancel_the_next_reply() -> None:
    first, second = tone(3.0, 24000, 500), tone(0.4, 24000, 700)
    mock = AdvancedMockS2SProvider(audio_outputs=[first, second], pace=1.0)
    player = LatePlayer()

    out: list[Frame] = []
    ended = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if sum(isinstance(f, ResponseEndFrame) for f in out) == 2:
            ended.set()

    task = PipelineTask([S2SProcessor(mock), player], on_output=collect)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames_of(UTTERANCE))
            await player.first_audio.wait()
            await task.queue_frames(frames_of(UTTERANCE))  # a whole new question, at once
            await player.interrupted.wait()
            await ended.wait()
            await task.stop_when_done()
    ends = [f.interrupted for f in out if isinstance(f, ResponseEndFrame)]
    assert ends == [True, False]  # the answer to the second question was not cut
    assert len(audio_out(out)) > len(second)  # all of the second reply came out
    assert mock.interrupts == []  # no truncation aimed at the wrong reply


async def test_a_resampled_reply_arrives_whole_before_its_end_frame() -> None:
    """The resampler holds a few ms of every reply back; they are played when the reply
    ends, not held until the next reply (where they would open it with the old tail)."""
    reply = tone(0.6, 24000, 500)
    mock = AdvancedMockS2SProvider(audio_outputs=[reply])
    out, _ = await run_pipeline(
        [S2SProcessor(mock)],
        frames_of(UTTERANCE),
        until=lambda out: any(isinstance(f, ResponseEndFrame) for f in out),
        start_frame=StartFrame(input_sample_rate=16000, output_sample_rate=16000),
    )
    end = next(i for i, f in enumerate(out) if isinstance(f, ResponseEndFrame))
    before_end = audio_out(out[:end])
    assert abs(len(before_end) // 2 - 0.6 * 16000) <= 2  # every sample, before the end
