"""File transport: WAV in any format -> pipeline -> WAV out, pacing, conversation recording."""

from __future__ import annotations

import io
from pathlib import Path

import anyio
import numpy as np
import pytest

from beluga_voice.audio import read_wav_pcm16, write_wav, write_wav_pcm16
from beluga_voice.frames import (
    BotStoppedSpeakingFrame,
    Direction,
    EndFrame,
    Frame,
    InputAudioFrame,
    OutputAudioFrame,
    ResponseEndFrame,
    StartFrame,
)
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.transports import (
    ConversationRecorder,
    InputTransport,
    WavFileInput,
    WavFileOutput,
)
from beluga_voice.transports.testing import MemoryOutput, VirtualClock

pytestmark = pytest.mark.anyio


class Echo(FrameProcessor):
    """User audio comes straight back as bot audio."""

    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            frame = OutputAudioFrame(frame.audio, frame.sample_rate, frame.channels)
        await self.push_frame(frame, direction)


def sine(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)], axis=1)


def start(rate: int = 16000) -> StartFrame:
    return StartFrame(input_sample_rate=rate, output_sample_rate=rate)


async def run(nodes: list, start_frame: StartFrame, timeout: float = 10) -> PipelineTask:
    task = PipelineTask(nodes, start_frame=start_frame)
    with anyio.fail_after(timeout):
        await task.run()  # the file input ends the pipeline at end of file
    return task


@pytest.mark.parametrize(
    ("rate", "channels", "bits", "encoding"),
    [(16000, 1, 16, "int"), (44100, 2, 24, "int"), (8000, 1, 8, "int"), (48000, 2, 32, "float")],
)
async def test_wav_round_trip_any_format(
    tmp_path: Path, rate: int, channels: int, bits: int, encoding: str
) -> None:
    src = tmp_path / "in.wav"
    write_wav(src, sine(rate, 0.5, channels), rate, bits=bits, encoding=encoding)  # type: ignore[arg-type]
    source = WavFileInput(src, trailing_silence_ms=100)
    dest = tmp_path / "out.wav"
    out = WavFileOutput(dest)
    task = await run([source, Echo(), out], start())
    assert task.errors == []
    pcm, out_rate, out_channels = read_wav_pcm16(dest)
    assert (out_rate, out_channels) == (16000, 1)
    expected = source.converted(16000, 1)
    assert pcm == expected  # nothing lost, reordered or altered on the way
    assert len(pcm) == pytest.approx(2 * 16000 * 0.6, abs=2 * 32)  # 0.5 s + 100 ms silence
    level = np.abs(np.frombuffer(pcm[: 2 * 8000], dtype="<i2")).max()
    assert level > 8000  # the tone survived conversion (mixed down, resampled)


async def test_bad_wav_fails_at_construction_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="RIFF"):
        WavFileInput(b"not a wav file at all")


async def test_realtime_input_is_paced_on_absolute_deadlines() -> None:
    clock = VirtualClock(jitter=0.004, seed=1)
    pushed: list[float] = []

    class Stamped(WavFileInput):
        async def push_audio(self, audio: bytes, sample_rate: int, channels: int = 1) -> None:
            pushed.append(clock.now())  # when the frame left, not when it was handled
            await super().push_audio(audio, sample_rate, channels)

    wav = write_wav_pcm16(None, bytes(2 * 16000 * 10), 16000)  # 10 s of silence
    await run([Stamped(wav, realtime=True, clock=clock)], start())
    assert len(pushed) == 500
    errors = [t - n * 0.02 for n, t in enumerate(pushed)]
    assert min(errors) >= 0.0 and max(errors) <= 0.004 + 1e-9


async def test_file_output_to_a_file_object() -> None:
    buf = io.BytesIO()
    wav = write_wav_pcm16(None, np.arange(-800, 800, dtype="<i2").tobytes(), 16000)
    await run([WavFileInput(wav), Echo(), WavFileOutput(buf)], start())
    pcm, rate, channels = read_wav_pcm16(buf.getvalue())
    assert (rate, channels) == (16000, 1)
    assert pcm == np.arange(-800, 800, dtype="<i2").tobytes()


async def test_conversation_recording_puts_both_voices_on_one_timeline(tmp_path: Path) -> None:
    """User speaks 500 ms, the bot answers 200 ms, the user goes on 300 ms."""
    user = (np.arange(16000 * 8 // 10) % 200 + 1).astype("<i2").tobytes()  # 800 ms, never 0
    bot = np.full(16000 * 2 // 10, -7, dtype="<i2").tobytes()  # 200 ms
    answered = anyio.Event()

    class Speaker(InputTransport):
        async def read(self) -> None:
            half = 2 * 8000
            for i in range(0, half, 640):
                await self.push_audio(user[i : i + 640], 16000)
            await answered.wait()
            for i in range(half, len(user), 640):
                await self.push_audio(user[i : i + 640], 16000)
            await self.push_frame(EndFrame())

    class Bot(FrameProcessor):
        heard = 0

        async def process_frame(self, frame: Frame, direction: Direction) -> None:
            if isinstance(frame, InputAudioFrame):
                self.heard += len(frame.audio)
                if self.heard == 2 * 8000:
                    await self.push_frame(OutputAudioFrame(bot, 16000))
                    await self.push_frame(ResponseEndFrame())
                return
            if isinstance(frame, BotStoppedSpeakingFrame) and direction is Direction.UPSTREAM:
                answered.set()
            await self.push_frame(frame, direction)

    rec = ConversationRecorder(tmp_path / "talk.wav", sample_rate=16000)
    out = MemoryOutput(clock=VirtualClock(), forward_audio=True)
    await run([Speaker(), rec.user_tap(), Bot(), out, rec.bot_tap()], start())
    pcm, rate, channels = read_wav_pcm16(tmp_path / "talk.wav")
    assert (rate, channels) == (16000, 2)
    stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)
    assert stereo.shape[0] == 16000 * 8 // 10
    assert stereo[:, 0].tobytes() == user  # left: the whole user stream
    right = stereo[:, 1]
    assert not right[:8000].any()  # silence while the user spoke
    assert (right[8000:11200] == -7).all()  # the reply where the user's turn ended
    assert not right[11200:].any()  # silence after it
