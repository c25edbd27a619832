"""Issue 16 points 1 and 4: Retry and Fallback as wrapping processors, any processor.

The cascade's processors (here a TTS over scripted engines, and a user's processor) are
wrapped without knowing it; the S2S case goes through the provider wrappers (one
mechanism).  A reply cut by a failure is answered again when the user heard little of it,
and reported as ``reply_cut`` otherwise: never a silent cut.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import anyio
import numpy as np
import pytest
from _pipeline_helpers import run_until_error

from beluga_voice.frames import (
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    ProviderSwitchedFrame,
    ResponseEndFrame,
    ResponseStartFrame,
    TextFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.processors import Fallback, ResiliencePolicy, Retry, S2SProcessor, TTSProcessor
from beluga_voice.providers import S2SConfig
from beluga_voice.providers.fallback import FallbackProvider
from beluga_voice.providers.mock import AdvancedMockS2SProvider
from beluga_voice.providers.retry import RetryingProvider
from beluga_voice.testing import run_pipeline, tone
from beluga_voice.tts.base import TTSEngine

pytestmark = pytest.mark.anyio

RATE = 24000
FAST = {"retry_delay": 0.01, "retry_backoff": 1.0}


def sentence_audio(text: str, seconds: float = 0.06) -> bytes:
    """A distinct, deterministic sound per sentence (so order and duplicates show)."""
    freq = 200 + 10 * (sum(map(ord, text)) % 50)
    return tone(seconds, RATE, freq, 0.3)


class ScriptedTTS(TTSEngine):
    """Speaks each sentence as :func:`sentence_audio`; ``fail`` says, per call number
    (1-based), whether that call raises; ``seconds`` sets each sentence's length."""

    name = "scripted"
    sample_rate = RATE

    def __init__(
        self,
        fail: Callable[[int, str], bool] = lambda n, s: False,
        seconds: Callable[[str], float] = lambda s: 0.06,
        hang: anyio.Event | None = None,
    ) -> None:
        self.fail = fail
        self.seconds = seconds
        self.calls = 0
        self.hang = hang

    def synthesize(self, text: str) -> bytes:
        self.calls += 1
        if self.fail(self.calls, text):
            raise ConnectionError(f"synthesis of {text!r} failed")
        return sentence_audio(text, self.seconds(text))

    async def synthesize_async(self, text: str) -> bytes:
        if self.hang is not None:
            await self.hang.wait()
        return self.synthesize(text)


TURN = [ResponseStartFrame(), TextFrame("Hello there. How are you today?"), ResponseEndFrame()]
FULL = sentence_audio("Hello there.") + sentence_audio("How are you today?")


def audio_out(frames: list[Frame]) -> bytes:
    return b"".join(f.audio for f in frames if isinstance(f, OutputAudioFrame))


def replied(frames: list[Frame]) -> bool:
    return any(isinstance(f, ResponseEndFrame) for f in frames)


def switches(frames: list[Frame]) -> list[tuple[str, str, str]]:
    return [
        (f.from_provider, f.to_provider, f.reason)
        for f in frames
        if isinstance(f, ProviderSwitchedFrame)
    ]


# -- Retry ---------------------------------------------------------------------------------


async def test_retry_reruns_a_failed_tts_turn_and_the_app_sees_no_error() -> None:
    engine = ScriptedTTS(fail=lambda n, s: n == 1)
    tts = TTSProcessor(engine, name="tts")
    out, task = await run_pipeline([Retry(tts, rng=random.Random(1), **FAST)], TURN, until=replied)
    assert audio_out(out) == FULL  # the whole reply, once, in order
    assert switches(out) == [("tts", "tts", "retry")]
    assert task.errors == []


