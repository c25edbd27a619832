"""Local audio transport against a fake sounddevice; clear errors when things are missing."""

from __future__ import annotations

import importlib
from typing import Any

import anyio
import numpy as np
import pytest

from beluga_voice.frames import Direction, Frame, InputAudioFrame, OutputAudioFrame, StartFrame
from beluga_voice.pipeline import FrameProcessor, PipelineTask
from beluga_voice.transports import LocalAudioTransport, LocalAudioUnavailable
from beluga_voice.transports.local_audio import load_sounddevice

pytestmark = pytest.mark.anyio


class FakeSoundDevice:
    """The slice of the sounddevice API the transport uses, with a scripted microphone."""

    def __init__(self, mic: list[bytes], *, inputs: int = 1, outputs: int = 2) -> None:
        self.mic = list(mic)
        self.played = bytearray()
        self.inputs = inputs
        self.outputs = outputs
        self.expected = sum(len(b) for b in mic)
        self.all_played = anyio.Event()
        self.opened: list[dict[str, Any]] = []
        self.closed = 0
        fake = self

        class Stream:
            def __init__(self, **kwargs: Any) -> None:
                fake.opened.append(kwargs)

            def start(self) -> None:
                pass

            def stop(self) -> None:
                pass

            def close(self) -> None:
                fake.closed += 1

        class RawInputStream(Stream):
            def read(self, frames: int) -> tuple[bytes, bool]:
                block = fake.mic.pop(0) if fake.mic else b""
                assert not block or len(block) == 2 * frames
                return block, False

        class RawOutputStream(Stream):
            def write(self, data: bytes) -> None:  # runs in an anyio worker thread
                fake.played.extend(data)
                if len(fake.played) >= fake.expected:
                    anyio.from_thread.run_sync(fake.all_played.set)

        self.RawInputStream = RawInputStream
        self.RawOutputStream = RawOutputStream

    def query_devices(self, device: Any = None, kind: str | None = None) -> dict[str, Any]:
        if device == "missing":
            raise ValueError("No input device matching 'missing'")
        return {
            "name": "fake card",
            "max_input_channels": self.inputs,
            "max_output_channels": self.outputs,
        }


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
