"""TTSProcessor with a streaming voice: audio while the agent is still writing, barge-in
that stops the audio within one chunk, tells the service, and reports the words heard, and
the resilience wrappers retrying a dropped reply or falling back to espeak."""

from __future__ import annotations

import random

import anyio
import pytest

from beluga_voice.frames import (
    BotStoppedSpeakingFrame,
    Direction,
    Frame,
    InterruptionFrame,
    OutputAudioFrame,
    ProviderSwitchedFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    SpeakFrame,
    TextFrame,
    TranscriptionFrame,
)
from beluga_voice.pipeline import PipelineTask
from beluga_voice.processors import Fallback, Retry, TTSProcessor
from beluga_voice.testing import run_pipeline
from beluga_voice.testing.fake_cartesia import FakeCartesia
from beluga_voice.testing.fake_elevenlabs import FakeElevenLabs
from beluga_voice.testing.fake_openai_tts import FakeOpenAITTS
from beluga_voice.tts import EspeakTTS
from beluga_voice.tts.cartesia import CartesiaTTS
from beluga_voice.tts.elevenlabs import ElevenLabsTTS
from beluga_voice.tts.openai_tts import OpenAITTS

pytestmark = pytest.mark.anyio
MS = 20.0  # the fakes' milliseconds of audio per character
FAST = {"retry_delay": 0.01, "retry_backoff": 1.0}


def _of(frames: list[Frame], kind: type[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f, kind)]


def _audio_ms(frames: list[Frame]) -> float:
    return sum(len(f.audio) for f in _of(frames, OutputAudioFrame)) / 48  # type: ignore[attr-defined]


class RecordingTTS(TTSProcessor):
    """Notes every frame it pushes, in order (what it did, not what a queue held)."""

    pushed: list[Frame]

    async def push_frame(self, frame: Frame, direction: Direction = Direction.DOWNSTREAM) -> None:
        self.__dict__.setdefault("pushed", []).append(frame)
        await super().push_frame(frame, direction)


class Probe:
    """A pipeline around one processor that records what comes out either end."""

    def __init__(self, processor: TTSProcessor | Fallback | Retry) -> None:
        self.out: list[Frame] = []
        self.up: list[Frame] = []
        self.audio = anyio.Event()
        self.enough = anyio.Event()
        self.enough_ms = 0.0
        self.ended = anyio.Event()
        self.task = PipelineTask([processor], on_output=self._down, on_upstream=self._upward)

    async def _down(self, frame: Frame) -> None:
        self.out.append(frame)
        if isinstance(frame, OutputAudioFrame):
            self.audio.set()
            if _audio_ms(self.out) >= self.enough_ms:
                self.enough.set()
        if isinstance(frame, ResponseEndFrame):
            self.ended.set()

    async def _upward(self, frame: Frame) -> None:
        self.up.append(frame)


@pytest.mark.parametrize("service", ["elevenlabs", "cartesia", "openai"])
async def test_first_audio_comes_before_the_reply_text_is_complete(service: str) -> None:
    fakes = {"elevenlabs": FakeElevenLabs, "cartesia": FakeCartesia, "openai": FakeOpenAITTS}
    async with fakes[service](ms_per_char=MS) as fake:
        engine = {
            "elevenlabs": lambda: ElevenLabsTTS(api_key=fake.api_key, base_url=fake.base_url),
            "cartesia": lambda: CartesiaTTS(api_key=fake.api_key, base_url=fake.base_url),
            "openai": lambda: OpenAITTS(api_key=fake.api_key, base_url=fake.base_url),
        }[service]()
        probe = Probe(TTSProcessor(engine, name="tts"))
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(probe.task.run)
                await probe.task.queue_frames(
                    [
                        ResponseStartFrame(),
                        TextFrame("Hello "),
                        TextFrame("there. "),
                        TextFrame("And"),
                    ]
                )
                await probe.audio.wait()  # the reply is not finished: "And..." is to come
                before_end = _audio_ms(probe.out)
                await probe.task.queue_frames([TextFrame(" more."), ResponseEndFrame()])
                await probe.ended.wait()
                await probe.task.stop_when_done()
    assert 0 < before_end < len("Hello there. And") * MS  # the first sentence only
    assert _audio_ms(probe.out) == pytest.approx(len("Hello there. And more.") * MS, abs=3 * MS)
    last_audio = max(i for i, f in enumerate(probe.out) if isinstance(f, OutputAudioFrame))
    assert isinstance(probe.out[last_audio + 1], ResponseEndFrame)  # passed on after the audio
    assert probe.task.errors == []