async def test_retry_gives_up_once_then_the_next_turn_works() -> None:
    engine = ScriptedTTS(fail=lambda n, s: s != "Fine.")  # the first turn always fails
    retry = Retry(TTSProcessor(engine, name="tts"), max_retries=2, **FAST)
    turn2 = [ResponseStartFrame(), TextFrame("Fine."), ResponseEndFrame()]
    first_error = anyio.Event()

    async def on_error(frame: ErrorFrame) -> None:
        first_error.set()

    frames: list[Frame] = []

    async def collect(frame: Frame) -> None:
        frames.append(frame)

    task = PipelineTask([retry], on_output=collect, on_error=on_error)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await task.queue_frames(TURN)
            await first_error.wait()
            await task.queue_frames(turn2)
            await task.stop_when_done()
    [error] = task.errors
    assert error.code == "internal_error" and "gave up after 2 retries" in error.message
    assert audio_out(frames).endswith(sentence_audio("Fine."))


async def test_retry_restarts_a_processor_that_failed_for_good() -> None:
    class Flaky(FrameProcessor):
        """A user's processor whose start-up works, but whose first text kills it."""

        def __init__(self) -> None:
            super().__init__(name="flaky")
            self.starts = 0
            self.seen: list[str] = []

        async def on_start(self, frame: Frame) -> None:  # type: ignore[override]
            self.starts += 1

        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, TextFrame):
                self.seen.append(frame.text)
                if len(self.seen) == 1:
                    await self.push_error("backend lost", code="network_error", fatal=True)
                    return
                await self.push_frame(TextFrame(frame.text.upper()))
                return
            await self.push_frame(frame, direction)

    flaky = Flaky()
    out, task = await run_pipeline(
        [Retry(flaky, **FAST)],
        [TextFrame("hi"), ResponseEndFrame()],
        until=replied,
    )
    assert flaky.starts == 2  # restarted after the fatal error
    assert flaky.seen == ["hi", "hi"]  # the turn was done again
    assert [f.text for f in out if isinstance(f, TextFrame)] == ["HI"]
    assert task.errors == []


# -- Never a silent cut ----------------------------------------------------------------------


async def test_a_reply_cut_early_is_answered_again_in_full() -> None:
    # The first sentence (60 ms) plays, then the second fails once: the user heard 60 ms.
    engine = ScriptedTTS(fail=lambda n, s: n == 2)
    out, task = await run_pipeline(
        [Retry(TTSProcessor(engine, name="tts"), **FAST)], TURN, until=replied
    )
    audio = audio_out(out)
    cut = [i for i, f in enumerate(out) if isinstance(f, InterruptionFrame)]
    assert len(cut) == 1  # the 60 ms beginning is flushed...
    after = audio_out(out[cut[0] :])
    assert after == FULL  # ...and the whole answer follows
    assert audio == sentence_audio("Hello there.") + FULL
    assert task.errors == []


async def test_a_reply_cut_late_reaches_the_app_as_reply_cut() -> None:
    engine = ScriptedTTS(fail=lambda n, s: n == 2, seconds=lambda s: 1.2)
    out, task = await run_pipeline(
        [Retry(TTSProcessor(engine, name="tts"), **FAST)],
        TURN,
        until=lambda frames: any(isinstance(f, ProviderSwitchedFrame) for f in frames),
    )
    assert audio_out(out) == sentence_audio("Hello there.", 1.2)  # nothing said twice
    [error] = task.errors
    assert error.code == "reply_cut" and "1200 ms" in error.message


async def test_the_threshold_is_configurable() -> None:
    engine = ScriptedTTS(fail=lambda n, s: n == 2, seconds=lambda s: 1.2)
    policy = ResiliencePolicy(replay_cut_reply_under=2.0, **FAST)
    out, task = await run_pipeline(
        [Retry(TTSProcessor(engine, name="tts"), policy)], TURN, until=replied
    )
    full = sentence_audio("Hello there.", 1.2) + sentence_audio("How are you today?", 1.2)
    assert audio_out(out).endswith(full) and task.errors == []
    assert (
        ResiliencePolicy.from_config(S2SConfig(replay_cut_reply_under=0.5)).replay_cut_reply_under
        == 0.5
    )


