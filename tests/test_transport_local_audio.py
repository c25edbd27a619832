"""Local audio transport against a fake sounddevice; clear errors when things are missing."""

from __future__ import annotations

import importlib

import anyio
import numpy as np
import pytest

from beluga_voice.frames import Direction, Frame, InputAudioFrame, OutputAudioFrame, StartFrame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.testing.fake_sounddevice import FakeSoundDevice
from beluga_voice.transports import LocalAudioTransport, LocalAudioUnavailable
from beluga_voice.transports.local_audio import load_sounddevice

pytestmark = pytest.mark.anyio


class Echo(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, InputAudioFrame):
            frame = OutputAudioFrame(frame.audio, frame.sample_rate)
        await self.push_frame(frame, direction)


async def test_microphone_to_speaker_round_trip() -> None:
    mic = [np.full(320, i, dtype="<i2").tobytes() for i in range(10)]  # 10 x 20 ms at 16 kHz
    fake = FakeSoundDevice(mic)
    transport = LocalAudioTransport(backend=fake)
    task = PipelineTask(
        [transport.input(), Echo(), transport.output()],
        start_frame=StartFrame(input_sample_rate=16000, output_sample_rate=16000),
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(task.run)
            await fake.all_played.wait()
            await task.stop_when_done()
    assert bytes(fake.played) == b"".join(mic)
    assert [o["samplerate"] for o in fake.opened] == [16000, 16000]
    assert all(o["dtype"] == "int16" for o in fake.opened)
    assert fake.closed == 2  # both streams closed on stop
    assert task.errors == []


def test_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(LocalAudioUnavailable, match=r"'sounddevice' package.*\[audio\]"):
        load_sounddevice()


def test_missing_portaudio_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library(name: str) -> None:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(importlib, "import_module", no_library)
    with pytest.raises(LocalAudioUnavailable, match="PortAudio library was not found"):
        LocalAudioTransport()


def test_missing_devices_are_named() -> None:
    with pytest.raises(LocalAudioUnavailable, match="no audio input available"):
        LocalAudioTransport(backend=FakeSoundDevice([]), input_device="missing")
    with pytest.raises(LocalAudioUnavailable, match="has no output"):
        LocalAudioTransport(backend=FakeSoundDevice([], outputs=0))
    # output only (a speaker for a file-driven bot) does not need a microphone
    LocalAudioTransport(backend=FakeSoundDevice([], inputs=0), use_input=False)
