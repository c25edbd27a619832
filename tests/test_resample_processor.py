"""ResampleProcessor inside a running pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from beluga_voice.frames import (
    AudioFrame,
    InputAudioFrame,
    InterruptionFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
    TextFrame,
)
from beluga_voice.processors.resample import ResampleProcessor
from beluga_voice.testing import run_pipeline

pytestmark = pytest.mark.anyio


def chunks(rate: int, seconds: float, ms: int = 20, cls: type[AudioFrame] = InputAudioFrame):
    n = rate * ms // 1000
    t = np.arange(int(rate * seconds)) / rate
    x = np.rint(np.sin(2 * np.pi * 440 * t) * 16000).astype("<i2")
    return [cls(x[i : i + n].tobytes(), rate) for i in range(0, x.size, n)]


def audio_of(frames, cls=InputAudioFrame) -> list[AudioFrame]:  # type: ignore[no-untyped-def]
    return [f for f in frames if isinstance(f, cls)]


async def test_input_audio_resampled_to_start_frame_rate() -> None:
    frames = chunks(48000, 1.0)
    out, task = await run_pipeline(
        [ResampleProcessor()], [*frames, TextFrame("hi")], start_frame=StartFrame(16000, 24000)
    )
    audio = audio_of(out)
    assert not task.errors
    assert all(f.sample_rate == 16000 for f in audio)
    assert sum(f.num_samples for f in audio) == 16000  # the EndFrame flushed the tail
    assert any(isinstance(f, TextFrame) for f in out)


async def test_configured_rate_and_mid_stream_rate_change() -> None:
    frames = chunks(48000, 0.5) + chunks(8000, 0.5)
    out, task = await run_pipeline([ResampleProcessor(24000)], frames)
    audio = audio_of(out)
    assert not task.errors
    assert {f.sample_rate for f in audio} == {24000}
    assert sum(f.num_samples for f in audio) == 24000


async def test_output_audio_mode_leaves_input_alone() -> None:
    mic = chunks(16000, 0.2)
    bot = chunks(16000, 0.4, cls=OutputAudioFrame)
    proc = ResampleProcessor(frame_type=OutputAudioFrame)
    out, task = await run_pipeline([proc], [*mic, *bot], start_frame=StartFrame(16000, 48000))
    assert not task.errors
    assert audio_of(out, InputAudioFrame)[0].sample_rate == 16000
    bot_out = audio_of(out, OutputAudioFrame)
    assert {f.sample_rate for f in bot_out} == {48000}
    assert sum(f.num_samples for f in bot_out) == 19200


async def test_interruption_resets_output_filter() -> None:
    bot = chunks(24000, 0.2, cls=OutputAudioFrame)
    proc = ResampleProcessor(16000, frame_type=OutputAudioFrame)
    out, task = await run_pipeline([proc], [*bot, InterruptionFrame()])
    assert not task.errors
    assert any(isinstance(f, InterruptionFrame) for f in out)


async def test_same_rate_passes_frames_through() -> None:
    frames = chunks(16000, 0.1)
    out, _ = await run_pipeline([ResampleProcessor(16000)], frames)
    assert [f.audio for f in audio_of(out)] == [f.audio for f in frames]


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="target sample rate"):
        ResampleProcessor(3)
    with pytest.raises(ValueError, match="quality"):
        ResampleProcessor(quality="?")


async def test_a_reply_is_flushed_whole_before_its_end_frame() -> None:
    """The filter's held-back tail belongs to the reply that ends, not to the next one."""
    bot = chunks(24000, 0.4, cls=OutputAudioFrame)
    proc = ResampleProcessor(16000, frame_type=OutputAudioFrame)
    out, task = await run_pipeline([proc], [*bot, ResponseEndFrame(), TextFrame("next")])
    assert not task.errors
    end = next(i for i, f in enumerate(out) if isinstance(f, ResponseEndFrame))
    assert sum(f.num_samples for f in audio_of(out[:end], OutputAudioFrame)) == 6400