# -- Fallback --------------------------------------------------------------------------------


async def test_fallback_moves_a_failing_turn_to_the_next_tts() -> None:
    broken = TTSProcessor(ScriptedTTS(fail=lambda n, s: True), name="primary")
    spare = TTSProcessor(ScriptedTTS(), name="spare")
    out, task = await run_pipeline([Fallback([broken, spare], max_retries=0)], TURN, until=replied)
    assert audio_out(out) == FULL
    assert switches(out) == [("primary", "spare", "error")]
    assert task.errors == []


async def test_fallback_switches_on_a_slow_first_reply_and_probes_back() -> None:
    hang = anyio.Event()
    slow = TTSProcessor(ScriptedTTS(hang=hang), name="slow")
    spare = TTSProcessor(ScriptedTTS(), name="spare")
    fb = Fallback([slow, spare], first_reply_timeout=0.1, probe_cooldown=0.05)

    def until(frames: list[Frame]) -> bool:
        if replied(frames):
            hang.set()  # the slow one is healthy again
        return ("spare", "slow", "recovered") in switches(frames)

    out, task = await run_pipeline([fb], TURN, until=until)
    assert switches(out)[0] == ("slow", "spare", "latency")
    assert audio_out(out) == FULL
    assert fb.active == 0 and task.errors == []


async def test_fallback_gives_up_with_one_error_naming_them_all() -> None:
    a = TTSProcessor(ScriptedTTS(fail=lambda n, s: True), name="a")
    b = TTSProcessor(ScriptedTTS(fail=lambda n, s: True), name="b")
    out, task = await run_until_error([Fallback([a, b])], TURN)
    errors = [e for e in task.errors if "all of a, b failed" in e.message]
    assert len(errors) == 1
    assert audio_out(out) == b""


# -- S2S: the provider wrappers under the processor ------------------------------------------


def test_s2s_processors_are_wrapped_at_the_provider() -> None:
    config = S2SConfig(provider="mock", enable_metrics=False, enable_tracing=False)
    a = S2SProcessor(AdvancedMockS2SProvider("a", config=config))
    b = S2SProcessor(AdvancedMockS2SProvider("b", config=config))
    [inner] = Retry(a, max_retries=2).wrapped
    assert isinstance(inner, S2SProcessor) and isinstance(inner.provider, RetryingProvider)
    assert inner.provider.config.max_retries == 2
    [merged] = Fallback([a, b]).wrapped
    assert isinstance(merged, S2SProcessor) and isinstance(merged.provider, FallbackProvider)
    assert [p.name for p in merged.provider.providers] == ["a", "b"]
    assert merged.context is a.context  # the conversation is the wrapped processor's


async def test_fallback_of_two_s2s_processors_keeps_the_whole_turn() -> None:
    from _resilience_faults import CHUNK, DroppingMock, utterance

    config = S2SConfig(provider="mock", max_retries=0, enable_metrics=False, enable_tracing=False)
    dead = DroppingMock("dead", config=config, drop_after_audio=5, audio_outputs=[tone(0.2)])
    alive = AdvancedMockS2SProvider("alive", config=config, audio_outputs=[tone(0.2, RATE)])
    chunks = utterance(0)
    frames = [InputAudioFrame(c, 16000) for c in chunks]
    speech_bytes = sum(map(len, chunks))
    fb = Fallback([S2SProcessor(dead), S2SProcessor(alive)], max_retries=0)
    out, task = await run_pipeline([fb], frames, until=lambda o: len(audio_out(o)) > 0)
    assert switches(out)[0][:2] == ("dead", "alive")
    assert alive.received_bytes >= speech_bytes - 2 * CHUNK  # nothing the user said is lost
    assert not [e for e in task.errors if e.fatal]


def test_audio_helper_is_deterministic() -> None:
    assert np.array_equal(
        np.frombuffer(sentence_audio("x"), "<i2"), np.frombuffer(sentence_audio("x"), "<i2")
    )
