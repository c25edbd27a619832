"""The cascade branch: STTProcessor -> AgentProcessor -> TTSProcessor in real pipelines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from beluga_voice.agents import EchoAgent, RuleAgent
from beluga_voice.conversation import ConversationContext, new_conversation_context
from beluga_voice.frames import (
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    SpeakFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from beluga_voice.pipeline import FrameObserver, FrameProcessor, PipelineTask
from beluga_voice.processors.agent import AgentProcessor
from beluga_voice.processors.stt import STTProcessor
from beluga_voice.processors.tts import TTSProcessor
from beluga_voice.stt import PocketSphinxSTT
from beluga_voice.testing.harness import run_pipeline
from beluga_voice.tts import EspeakTTS, TTSEngine

pytestmark = pytest.mark.anyio

_VOICE = EspeakTTS("en-us+f2", sample_rate=16000, rate=150)
_DOMAIN = PocketSphinxSTT(phrases=RuleAgent().phrases())


def _audio_frames(text: str, rate: int = 16000) -> list[InputAudioFrame]:
    speech = EspeakTTS("en-us+f2", sample_rate=rate, rate=150).synthesize(text)
    pcm = b"\0\0" * (rate // 2) + speech + b"\0\0" * rate
    step = rate // 50 * 2
    return [InputAudioFrame(pcm[i : i + step], rate) for i in range(0, len(pcm), step)]


def _of(frames: list[Frame], kind: type[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f, kind)]


class GatedTTS(TTSEngine):
    """A voice whose every sentence waits for ``gate``: synthesis in flight, on demand."""

    name = "gated"
    sample_rate = 24000

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.started = anyio.Event()
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> bytes:  # pragma: no cover - async path used
        raise AssertionError

    async def synthesize_async(self, text: str) -> bytes:
        self.started.set()
        await self.gate.wait()
        self.spoken.append(text)
        return b"\0\0" * 480


class GatedAgent:
    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.first = anyio.Event()
        self.closed = False

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        try:
            yield "Part one. "
            self.first.set()
            await self.gate.wait()
            yield "Part two."
        finally:
            self.closed = True


async def test_tts_speaks_sentences_and_keeps_response_end_after_the_audio() -> None:
    tts = TTSProcessor(EspeakTTS())
    out, task = await run_pipeline(
        [tts],
        [ResponseStartFrame(), TextFrame("Hello the"), TextFrame("re. How are"),
         TextFrame(" you"), ResponseEndFrame(), SpeakFrame("Verbatim words.")],
    )  # fmt: skip
    assert not task.errors
    assert tts.sentences_spoken == 3
    audio = _of(out, OutputAudioFrame)
    assert audio and all(f.sample_rate == 24000 for f in audio)
    sizes = [len(f.audio) for f in audio]  # type: ignore[attr-defined]
    assert max(sizes) == 960 and sizes.count(960) >= len(sizes) - 3  # short tail per sentence
    end = out.index(_of(out, ResponseEndFrame)[0])
    assert any(isinstance(f, OutputAudioFrame) for f in out[end + 1 :]), "speak came after"
    assert any(isinstance(f, OutputAudioFrame) for f in out[:end])
    assert not _of(out, TextFrame), "text is consumed"


async def test_tts_interruption_drops_queued_and_in_flight_sentences() -> None:
    engine = GatedTTS()
    tts = TTSProcessor(engine)
    out: list[Frame] = []
    interrupted = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, InterruptionFrame):
            interrupted.set()

    task = PipelineTask([tts], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TextFrame("One. Two. Three. "))
            await engine.started.wait()
            await task.queue_frame(InterruptionFrame())
            await interrupted.wait()
            engine.gate.set()
            await task.queue_frame(SpeakFrame("After."))
            await task.stop_when_done()
    assert engine.spoken == ["After."]
    assert len(_of(out, OutputAudioFrame)) == 1
    assert _of(out, InterruptionFrame)


async def test_agent_replies_streams_and_records_history() -> None:
    ctx = new_conversation_context()
    agent = AgentProcessor(RuleAgent(), context=ctx)
    out, task = await run_pipeline(
        [agent],
        [TranscriptionFrame("what is", final=False), TranscriptionFrame("what is two plus two")],
    )
    assert not task.errors
    kinds = [type(f) for f in out][1:-1]  # between StartFrame and EndFrame
    assert kinds == [
        TranscriptionFrame, TranscriptionFrame, ResponseStartFrame, TextFrame,
        TranscriptionFrame, ResponseEndFrame,
    ]  # fmt: skip
    assert out[-3] == TranscriptionFrame("That is 4.", role="assistant")
    assert _of(out, TextFrame)[0].text == "That is 4."  # type: ignore[attr-defined]
    assert [(t.role, t.text) for t in ctx.history] == [
        ("user", "what is two plus two"),
        ("assistant", "That is 4."),
    ]


async def test_interruption_cancels_the_agent_reply() -> None:
    agent = GatedAgent()
    ctx = new_conversation_context()
    proc = AgentProcessor(agent, context=ctx)
    out: list[Frame] = []

    async def collect(frame: Frame) -> None:
        out.append(frame)

    task = PipelineTask([proc], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TranscriptionFrame("tell me a story"))
            await agent.first.wait()
            await task.queue_frame(InterruptionFrame())
            await task.stop_when_done()
    assert agent.closed
    ends = _of(out, ResponseEndFrame)
    assert ends and ends[0].interrupted  # type: ignore[attr-defined]
    assert [t.text for t in _of(out, TextFrame)] == ["Part one. "]  # type: ignore[attr-defined]
    assert ctx.history[-1].text == "Part one." and ctx.history[-1].metadata["interrupted"]


@pytest.mark.parametrize("rate", [16000, 24000])
async def test_stt_with_own_endpointing(rate: int) -> None:
    stt = STTProcessor(_DOMAIN)
    out, task = await run_pipeline([stt], _audio_frames("what is two plus two", rate))
    assert not task.errors
    finals = [f.text for f in _of(out, TranscriptionFrame) if f.final]  # type: ignore[attr-defined]
    assert finals == ["what is two plus two"]
    order = [type(f) for f in out if not isinstance(f, (InputAudioFrame, TranscriptionFrame))][1:]
    assert order[:2] == [UserStartedSpeakingFrame, InterruptionFrame]
    assert UserTurnEndedFrame in order and UserStoppedSpeakingFrame in order
    assert len(_of(out, InputAudioFrame)) == len(_audio_frames("what is two plus two", rate))


class _Counter(FrameObserver):
    def __init__(self, source: FrameProcessor, target: int) -> None:
        self.source, self.target, self.seen = source, target, 0
        self.reached = anyio.Event()

    def on_push(self, source: FrameProcessor, frame: Frame, direction: Direction) -> None:
        if source is self.source and isinstance(frame, InputAudioFrame):
            self.seen += 1
            if self.seen >= self.target:
                self.reached.set()


async def test_stt_following_vad_frames() -> None:
    stt = STTProcessor(_DOMAIN, endpointing="frames", interim=False)
    frames = _audio_frames("hello")
    counter = _Counter(stt, len(frames))
    out: list[Frame] = []
    started = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, StartFrame):
            started.set()

    task = PipelineTask([stt], on_output=collect, observers=[counter])
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await started.wait()  # the recogniser is open
            await task.queue_frames(frames[:10])  # 200 ms of silence: only the pre-roll
            await task.queue_frame(UserStartedSpeakingFrame())
            await task.queue_frames(frames[10:])
            await counter.reached.wait()
            await task.queue_frame(UserStoppedSpeakingFrame())
            await task.stop_when_done()
    assert [f.text for f in _of(out, TranscriptionFrame)] == ["hello"]  # type: ignore[attr-defined]


async def test_the_whole_cascade_answers_a_spoken_question() -> None:
    ctx = new_conversation_context()
    nodes = [
        STTProcessor(_DOMAIN),
        AgentProcessor(RuleAgent(), context=ctx),
        TTSProcessor(EspeakTTS()),
    ]
    out, task = await run_pipeline(nodes, _audio_frames("what is twelve times three"))
    assert not task.errors
    assert [t.text for t in ctx.history] == ["what is twelve times three", "That is 36."]
    speech = [f for f in _of(out, OutputAudioFrame)]
    assert sum(f.duration for f in speech) > 0.5  # type: ignore[attr-defined]


async def test_barge_in_truncates_the_cascade_history_to_the_heard_words() -> None:
    ctx = new_conversation_context()
    tts = TTSProcessor(EspeakTTS())
    nodes = [AgentProcessor(EchoAgent(prefix=""), context=ctx), tts]
    out: list[Frame] = []
    replied = anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, ResponseEndFrame):
            replied.set()

    task = PipelineTask(nodes, on_output=collect)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frame(TranscriptionFrame("One two three four. Five six seven eight."))
            await replied.wait()
            first, second = (ms for _, ms in tts.spoken)
            played = first + second / 2
            await task.queue_frame(
                BotStoppedSpeakingFrame(played_ms=played, interrupted=True), Direction.UPSTREAM
            )
            await task.stop_when_done()
    reply = ctx.history[-1]
    assert reply.text == "One two three four. Five six..."
    assert reply.metadata["full_text"] == "One two three four. Five six seven eight."
    assert reply.metadata["played_ms"] == played
