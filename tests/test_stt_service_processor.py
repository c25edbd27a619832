"""STTProcessor driving a recognition service (Deepgram's fake) in real pipelines:
interim and final transcripts, turn frames, barge-in, failures, Retry and Fallback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import pytest
from test_cascade_errors import Turns

from beluga_voice.agents.rules import RuleAgent
from beluga_voice.frames import (
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    ProviderSwitchedFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    UserTurnEndedFrame,
)
from beluga_voice.pipeline import PipelineTask
from beluga_voice.processors.resilience import Fallback, Retry
from beluga_voice.processors.stt import STTProcessor
from beluga_voice.stt import AsyncSTTEngine, AsyncSTTStream, PocketSphinxSTT
from beluga_voice.stt.deepgram import DeepgramSTT
from beluga_voice.testing.fake_deepgram import FakeDeepgramServer
from beluga_voice.testing.harness import run_pipeline
from beluga_voice.tts import EspeakTTS

pytestmark = pytest.mark.anyio

KEY = "dg-test-key-0123456789"
_SPEECH = EspeakTTS("en-us+f2", sample_rate=16000, rate=150).synthesize("what is two plus two")
_TURN = b"\0\0" * 8000 + _SPEECH + b"\0\0" * 16000


def _frames(pcm: bytes) -> list[InputAudioFrame]:
    return [InputAudioFrame(pcm[i : i + 640], 16000) for i in range(0, len(pcm), 640)]


def _texts(out: list[Frame], final: bool) -> list[str]:
    return [f.text for f in out if isinstance(f, TranscriptionFrame) and f.final is final]


def _finals(count: int):  # type: ignore[no-untyped-def]
    return lambda out: len(_texts(out, True)) >= count


def _turn(turns: Turns, pcm: bytes) -> list[InputAudioFrame]:
    """``pcm`` as one turn marked the way a VAD upstream would mark it."""
    frames = _frames(pcm)
    turns.start_of.add(id(frames[0]))
    turns.end_of.add(id(frames[-1]))
    return frames


def _deepgram(fake: FakeDeepgramServer, **options: object) -> DeepgramSTT:
    return DeepgramSTT(api_key=KEY, base_url=fake.url, **options)  # type: ignore[arg-type]


async def test_own_endpointing_gives_interims_then_the_final_and_the_turn_frames() -> None:
    async with FakeDeepgramServer(["what is two plus two", "and three"]) as fake:
        stt = STTProcessor(_deepgram(fake), name="stt")
        out, task = await run_pipeline([stt], _frames(_TURN + _TURN), until=_finals(2))
    assert not task.errors
    assert _texts(out, True) == ["what is two plus two", "and three"]
    assert _texts(out, False)  # interim results while the user spoke
    kinds = [
        type(f) for f in out if not isinstance(f, InputAudioFrame | ErrorFrame)
    ]  # one turn: started, barge-in, interims..., stopped, final, turn ended
    first = kinds[: kinds.index(UserTurnEndedFrame) + 1]
    assert first[1:3] == [UserStartedSpeakingFrame, InterruptionFrame]
    assert first.index(UserStoppedSpeakingFrame) < len(first) - 2
    assert first[-2:] == [TranscriptionFrame, UserTurnEndedFrame]
    assert len([f for f in out if isinstance(f, InputAudioFrame)]) == len(_frames(_TURN + _TURN))
    assert fake.records.controls.count("Finalize") == 2
    assert fake.records.connections == 1


async def test_frames_endpointing_recognises_between_the_vad_frames() -> None:
    turns = Turns()
    frames = [*_frames(b"\0\0" * 4000), *_turn(turns, _SPEECH), *_frames(b"\0\0" * 4000)]
    async with FakeDeepgramServer(["what is two plus two"]) as fake:
        stt = STTProcessor(_deepgram(fake), endpointing="frames", interim=False)
        out, task = await run_pipeline([turns, stt], frames, until=_finals(1))
    assert not task.errors
    assert _texts(out, True) == ["what is two plus two"] and _texts(out, False) == []
    assert not [f for f in out if isinstance(f, InterruptionFrame)]  # the VAD's job here


async def test_a_lost_connection_costs_the_utterance_not_the_next() -> None:
    out: list[Frame] = []
    failed, heard = anyio.Event(), anyio.Event()

    async def collect(frame: Frame) -> None:
        out.append(frame)
        if _texts(out, True):
            heard.set()

    async def on_error(error: ErrorFrame) -> None:
        failed.set()

    async with FakeDeepgramServer(["lost", "heard again"], drop_after_ms=[400]) as fake:
        stt = STTProcessor(_deepgram(fake, reconnects=0), name="stt")
        task = PipelineTask([stt], on_output=collect, on_error=on_error)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(task.run)
                await task.queue_frames(_frames(_TURN))
                await failed.wait()  # mid-utterance or after it: either way it is reported
                await task.queue_frames(_frames(_TURN))
                await heard.wait()
                await task.stop_when_done()
    assert [(e.source, e.code) for e in task.errors] == [("stt", "network_error")]
    assert _texts(out, True) == ["heard again"]
    talk = [
        type(f) for f in out if isinstance(f, UserStartedSpeakingFrame | UserStoppedSpeakingFrame)
    ]
    assert talk[-2:] == [UserStartedSpeakingFrame, UserStoppedSpeakingFrame]
    assert talk.count(UserStartedSpeakingFrame) == talk.count(UserStoppedSpeakingFrame)
    assert fake.records.connections == 2  # the next audio opened a new connection


async def test_retry_recognises_the_turn_again_after_a_failure() -> None:
    turns = Turns()
    async with FakeDeepgramServer(["lost", "what is two plus two"], drop_after_ms=[400]) as fake:
        stt = STTProcessor(_deepgram(fake, reconnects=0), endpointing="frames", name="stt")
        retry = Retry(stt, retry_delay=0.01)
        out, task = await run_pipeline([turns, retry], _turn(turns, _SPEECH), until=_finals(1))
    assert not task.errors  # healed: the application hears no error
    assert _texts(out, True) == ["what is two plus two"]
    switched = [f for f in out if isinstance(f, ProviderSwitchedFrame)]
    assert [f.reason for f in switched] == ["retry"]
    assert fake.records.connections == 2


async def test_fallback_to_pocketsphinx_when_the_service_refuses_the_key() -> None:
    turns = Turns()
    async with FakeDeepgramServer(api_key="another-key-0123456789") as fake:
        cloud = STTProcessor(_deepgram(fake), endpointing="frames", name="deepgram")
        local = STTProcessor(
            PocketSphinxSTT(phrases=RuleAgent().phrases()), endpointing="frames", name="local"
        )
        fallback = Fallback([cloud, local], first_reply_timeout=None)
        speech = b"\0\0" * 4000 + _SPEECH + b"\0\0" * 4000
        out, task = await run_pipeline([turns, fallback], _turn(turns, speech), until=_finals(1))
    assert _texts(out, True) == ["what is two plus two"]
    switched = [f for f in out if isinstance(f, ProviderSwitchedFrame)]
    assert [(f.from_provider, f.to_provider, f.reason) for f in switched] == [
        ("deepgram", "local", "error")
    ]
    assert not task.errors


class StuckService(AsyncSTTEngine):
    """A service whose connection never opens: the operations back up."""

    name = "stuck"
    sample_rate = 16000

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncSTTStream]:
        await anyio.sleep_forever()
        yield  # type: ignore[misc]  # pragma: no cover - never reached


async def test_a_service_that_falls_behind_costs_the_utterance_with_an_error_not_memory() -> None:
    turns = Turns()
    stt = STTProcessor(StuckService(), endpointing="frames", backlog=5, name="stt")
    out, task = await run_pipeline([turns, stt], _turn(turns, _SPEECH))
    assert [(e.source, e.code) for e in task.errors] == [("stt", "stream_error")]
    assert len([f for f in out if isinstance(f, InputAudioFrame)]) == len(_frames(_SPEECH))
    assert not _texts(out, True)


async def test_an_end_frame_waits_for_the_final_the_service_owes() -> None:
    turns = Turns()
    async with FakeDeepgramServer(["said just before the end"]) as fake:
        stt = STTProcessor(_deepgram(fake), endpointing="frames", name="stt")
        out, task = await run_pipeline([turns, stt], _turn(turns, _SPEECH))  # then EndFrame
    assert not task.errors
    assert _texts(out, True) == ["said just before the end"]
    assert fake.records.controls[-2:] == ["Finalize", "CloseStream"]


class BuggyOnce(AsyncSTTEngine):
    """A service client with a bug on its first connection, then a working one."""

    name = "buggy"
    sample_rate = 16000

    def __init__(self, inner: DeepgramSTT) -> None:
        self.inner = inner
        self.calls = 0

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncSTTStream]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug in the client")
        async with self.inner.connect() as stream:
            yield stream


async def test_a_client_bug_is_reported_once_and_the_next_turn_is_heard() -> None:
    turns = Turns()
    async with FakeDeepgramServer(["heard after the bug"]) as fake:
        stt = STTProcessor(BuggyOnce(_deepgram(fake)), endpointing="frames", name="stt")
        out, task = await run_pipeline([turns, stt], _turn(turns, _SPEECH), until=_finals(1))
    assert [(e.source, e.code) for e in task.errors] == [("stt", "internal_error")]
    assert _texts(out, True) == ["heard after the bug"]
