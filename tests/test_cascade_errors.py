"""The cascade branch under failure: an error in one turn never silences the next.

Each processor of STT -> agent -> TTS meets a failing engine once; the failure reaches
the application as an ErrorFrame with the right code, the next turn is answered, and
shutdown (graceful or cancel) is not held up by the failure or by work in flight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import pytest

from beluga_voice.conversation import ConversationContext
from beluga_voice.frames import (
    Direction,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    TextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors.agent import AgentProcessor
from beluga_voice.processors.stt import STTProcessor
from beluga_voice.processors.tts import TTSProcessor
from beluga_voice.providers import ErrorCode, S2SError
from beluga_voice.stt import STTEngine, STTResult, STTStream
from beluga_voice.testing import run_pipeline, tone
from beluga_voice.tts import TTSEngine

pytestmark = pytest.mark.anyio

FAILURES = [
    pytest.param(RuntimeError("engine hiccup"), "internal_error", id="bug"),
    pytest.param(
        S2SError("synthesize", ErrorCode.NETWORK_ERROR, "reset"), "network_error", id="net"
    ),
]


def _of(frames: list[Frame], kind: type[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f, kind)]


# -- TTS ----------------------------------------------------------------------------------


class FlakyTTS(TTSEngine):
    """Fails on its first sentence, then speaks 0.1 s of silence per sentence."""

    name = "flaky"
    sample_rate = 16000

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> bytes:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.spoken.append(text)
        return bytes(2 * 1600)


@pytest.mark.parametrize(("error", "code"), FAILURES)
async def test_a_failed_sentence_does_not_silence_the_next_turn(
    error: Exception, code: str
) -> None:
    engine = FlakyTTS(error)
    tts = TTSProcessor(engine, name="tts")
    turns: list[Frame] = []
    for text in ["First turn.", "Second turn."]:
        turns += [ResponseStartFrame(), TextFrame(text), ResponseEndFrame()]
    out, task = await run_pipeline([tts], turns, stop_timeout=1.0)
    assert [(e.source, e.code, e.fatal) for e in task.errors] == [("tts", code, False)]
    assert engine.spoken == ["Second turn."]
    assert len(_of(out, ResponseEndFrame)) == 2  # the failed reply still ended
    second = out.index(_of(out, ResponseEndFrame)[0])
    assert _of(out[second:], OutputAudioFrame), "the second turn was spoken"
    assert task.stuck == []  # the end was not held up by a dead worker


class StuckTTS(TTSEngine):
    """A voice that never finishes a sentence (a hung synthesis service)."""

    name = "stuck"

    def __init__(self) -> None:
        self.started = anyio.Event()

    def synthesize(self, text: str) -> bytes:  # pragma: no cover - async path used
        raise AssertionError

    async def synthesize_async(self, text: str) -> bytes:
        self.started.set()
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover


async def _cancel_while(nodes: list[FrameProcessor], busy: anyio.Event, *frames: Frame) -> float:
    """Queue ``frames``, wait for ``busy``, cancel; the seconds the cancel took."""
    task = PipelineTask(nodes, stop_timeout=1.0)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(frames)
            await busy.wait()
            start = anyio.current_time()
            await task.cancel()
        elapsed = anyio.current_time() - start
    assert task.stuck == []
    return elapsed


async def test_cancel_drops_the_sentences_in_flight_instead_of_waiting_for_them() -> None:
    engine = StuckTTS()
    elapsed = await _cancel_while([TTSProcessor(engine)], engine.started, TextFrame("One. Two."))
    assert elapsed < 0.5  # it used to wait for the stop deadline, stuck on CancelFrame


# -- agent --------------------------------------------------------------------------------


class FlakyAgent:
    """Fails half-way through its first reply; answers the next ones."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error
        self.started = anyio.Event()
        self.release = anyio.Event()

    async def respond(self, text: str, ctx: ConversationContext) -> AsyncIterator[str]:
        yield "Let me see. "
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.started.set()
        await self.release.wait()
        yield f"You said {text}."


