"""VADProcessor in a running pipeline: speaking frames both ways, barge-in, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from beluga_voice.audio.vad import VADParams, VADState
from beluga_voice.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Direction,
    ErrorFrame,
    Frame,
    InputAudioFrame,
    InterruptionFrame,
    StartFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from beluga_voice.pipeline import FrameProcessor
from beluga_voice.processors.vad import VADProcessor
from beluga_voice.testing import run_pipeline
from beluga_voice.testing.speech_corpus import speech

pytestmark = pytest.mark.anyio
RATE = 16000


def audio_frames(x: np.ndarray, rate: int = RATE, ms: int = 20) -> list[InputAudioFrame]:
    n = rate * ms // 1000
    pcm = x.astype("<i2")
    return [InputAudioFrame(pcm[i : i + n].tobytes(), rate) for i in range(0, pcm.size, n)]


def silence(secs: float) -> np.ndarray:
    return np.zeros(int(secs * RATE), np.int16)


def burst(secs: float) -> np.ndarray:
    """A cough: a loud burst of noise."""
    return (np.random.default_rng(5).standard_normal(int(secs * RATE)) * 6000).astype(np.int16)


class Upstream(FrameProcessor):
    """Records what reaches the start of the pipeline going upstream."""

    def __init__(self) -> None:
        super().__init__(name="Upstream")
        self.seen: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.UPSTREAM:
            self.seen.append(frame)
        await self.push_frame(frame, direction)


def of(frames: list[Frame], cls: type[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f, cls)]


async def test_speaking_frames_go_both_ways_and_audio_passes() -> None:
    x = np.concatenate([silence(0.5), speech("Please call me back tomorrow."), silence(1.2)])
    frames = audio_frames(x)
    up = Upstream()
    vad = VADProcessor()
    out, task = await run_pipeline([up, vad], frames, start_frame=StartFrame(RATE))
    assert not task.errors
    assert len(of(out, InputAudioFrame)) == len(frames)
    assert len(of(out, UserStartedSpeakingFrame)) == 1
    assert len(of(out, UserStoppedSpeakingFrame)) == 1
    assert len(of(up.seen, UserStartedSpeakingFrame)) == 1
    assert len(of(up.seen, UserStoppedSpeakingFrame)) == 1
    assert not of(out, InterruptionFrame)  # the bot was not speaking
    start, stop = vad.events[0], vad.events[1]
    assert start.speech_time == pytest.approx(0.5, abs=0.06)
    assert stop.at - stop.speech_time == pytest.approx(0.8, abs=0.02)


async def test_barge_in_interrupts_but_a_cough_does_not() -> None:
    params = VADParams(start_secs=0.2, interrupt_min_secs=0.5, stop_secs=0.4)
    cough = audio_frames(np.concatenate([silence(0.3), burst(0.3), silence(0.8)]))
    talk = audio_frames(np.concatenate([speech("Wait, stop, that is not what I meant.")]))
    vad = VADProcessor(params=params)
    out, task = await run_pipeline(
        [vad], [BotStartedSpeakingFrame(), *cough, *talk, BotStoppedSpeakingFrame()]
    )
    assert not task.errors
    assert len(of(out, UserStartedSpeakingFrame)) == 2  # the cough did count as speech...
    assert len(of(out, InterruptionFrame)) == 1  # ...but only the talk interrupted
    kinds = [e.kind.value for e in vad.events]
    assert kinds == ["started", "stopped", "started", "interrupt"]
    assert not vad.bot_speaking


async def test_bot_speaking_frames_from_downstream_are_seen() -> None:
    vad = VADProcessor(params=VADParams(interrupt_min_secs=0.3))
    seen_bot: list[bool] = []

    class Probe(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, InputAudioFrame) and not seen_bot:
                seen_bot.append(True)
                await self.push_frame(BotStartedSpeakingFrame(), Direction.UPSTREAM)
            await self.push_frame(frame, direction)

    frames = audio_frames(np.concatenate([silence(0.2), speech("I need to interrupt you now.")]))
    out, task = await run_pipeline([vad, Probe()], frames)
    assert not task.errors
    assert vad.bot_speaking
    assert len(of(out, InterruptionFrame)) == 1


async def test_bad_audio_is_reported_and_the_stream_goes_on() -> None:
    vad = VADProcessor()
    good = audio_frames(np.concatenate([speech("still working fine"), silence(1.0)]))
    weird = InputAudioFrame(bytes(640), 12345 * 100)  # a rate nobody supports
    out, task = await run_pipeline([vad], [weird, *good])
    errors = [e for e in task.errors if isinstance(e, ErrorFrame)]
    assert len(errors) == 1 and "sample rate" in errors[0].message
    assert len(of(out, UserStartedSpeakingFrame)) == 1
    assert vad.state is VADState.QUIET