@pytest.mark.parametrize("service", ["elevenlabs", "cartesia"])
async def test_barge_in_stops_within_one_chunk_cancels_the_service_and_reports_heard_text(
    service: str,
) -> None:
    fake_type = FakeElevenLabs if service == "elevenlabs" else FakeCartesia
    voice_type = ElevenLabsTTS if service == "elevenlabs" else CartesiaTTS
    async with fake_type(ms_per_char=MS, message_ms=40.0) as fake:
        engine = voice_type(api_key=fake.api_key, base_url=fake.base_url)
        tts = RecordingTTS(engine, name="tts", chunk_ms=20)
        probe = Probe(tts)
        probe.enough_ms = 300.0
        text = "One two three four five six seven eight nine ten. "
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(probe.task.run)
                await probe.task.queue_frames([ResponseStartFrame(), TextFrame(text)])
                await probe.enough.wait()  # 300 ms of the 1 s reply reached the output
                await probe.task.queue_frame(InterruptionFrame())
                with anyio.fail_after(1):
                    await fake.wait_until(lambda f: f.finished > 0)  # the service was told at once
                at_interruption = len(_of(probe.out, OutputAudioFrame))
                await probe.task.queue_frame(
                    BotStoppedSpeakingFrame(played_ms=14 * MS, interrupted=True), Direction.UPSTREAM
                )
                await probe.task.stop_when_done()
    interruption = next(i for i, f in enumerate(tts.pushed) if isinstance(f, InterruptionFrame))
    after = _of(tts.pushed[interruption:], OutputAudioFrame)
    assert len(after) <= 1, "audio kept coming after the barge-in"
    assert at_interruption < len(text) * MS / 20  # it was cut, not spoken out
    if isinstance(fake, FakeElevenLabs):
        assert fake.closed_early == 1  # one generation per connection: closing cancels it
    else:
        assert fake.cancelled == [fake.received[0]["context_id"]]
    heard = [f for f in probe.up if isinstance(f, TranscriptionFrame)]
    assert [(f.text, f.role) for f in heard] == [("One two three...", "assistant")]


async def test_speak_frames_and_unaggregated_text_are_spoken_whole() -> None:
    async with FakeCartesia(ms_per_char=MS) as fake:
        engine = CartesiaTTS(api_key=fake.api_key, base_url=fake.base_url)
        out, task = await run_pipeline(
            [TTSProcessor(engine, aggregate=False)],
            [SpeakFrame("Welcome."), ResponseStartFrame(), TextFrame("Hi"), ResponseEndFrame()],
            until=lambda fs: len(_of(fs, ResponseEndFrame)) == 1,
        )
    assert task.errors == []
    assert _audio_ms(out) == pytest.approx(len("Welcome.Hi") * MS, abs=2 * MS)
    assert [m["transcript"] for m in fake.received if m["transcript"]] == ["Welcome.", "Hi"]


TURN = [ResponseStartFrame(), TextFrame("Hello there. "), TextFrame("Bye now."), ResponseEndFrame()]


def _ended(frames: list[Frame]) -> bool:
    return any(isinstance(f, ResponseEndFrame) for f in frames)


async def test_retry_speaks_a_dropped_reply_again_on_a_new_connection() -> None:
    async with FakeElevenLabs(ms_per_char=MS, drop_after=1) as fake:
        engine = ElevenLabsTTS(api_key=fake.api_key, base_url=fake.base_url)
        tts = TTSProcessor(engine, name="tts")
        retry = Retry(tts, rng=random.Random(1), **FAST)

        async def heal() -> None:
            await fake.wait_until(lambda f: f.finished > 0)
            fake.drop_after = None  # the service is back for the next attempt

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(heal)
                out, task = await run_pipeline([retry], TURN, until=_ended)
    switched = [(f.reason) for f in _of(out, ProviderSwitchedFrame)]  # type: ignore[attr-defined]
    assert switched == ["retry"] and task.errors == []
    assert len(fake.handshakes) == 2
    assert tts.streamer is not None and tts.streamer.timeline is not None
    assert tts.streamer.timeline.text == "Hello there. Bye now."


async def test_fallback_to_espeak_when_the_cloud_voice_refuses_the_key() -> None:
    async with FakeElevenLabs() as fake:
        cloud = TTSProcessor(
            ElevenLabsTTS(api_key="wrong-key-0123456789", base_url=fake.base_url), name="eleven"
        )
        local = TTSProcessor(EspeakTTS(), name="espeak")
        out, task = await run_pipeline(
            [Fallback([cloud, local], max_retries=0)], TURN, until=_ended
        )
    assert fake.refused == [401]
    switched = [(f.from_provider, f.to_provider, f.reason) for f in _of(out, ProviderSwitchedFrame)]  # type: ignore[attr-defined]
    assert switched == [("eleven", "espeak", "error")]
    assert _audio_ms(out) > 500  # espeak spoke the whole reply
    assert task.errors == []