@pytest.mark.parametrize(("error", "code"), FAILURES)
async def test_a_failed_reply_is_reported_and_the_next_utterance_answered(
    error: Exception, code: str
) -> None:
    agent = FlakyAgent(error)
    agent.release.set()
    out: list[Frame] = []
    ended = [anyio.Event(), anyio.Event()]

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, ResponseEndFrame):
            ended[len(_of(out, ResponseEndFrame)) - 1].set()

    task = PipelineTask([AgentProcessor(agent, name="agent")], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for i, text in enumerate(["one", "two"]):
                await task.queue_frame(TranscriptionFrame(text, final=True))
                await ended[i].wait()
            await task.stop_when_done()
    assert [(e.source, e.code) for e in task.errors] == [("agent", code)]
    replies = [f.text for f in _of(out, TranscriptionFrame) if f.role == "assistant"]  # type: ignore[attr-defined]
    assert replies == ["Let me see.", "Let me see. You said two."]


async def test_cancel_cancels_the_reply_in_flight_instead_of_waiting_for_it() -> None:
    agent = FlakyAgent(RuntimeError("unused"))
    agent.error = None  # a slow agent: it waits for release, which never comes
    elapsed = await _cancel_while(
        [AgentProcessor(agent)], agent.started, TranscriptionFrame("hi", final=True)
    )
    assert elapsed < 0.5


# -- STT ----------------------------------------------------------------------------------


class FlakyStream(STTStream):
    """Breaks mid-utterance (its third call on, every call raises) until reset, as a
    recogniser whose connection dropped; then hears "hello" in every utterance."""

    sample_rate = 16000

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0
        self.broken = False
        self.repaired = False
        self.heard = 0

    def feed(self, pcm: bytes) -> STTResult | None:
        self.calls += 1
        self.broken = self.broken or (self.calls >= 3 and not self.repaired)
        if self.broken:
            raise self.error
        self.heard += len(pcm)
        return None

    def finish(self) -> STTResult:
        if self.broken:
            raise self.error
        result = STTResult("hello" if self.heard else "", final=True)
        self.heard = 0
        return result

    def reset(self) -> None:
        self.broken = False
        self.repaired = True
        self.heard = 0


class FlakySTT(STTEngine):
    name = "flaky"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.streams: list[FlakyStream] = []

    def open_stream(self) -> FlakyStream:
        self.streams.append(FlakyStream(self.error))
        return self.streams[-1]


SPEECH = bytes(2 * 4800) + tone(0.6, 16000, 300, 0.5) + bytes(2 * 16000)


def _audio(pcm: bytes) -> list[InputAudioFrame]:
    return [InputAudioFrame(pcm[i : i + 640], 16000) for i in range(0, len(pcm), 640)]


def _finals(out: list[Frame]) -> list[str]:
    return [f.text for f in _of(out, TranscriptionFrame) if f.final]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("error", "code"), FAILURES)
async def test_a_recogniser_failure_costs_one_utterance_not_the_next(
    error: Exception, code: str
) -> None:
    stt = STTProcessor(FlakySTT(error), name="stt")
    out, task = await run_pipeline(
        [stt], _audio(SPEECH + SPEECH), until=lambda out: _finals(out) == ["hello"]
    )
    assert [(e.source, e.code) for e in task.errors] == [("stt", code)]  # once, not per frame
    # The failed turn was announced, so it is closed, then the next one is heard.
    talk = [
        type(f) for f in out if isinstance(f, UserStartedSpeakingFrame | UserStoppedSpeakingFrame)
    ]
    assert talk == [UserStartedSpeakingFrame, UserStoppedSpeakingFrame] * 2


class Turns(FrameProcessor):
    """Stands in for a VAD: marks where turns start and end (the end with a
    UserTurnEndedFrame, which keeps its place behind the audio)."""

    def __init__(self) -> None:
        super().__init__(name="turns")
        self.start_of: set[int] = set()
        self.end_of: set[int] = set()

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if id(frame) in self.start_of:
            await self.push_frame(UserStartedSpeakingFrame(), direction)
        await self.push_frame(frame, direction)
        if id(frame) in self.end_of:
            await self.push_frame(UserTurnEndedFrame(), direction)


async def test_a_recogniser_failure_following_vad_frames_costs_one_utterance() -> None:
    error = S2SError("feed", ErrorCode.STREAM_CLOSED, "dropped")
    turns, stt = Turns(), STTProcessor(FlakySTT(error), endpointing="frames", name="stt")
    out: list[Frame] = []
    ended = [anyio.Event(), anyio.Event()]

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if isinstance(frame, UserTurnEndedFrame):
            ended[len(_of(out, UserTurnEndedFrame)) - 1].set()

    task = PipelineTask([turns, stt], on_output=collect)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            for i in range(2):  # turn by turn, as a live VAD would see them
                speech = _audio(tone(0.4, 16000, 300, 0.5))
                turns.start_of.add(id(speech[0]))
                turns.end_of.add(id(speech[-1]))
                await task.queue_frames(speech)
                await ended[i].wait()
            await task.stop_when_done()
    assert [(e.source, e.code) for e in task.errors] == [("stt", "stream_closed")]
    assert _finals(out) == ["hello"]


async def test_the_tts_queue_is_bounded_and_holds_the_producer_back() -> None:
    from beluga_voice.processors.tts import MAX_JOBS

    gate = anyio.Event()

    class SlowTTS(TTSEngine):
        name = "slow"
        sample_rate = 16000

        def synthesize(self, text: str) -> bytes:
            return bytes(320)

        async def synthesize_async(self, text: str) -> bytes:
            await gate.wait()  # a slow voice: nothing comes out until the gate opens
            return self.synthesize(text)

    tts = TTSProcessor(SlowTTS(), aggregate=False)
    task = PipelineTask([tts])
    sent = 0
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)

            produced = anyio.Event()

            async def produce() -> None:
                nonlocal sent
                for i in range(MAX_JOBS + 500):
                    await task.queue_frame(TextFrame(f"sentence {i}."))
                    sent += 1
                produced.set()

            tg.start_soon(produce)
            while len(tts._jobs) < MAX_JOBS:  # the voice is stuck: jobs pile up to the bound
                await anyio.lowlevel.checkpoint()
            for _ in range(500):  # ... and no further, however long the producer tries
                await anyio.lowlevel.checkpoint()
            assert len(tts._jobs) == MAX_JOBS  # bounded: the producer waits
            assert sent < MAX_JOBS + 500  # (the inboxes before it hold the rest it sent)
            gate.set()
            await produced.wait()  # the voice is back: everything goes through
            await task.cancel()
